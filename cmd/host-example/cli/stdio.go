package cli

// This file is host-example's side of the self-describing stream (package pgstream) that
// carries one snapshot through a pipe, a file or another backup tool such as restic:
// `backup --stdout`, which writes one, the state file its incrementals build on, and
// `restore --from`, which reads a chain of them back. runBackup and runRestore dispatch here.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/config"
	"github.com/pagetrack/pagetrack/cmd/host-example/internal/pgstream"
	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/shared"
)

// backupStdoutHelp is the part of backup's help about --stdout.
const backupStdoutHelp = `With --stdout:
  host-example backup --stdout -c CONFIG [--full] [--source NAME] [--plugin PATH] [--progress]

Writes the backup to stdout as one self-describing stream instead of storing it in a
repository (docs/stream-format.md): the snapshot's metadata, every record with a CRC-32C, and
an end frame with a SHA-256 of the whole stream. Nothing else goes to stdout; logs go to
stderr. The exit status is 0 only when the whole stream was written and checked, so a tool
that runs host-example and keeps its output (restic backup --stdin-from-command) records
nothing otherwise. Stdout must not be a terminal.

Without --full the stream is an incremental on the last stream of the same source that
backup --stdout wrote, which the state file remembers (state_file = "…" in CONFIG, required
for incrementals; it is updated only once a stream was written completely). Restore with
restore --from, giving the full stream and then each incremental, in order.

      --stdout         write the stream to stdout
      --progress       show the progress bar on a terminal even with --stdout (off by
                       default there: restic draws its own)

Example (restic 0.17 or newer; state_file = "/var/lib/pagetrack/state.json" in backup.hcl):
  restic backup --stdin-filename mysql-full.pgt --stdin-from-command -- \
      host-example backup --stdout -c /etc/pagetrack/backup.hcl --full
  restic backup --stdin-filename mysql-inc.pgt --stdin-from-command -- \
      host-example backup --stdout -c /etc/pagetrack/backup.hcl
  host-example backup --stdout -c /etc/pagetrack/backup.hcl --full > mysql-full.pgt

`

// restoreFromHelp is the part of restore's help about --from.
const restoreFromHelp = `From streams (written by backup --stdout):
  host-example restore --from FILE|- [--from FILE…] --target DIR [--verify] [--json]
                       [--relocate OLD=NEW…] [--tmp DIR] [--plugin PATH] [-c CONFIG]

Reads one or more streams, a file each or "-" for stdin (which may carry several streams one
after the other), checks every frame's CRC-32C, each stream's end frame and the source's
trailer, and checks that they form one chain: a full backup first, then each incremental on
the stream before it (its parent's id and SHA-256). The streams are imported into a
temporary repository (in a new directory .host-example-restore-* under DIR's parent, or
under --tmp; removed afterwards, and by the next restore --from there if this one is
killed) and the last one is restored from it exactly as restore -r REPO would.

      --from FILE|-    a stream file, or - for stdin; repeat for a chain in several files
      --tmp DIR        where the temporary repository goes (it holds a compressed copy of
                       the streams); default: DIR's parent directory
      --json           print what was restored (each stream's id, kind, LSNs, binlog
                       position and GTID set) as JSON instead of a summary

Example:
  { restic dump a1b2c3d4 mysql-full.pgt && restic dump latest mysql-inc.pgt; } |
      host-example restore --from - --target /var/lib/mysql-restored --verify
  host-example restore --from mysql-full.pgt --from mysql-inc.pgt --target /srv/restored

`

// stdoutFlags are the flags backup --stdout adds to backup.
type stdoutFlags struct {
	stdout   bool
	progress bool
}

// addStdoutFlags registers --stdout and --progress on backup's flag set.
func addStdoutFlags(fs *flag.FlagSet) *stdoutFlags {
	f := &stdoutFlags{}
	boolFlag(fs, &f.stdout, "stdout")
	boolFlag(fs, &f.progress, "progress")
	return f
}

// requested reports whether backup must go to backupToStdout.
func (f *stdoutFlags) requested() bool { return f.stdout || f.progress }

// backupToStdout is `backup --stdout`: one backup of a source, written to stdout as a
// pgstream stream, then recorded in the state file.
func (e *env) backupToStdout(ctx context.Context, so *stdoutFlags, cfgPath, sourceName, pluginPath, repoFlag string, full, asJSON bool) error {
	switch {
	case !so.stdout:
		return usageErrorf("--progress goes with --stdout (a backup into a repository shows its progress on a terminal anyway)")
	case repoFlag != "":
		return usageErrorf("--stdout writes the backup to stdout, not into a repository: drop -r")
	case asJSON:
		return usageErrorf("--stdout and --json exclude each other: stdout carries the stream (its summary is logged on stderr)")
	case isTerminal(e.stdout):
		return usageErrorf("refusing to write a binary backup stream to a terminal: redirect stdout to a file, or let restic run the command")
	}
	cf, err := e.loadConfig(cfgPath)
	if err != nil {
		return err
	}
	block, err := cf.Source(sourceName)
	if err != nil {
		return err
	}
	var state *streamState
	switch {
	case cf.StateFile != "":
		unlock, err := lockStateFile(cf.StateFile)
		if err != nil {
			return err
		}
		defer unlock()
		if state, err = readStateFile(cf.StateFile); err != nil {
			return err
		}
	case !full:
		return fmt.Errorf("an incremental backup --stdout builds on the last stream the state file remembers, and %s names none: add state_file = \"/var/lib/pagetrack/state.json\" (any path) to it, or pass --full", cf.Path)
	default:
		e.log().Info(fmt.Sprintf("%s names no state_file: no later backup --stdout can be an incremental on this one", cf.Path))
	}
	var base *stateEntry
	if !full {
		base = e.pickStreamBase(state, cf.StateFile, block)
	}
	ref, src, schema, cfg, stop, err := e.sourceFor(ctx, block, pluginPath, cf)
	defer stop()
	if err != nil {
		return err
	}

	started := time.Now()
	meta := &pgstream.Meta{
		ID: repo.NewID(), Time: started.UTC(), Host: "host-example",
		Source: block.Name, SourceType: block.Type, Kind: repo.KindFull,
		Config: publicConfig(schema, cfg),
	}
	if base != nil {
		meta.Kind, meta.Parent, meta.ParentSHA256 = repo.KindIncremental, base.ID, base.StreamSHA256
		e.log().Info("incremental backup to stdout starting", "source", block.Name, "type", block.Type, "id", meta.ID, "base", base.ID)
	} else {
		e.log().Info("full backup to stdout starting", "source", block.Name, "type", block.Type, "id", meta.ID)
	}
	end, header, trailer, err := e.writeStream(ctx, ref, src, cfg, base, meta, so.progress)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: the stream of %q on stdout is incomplete; nothing was recorded", block.Name)
		}
		return fmt.Errorf("backup of %q to stdout failed; the stream on stdout is incomplete and nothing was recorded: %w", block.Name, err)
	}
	if state != nil {
		checkpoint := trailer.CheckpointLSN
		if checkpoint == 0 {
			checkpoint = header.CheckpointLSN
		}
		state.Sources[block.Name] = &stateEntry{
			SourceType: block.Type, ID: meta.ID, Kind: meta.Kind, Parent: meta.Parent, Time: meta.Time,
			StreamSHA256: end.Hex(), StreamDigest: hex.EncodeToString(trailer.Digest),
			CheckpointLSN: checkpoint, EndLSN: trailer.EndLSN, GTIDExecuted: trailer.GTIDExecuted,
			SourceState: trailer.SourceState,
		}
		if err := writeStateFile(cf.StateFile, state); err != nil {
			return fmt.Errorf("stream %s was written, but the state file could not be updated, so it must not be kept (the next incremental would not build on it): %w", meta.ID, err)
		}
	}
	e.log().Info("stream written", "id", meta.ID, "kind", meta.Kind, "records", end.Records, "bytes", end.Bytes,
		"sha256", end.Hex(), "end_lsn", trailer.EndLSN, "gtid_executed", oneLine(trailer.GTIDExecuted),
		"duration", time.Since(started).Round(time.Millisecond))
	return nil
}

// writeStream runs the backup and writes its stream to stdout, checking it exactly as a
// backup into a repository is checked (storeStream, checkKind). Stdout is closed at the end.
func (e *env) writeStream(ctx context.Context, ref PluginRef, src shared.Source, cfg shared.Config, base *stateEntry, meta *pgstream.Meta, progress bool) (*pgstream.End, *shared.Header, *shared.Trailer, error) {
	// Cancelling bctx ends the plugin's call when we stop reading early.
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if e.stdout == io.Writer(os.Stdout) {
		// A reader that goes away (restic failed) must fail the write with EPIPE, so that the
		// plugin is stopped and the error reported, not end the process with SIGPIPE.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGPIPE)
		defer signal.Stop(sig)
	}
	pw, err := pgstream.NewWriter(e.stdout, meta)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("writing the stream to stdout: %w", err)
	}
	req := &shared.BackupRequest{Config: cfg}
	var baseSnap *repo.Snapshot
	if base != nil {
		req.Base = &shared.BaseSnapshot{State: base.SourceState}
		baseSnap = &repo.Snapshot{ID: base.ID, CheckpointLSN: base.CheckpointLSN}
	}
	stream, err := src.Backup(bctx, req)
	if err != nil {
		return nil, nil, nil, pluginError(ref, err)
	}
	sink := &streamSink{w: pw, id: meta.ID, pm: repo.NewPageMap()}
	prog := newProgressLine(e.stderr, progress && e.terminal())
	header, trailer, err := storeStream(bctx, stream, sink, prog.update)
	prog.done()
	if err != nil {
		if errors.Is(err, shared.ErrNoTrailer) {
			return nil, nil, nil, fmt.Errorf("the plugin's stream ended before its trailer: the backup did not complete (see the plugin's log lines above)")
		}
		return nil, nil, nil, pluginError(ref, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	if err := checkKind(trailer, baseSnap, sink.pm); err != nil {
		return nil, nil, nil, err
	}
	end, err := pw.Close()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("writing the stream to stdout: %w", err)
	}
	if err := closeOutput(e.stdout); err != nil {
		return nil, nil, nil, err
	}
	return end, header, trailer, nil
}

// streamSink is the repo.StreamWriter storeStream writes into for backup --stdout: each
// record goes to the pgstream writer, after the same page-map checks a repository makes.
type streamSink struct {
	w  *pgstream.Writer
	id string
	pm *repo.PageMap
}

var _ repo.StreamWriter = (*streamSink)(nil)

func (s *streamSink) ID() string { return s.id }

func (s *streamSink) Append(rec *shared.Record) error {
	if rec.Progress != nil {
		return nil
	}
	if err := s.pm.Add(rec); err != nil {
		return fmt.Errorf("the stream cannot be mapped: %w", err)
	}
	if err := s.w.WriteRecord(rec); err != nil {
		return fmt.Errorf("writing the stream to stdout: %w", err)
	}
	return nil
}

func (s *streamSink) PageMap() *repo.PageMap { return s.pm }

func (s *streamSink) Commit(*repo.Snapshot) error {
	return errors.New("a stream written to stdout is not committed to a repository")
}

func (s *streamSink) Abort() error { return nil }

// closeOutput syncs w when it is a file (stdout redirected to one) and closes it, so that its
// reader sees the end of the stream before the state file moves on.
func closeOutput(w io.Writer) error {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	// Pipes, terminals and /dev/null cannot be synced; that is no error.
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("syncing stdout: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing stdout: %w", err)
	}
	return nil
}

// pickStreamBase chooses what backup --stdout without --full builds on: the state file's
// last stream of the source. It returns nil, saying so, when there is none to build on.
func (e *env) pickStreamBase(st *streamState, path string, block *config.Source) *stateEntry {
	b := st.Sources[block.Name]
	switch {
	case b == nil:
		e.log().Info(fmt.Sprintf("taking a full backup: state file %s holds no stream of source %q to build an incremental on", path, block.Name))
		return nil
	case b.SourceType != block.Type:
		e.log().Info(fmt.Sprintf("taking a full backup: the last stream of source %q in %s, %s, is of type %q, not %q", block.Name, path, b.ID, b.SourceType, block.Type))
		return nil
	case len(b.SourceState) == 0:
		e.log().Info(fmt.Sprintf("taking a full backup: the last stream of source %q in %s, %s, holds no source state to build an incremental on", block.Name, path, b.ID))
		return nil
	}
	return b
}

// The state file remembers, per source, the last stream backup --stdout wrote completely:
//
//	{"version": 1, "sources": {"primary": {"source_type": "mysql", "id": "…", "kind": "full",
//	  "parent": "", "time": "…", "stream_sha256": "…", "stream_digest": "…",
//	  "checkpoint_lsn": N, "end_lsn": N, "gtid_executed": "…", "source_state": "base64"}}}
//
// It is replaced atomically (a temporary file, fsync, rename, fsync of the directory) and
// locked (flock on FILE.lock) while a backup --stdout runs.
const stateVersion = 1

type streamState struct {
	Version int                    `json:"version"`
	Sources map[string]*stateEntry `json:"sources"`
}

type stateEntry struct {
	SourceType string    `json:"source_type"`
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Parent     string    `json:"parent"`
	Time       time.Time `json:"time"`
	// StreamSHA256 is the SHA-256 of the stream (its end frame's), StreamDigest the
	// source's record digest (its trailer's).
	StreamSHA256  string `json:"stream_sha256"`
	StreamDigest  string `json:"stream_digest"`
	CheckpointLSN uint64 `json:"checkpoint_lsn"`
	EndLSN        uint64 `json:"end_lsn"`
	GTIDExecuted  string `json:"gtid_executed"`
	// SourceState is the source's record of the backup (the trailer's SourceState), handed
	// back to it when an incremental builds on this stream.
	SourceState []byte `json:"source_state"`
}

func readStateFile(path string) (*streamState, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &streamState{Version: stateVersion, Sources: map[string]*stateEntry{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the state file: %w", err)
	}
	var st streamState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("state file %s is damaged (%v): move it away and take a backup --stdout --full", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("state file %s is of version %d; this host-example reads version %d", path, st.Version, stateVersion)
	}
	if st.Sources == nil {
		st.Sources = map[string]*stateEntry{}
	}
	return &st, nil
}

// writeStateFile replaces the state file atomically and durably.
func writeStateFile(path string, st *streamState) (err error) {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(append(data, '\n')); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// lockStateFile takes an exclusive lock on path's lock file (creating path's directory if
// need be) and returns the function that releases it.
func lockStateFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the state file's directory: %w", err)
	}
	lock := path + ".lock"
	f, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the state file's lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another backup --stdout is using the state file %s (it holds %s); wait for it to finish", path, lock)
		}
		return nil, fmt.Errorf("locking %s: %w", lock, err)
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}

// stdin is what --from - reads; tests replace it.
var stdin io.Reader = os.Stdin

func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isTerminal(f)
}

// restoreFromRequested reports whether restore's arguments ask for --from, which
// restoreFrom handles.
func restoreFromRequested(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if name != a && (name == "from" || strings.HasPrefix(name, "from=")) {
			return true
		}
	}
	return false
}

// importedStream is one stream restore --from read, and the snapshot it became in the
// temporary repository.
type importedStream struct {
	from string
	meta pgstream.Meta
	end  *pgstream.End
	snap *repo.Snapshot
}

func (s *importedStream) label() string { return streamLabel(s.from, s.meta.ID) }

func streamLabel(from, id string) string {
	if from == "-" {
		from = "stdin"
	}
	return fmt.Sprintf("stream %s (%s)", id, from)
}

// restoreFrom is `restore --from`.
func (e *env) restoreFrom(ctx context.Context, args []string) (err error) {
	fs := e.flagSet("restore")
	var froms []string
	fs.Func("from", "", func(v string) error {
		if v == "" {
			return errors.New("--from needs a file, or - for stdin")
		}
		froms = append(froms, v)
		return nil
	})
	var repoFlag, cfgPath, target, pluginPath, tmpParent string
	var verify, asJSON bool
	stringFlag(fs, &repoFlag, "r", "repo")
	stringFlag(fs, &cfgPath, "c", "config")
	stringFlag(fs, &target, "t", "target")
	stringFlag(fs, &pluginPath, "plugin")
	stringFlag(fs, &tmpParent, "tmp")
	boolFlag(fs, &verify, "verify")
	boolFlag(fs, &asJSON, "json")
	relocs := relocateFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	stdins := 0
	for _, f := range froms {
		if f == "-" {
			stdins++
		}
	}
	switch {
	case len(pos) > 0:
		return usageErrorf("unexpected argument %q: restore --from restores the last of the streams given, not a snapshot of a repository", pos[0])
	case repoFlag != "":
		return usageErrorf("restore --from reads streams, not a repository: drop -r")
	case target == "":
		return usageErrorf("no target directory: pass --target DIR")
	case stdins > 1:
		return usageErrorf("--from - can be given once; stdin may carry several streams one after the other")
	case stdins == 1 && isTerminalReader(stdin):
		return usageErrorf("--from - reads the streams from stdin, which is a terminal: pipe them in (restic dump … | host-example restore --from - …)")
	}
	if target, err = filepath.Abs(target); err != nil {
		return err
	}
	// The target is checked before anything is imported; runRestore checks it again.
	tgt, err := checkRestoreTarget(target)
	if err != nil {
		return err
	}
	defer func() { // after release: the directories made for the temporary repository go too
		if err != nil {
			tgt.removeEmptyCreated()
		}
	}()
	if tmpParent == "" {
		tmpParent = filepath.Dir(target)
		if err := os.MkdirAll(tmpParent, 0o700); err != nil {
			return err
		}
	}
	tmp, release, err := newSpool(tmpParent, e.log())
	if err != nil {
		return err
	}
	defer release()
	r, err := repo.Init(filepath.Join(tmp, "repo"))
	if err != nil {
		return fmt.Errorf("creating the temporary repository: %w", err)
	}
	streams, err := e.importStreams(ctx, r, froms)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted while reading the streams: nothing was written to %s, and the temporary repository was removed", target)
		}
		return err
	}
	last := streams[len(streams)-1]
	e.log().Info("streams checked and imported; restoring", "streams", len(streams), "snapshot", last.meta.ID, "target", target)

	// The last stream is restored by the normal restore path, from the temporary repository.
	// Its output and errors name the streams' ids, not the temporary ones.
	rargs := []string{"-r", r.Location(), last.snap.ID, "--target", target}
	if verify {
		rargs = append(rargs, "--verify")
	}
	if pluginPath != "" {
		rargs = append(rargs, "--plugin", pluginPath)
	}
	if cfgPath != "" {
		rargs = append(rargs, "-c", cfgPath)
	}
	for _, r := range *relocs {
		rargs = append(rargs, "--relocate", r.From+"="+r.To)
	}
	ids := make([]string, 0, 2*len(streams))
	for _, s := range streams {
		ids = append(ids, s.snap.ID, s.meta.ID)
	}
	names := strings.NewReplacer(ids...)
	var out bytes.Buffer
	sub := *e
	sub.stdout = &out
	if err := runRestore(ctx, &sub, rargs); err != nil {
		return &renamedError{msg: names.Replace(err.Error()), err: err}
	}
	if asJSON {
		return e.printRestoreFromJSON(streams, target, verify)
	}
	e.printf("read %d stream(s), every frame, end frame and trailer intact:\n", len(streams))
	for _, s := range streams {
		kind := s.meta.Kind
		if s.meta.Parent != "" {
			kind += " on " + s.meta.Parent
		}
		e.printf("  %s  %-34s %s, %d records, sha256 %s\n", s.meta.ID, kind, formatBytes(uint64(s.end.Bytes)), s.end.Records, s.end.Hex()[:16])
	}
	e.printf("%s", names.Replace(out.String()))
	return nil
}

// renamedError is an error of the restore from the temporary repository, its message naming
// the streams' ids; it unwraps to the original (a usage error stays one).
type renamedError struct {
	msg string
	err error
}

func (e *renamedError) Error() string { return e.msg }
func (e *renamedError) Unwrap() error { return e.err }

// importStreams reads the streams of every input in order, checks that they form one
// chain, and imports each into r.
func (e *env) importStreams(ctx context.Context, r repo.Repository, froms []string) ([]*importedStream, error) {
	var done []*importedStream
	for _, from := range froms {
		var in io.Reader = stdin
		if from == "-" {
			cin, stop := cancelableReader(ctx, stdin)
			defer stop()
			in = cin
		} else {
			f, err := os.Open(from)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			in = f
		}
		imported, err := e.importInput(ctx, r, from, in, done)
		if err != nil {
			return nil, err
		}
		done = imported
	}
	if len(done) == 0 {
		return nil, errors.New("no stream given: pass --from FILE, or --from - to read stdin")
	}
	return done, nil
}

// cancelableReader reads r in a goroutine, so that a signal (ctx) ends a read that waits on a
// pipe (stdin) at once. stop ends the copy; a goroutine blocked in r.Read stays so until r
// delivers, which for a process about to exit does not matter.
func cancelableReader(ctx context.Context, r io.Reader) (io.Reader, func()) {
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, r)
		pw.CloseWithError(err)
	}()
	unregister := context.AfterFunc(ctx, func() { pr.CloseWithError(ctx.Err()) })
	return pr, func() {
		unregister()
		pr.Close()
	}
}

// importInput imports the streams of one input, appending them to done.
func (e *env) importInput(ctx context.Context, r repo.Repository, from string, in io.Reader, done []*importedStream) ([]*importedStream, error) {
	rd := pgstream.NewReader(in)
	name := from
	if from == "-" {
		name = "stdin"
	}
	for n := 1; ; n++ {
		s, err := rd.Next()
		if err == io.EOF {
			return done, nil
		}
		if err != nil {
			if errors.Is(err, pgstream.ErrTruncated) || errors.Is(err, pgstream.ErrDamaged) {
				return nil, fmt.Errorf("%s, stream %d is %w", name, n, err)
			}
			return nil, fmt.Errorf("%s, stream %d: %w", name, n, err)
		}
		var prev *importedStream
		if len(done) > 0 {
			prev = done[len(done)-1]
		}
		if err := checkLink(prev, from, &s.Meta); err != nil {
			return nil, err
		}
		imp, err := e.importStream(ctx, r, s, from, prev)
		if err != nil {
			return nil, err
		}
		e.log().Debug("stream imported", "id", imp.meta.ID, "kind", imp.meta.Kind, "from", name, "records", imp.end.Records, "bytes", imp.end.Bytes)
		done = append(done, imp)
	}
}

// checkLink checks that a stream with metadata m may follow prev in a chain.
func checkLink(prev *importedStream, from string, m *pgstream.Meta) error {
	label := streamLabel(from, m.ID)
	switch {
	case prev == nil && m.Incremental():
		return fmt.Errorf("the chain is broken: %s is an incremental on stream %s, which was not given; give the streams from the full backup on, in order", label, m.Parent)
	case prev == nil:
		return nil
	case !m.Incremental():
		return fmt.Errorf("%s is a full backup, but %s came before it: give one full backup and then its incrementals, in order", label, prev.label())
	case m.Parent != prev.meta.ID:
		return fmt.Errorf("the chain is broken: %s is an incremental on stream %s, but the stream before it is %s: stream %s is missing, or the streams are out of order", label, m.Parent, prev.meta.ID, m.Parent)
	case m.ParentSHA256 != prev.end.Hex():
		return fmt.Errorf("the chain is broken: %s builds on stream %s with SHA-256 %s, but the stream %s given has SHA-256 %s: it is not the same stream", label, m.Parent, m.ParentSHA256, prev.meta.ID, prev.end.Hex())
	case m.Source != prev.meta.Source || m.SourceType != prev.meta.SourceType:
		return fmt.Errorf("%s is of source %q (%s), the stream it builds on of source %q (%s)", label, m.Source, m.SourceType, prev.meta.Source, prev.meta.SourceType)
	}
	return nil
}

// importStream stores one stream in r, checked as a backup is (storeStream) and against its
// end frame, and records it as a snapshot whose parent is prev's.
func (e *env) importStream(ctx context.Context, r repo.Repository, s *pgstream.Stream, from string, prev *importedStream) (*importedStream, error) {
	label := streamLabel(from, s.Meta.ID)
	w, err := r.NewStream(ctx)
	if err != nil {
		return nil, err
	}
	defer w.Abort() // a no-op once committed
	header, trailer, err := storeStream(ctx, s, w, func(*shared.Progress) {})
	if err != nil {
		if errors.Is(err, shared.ErrNoTrailer) {
			return nil, fmt.Errorf("%s is damaged: its records end without the source's trailer", label)
		}
		if errors.Is(err, pgstream.ErrTruncated) || errors.Is(err, pgstream.ErrDamaged) {
			return nil, fmt.Errorf("%s is %w", label, err)
		}
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	if trailer.Kind != "" && trailer.Kind != s.Meta.Kind {
		return nil, fmt.Errorf("%s is damaged: its metadata says %s, its trailer %s", label, s.Meta.Kind, trailer.Kind)
	}
	parent := ""
	if prev != nil {
		parent = prev.snap.ID
	}
	snap := snapshotOfStream(w.ID(), parent, &s.Meta, header, trailer)
	if prev != nil {
		if trailer.BaseCheckpointLSN != prev.snap.CheckpointLSN {
			return nil, fmt.Errorf("the chain is broken: %s was taken on base checkpoint LSN %d, but the stream it builds on, %s, has checkpoint LSN %d", label, trailer.BaseCheckpointLSN, prev.meta.ID, prev.snap.CheckpointLSN)
		}
	} else if w.PageMap().HasIncremental() {
		return nil, fmt.Errorf("%s is damaged: it says it is a full backup, but holds only the changed pages of some files", label)
	}
	if err := w.Commit(snap); err != nil {
		return nil, fmt.Errorf("importing %s into the temporary repository: %w", label, err)
	}
	return &importedStream{from: from, meta: s.Meta, end: s.End(), snap: snap}, nil
}

// snapshotOfStream is the snapshot metadata of a stream read back: what backup records for
// the same stream, from the stream's metadata, header and trailer.
func snapshotOfStream(id, parent string, m *pgstream.Meta, h *shared.Header, t *shared.Trailer) *repo.Snapshot {
	s := &repo.Snapshot{
		ID: id, Time: m.Time, Finished: t.FinishedAt,
		Source: m.Source, SourceType: m.SourceType, Kind: repo.KindFull, Config: m.Config,
	}
	if parent != "" {
		s.Kind, s.Parent = repo.KindIncremental, parent
	}
	s.SetStreamFields(h, t)
	if s.Finished.IsZero() {
		s.Finished = time.Now().UTC()
	}
	return s
}

// restoredStreamJSON is one stream in restore --from --json's output.
type restoredStreamJSON struct {
	ID             string    `json:"id"`
	From           string    `json:"from"`
	Time           time.Time `json:"time"`
	Source         string    `json:"source"`
	SourceType     string    `json:"source_type"`
	Kind           string    `json:"kind"`
	Parent         string    `json:"parent"`
	Method         string    `json:"method"`
	FallbackReason string    `json:"fallback_reason"`
	ServerVersion  string    `json:"server_version"`
	ServerUUID     string    `json:"server_uuid"`
	CheckpointLSN  uint64    `json:"checkpoint_lsn"`
	EndLSN         uint64    `json:"end_lsn"`
	BinlogFile     string    `json:"binlog_file"`
	BinlogPos      uint64    `json:"binlog_pos"`
	GTIDExecuted   string    `json:"gtid_executed"`
	Pages          uint64    `json:"pages"`
	PageBytes      uint64    `json:"page_bytes"`
	RedoBytes      uint64    `json:"redo_bytes"`
	BinlogBytes    uint64    `json:"binlog_bytes"`
	Records        uint64    `json:"records"`
	StreamBytes    int64     `json:"stream_bytes"`
	StreamSHA256   string    `json:"stream_sha256"`
	StreamDigest   string    `json:"stream_digest"`
}

// restoreFromJSON is restore --from --json's output: the restored snapshot (the last
// stream) and every stream read.
type restoreFromJSON struct {
	Target       string               `json:"target"`
	Snapshot     string               `json:"snapshot"`
	EndLSN       uint64               `json:"end_lsn"`
	BinlogFile   string               `json:"binlog_file"`
	BinlogPos    uint64               `json:"binlog_pos"`
	GTIDExecuted string               `json:"gtid_executed"`
	Verified     bool                 `json:"verified"`
	Streams      []restoredStreamJSON `json:"streams"`
}

func (e *env) printRestoreFromJSON(streams []*importedStream, target string, verified bool) error {
	last := streams[len(streams)-1].snap
	out := restoreFromJSON{
		Target: target, Snapshot: streams[len(streams)-1].meta.ID,
		EndLSN: last.EndLSN, BinlogFile: last.BinlogFile, BinlogPos: last.BinlogPos,
		GTIDExecuted: last.GTIDExecuted, Verified: verified,
	}
	for _, s := range streams {
		out.Streams = append(out.Streams, restoredStreamJSON{
			ID: s.meta.ID, From: s.from, Time: s.meta.Time, Source: s.meta.Source, SourceType: s.meta.SourceType,
			Kind: s.meta.Kind, Parent: s.meta.Parent, Method: s.snap.Method, FallbackReason: s.snap.FallbackReason,
			ServerVersion: s.snap.ServerVersion, ServerUUID: s.snap.ServerUUID,
			CheckpointLSN: s.snap.CheckpointLSN, EndLSN: s.snap.EndLSN,
			BinlogFile: s.snap.BinlogFile, BinlogPos: s.snap.BinlogPos, GTIDExecuted: s.snap.GTIDExecuted,
			Pages: s.snap.Pages, PageBytes: s.snap.PageBytes, RedoBytes: s.snap.RedoBytes, BinlogBytes: s.snap.BinlogBytes,
			Records: s.end.Records, StreamBytes: s.end.Bytes,
			StreamSHA256: s.end.Hex(), StreamDigest: s.snap.StreamDigest,
		})
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	e.printf("%s\n", data)
	return nil
}
