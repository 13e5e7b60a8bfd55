package cli

// restore --from: restores the last of a chain of streams written by backup --stdout, read
// oldest first from files or stdin (restic dump … | host-example restore --from -). The
// streams go through shared/chain's Spool: each is checked by the stream kernel and as the
// next link of the chain while its payloads go to a scratch file, unlinked as soon as it is
// created (a killed restore leaves nothing to sweep); the merge of the chain is then fed to
// the plugin exactly as a restore from a repository is (intoTarget, feed). runRestore
// dispatches here.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/config"
	"github.com/pagetrack/pagetrack/cmd/host-example/internal/pgstream"
	"github.com/pagetrack/pagetrack/shared"
	"github.com/pagetrack/pagetrack/shared/chain"
)

// restoreFromHelp is the part of restore's help about --from.
const restoreFromHelp = `From streams (written by backup --stdout):
  host-example restore --from FILE|- [--from FILE…] --target DIR [--verify] [--json]
                       [--relocate OLD=NEW…] [--keyring FILE] [--tmp DIR] [--plugin PATH] [-c CONFIG]

Reads one or more streams, a file each or "-" for stdin (which may carry several streams one
after the other), checks every frame's CRC-32C, each stream's end frame, every rule of the
source's records and their digest, and checks that they form one chain: a full backup first,
then each incremental on the stream before it (its parent's id and SHA-256, checkpoint and
server). Their data is kept in a scratch file (in DIR's parent, or under --tmp; deleted from
the directory as soon as it is created, so nothing is left whatever happens), and the last
stream is restored from the merge of the chain, as restore -r REPO restores an incremental.

      --from FILE|-    a stream file, or - for stdin; repeat for a chain in several files
      --tmp DIR        where the scratch file goes (it holds the streams' data, as large
                       as the streams); default: DIR's parent directory
      --json           print what was restored (each stream's id, kind, LSNs, binlog
                       position and GTID set) as JSON instead of a summary

Example:
  { restic dump a1b2c3d4 mysql-full.pgt && restic dump latest mysql-inc.pgt; } |
      host-example restore --from - --target /var/lib/mysql-restored --verify
  host-example restore --from mysql-full.pgt --from mysql-inc.pgt --target /srv/restored

`

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

// fromArgs are restore --from's arguments.
type fromArgs struct {
	froms                                  []string
	cfgPath, target, pluginPath, tmpParent string
	keyringFile                            string
	verify, asJSON                         bool
	relocs                                 *[]shared.Relocation
}

func (e *env) parseRestoreFrom(args []string) (*fromArgs, error) {
	a := &fromArgs{}
	fs := e.flagSet("restore")
	fs.Func("from", "", func(v string) error {
		if v == "" {
			return errors.New("--from needs a file, or - for stdin")
		}
		a.froms = append(a.froms, v)
		return nil
	})
	var repoFlag string
	stringFlag(fs, &repoFlag, "r", "repo")
	stringFlag(fs, &a.cfgPath, "c", "config")
	stringFlag(fs, &a.target, "t", "target")
	stringFlag(fs, &a.pluginPath, "plugin")
	stringFlag(fs, &a.tmpParent, "tmp")
	stringFlag(fs, &a.keyringFile, "keyring")
	boolFlag(fs, &a.verify, "verify")
	boolFlag(fs, &a.asJSON, "json")
	a.relocs = relocateFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if a.keyringFile, err = absKeyring(a.keyringFile); err != nil {
		return nil, err
	}
	stdins := 0
	for _, f := range a.froms {
		if f == "-" {
			stdins++
		}
	}
	switch {
	case len(pos) > 0:
		return nil, usageErrorf("unexpected argument %q: restore --from restores the last of the streams given, not a snapshot of a repository", pos[0])
	case repoFlag != "":
		return nil, usageErrorf("restore --from reads streams, not a repository: drop -r")
	case a.target == "":
		return nil, usageErrorf("no target directory: pass --target DIR")
	case stdins > 1:
		return nil, usageErrorf("--from - can be given once; stdin may carry several streams one after the other")
	case stdins == 1 && isTerminalReader(stdin):
		return nil, usageErrorf("--from - reads the streams from stdin, which is a terminal: pipe them in (restic dump … | host-example restore --from - …)")
	}
	return a, nil
}

// readStream is one stream restore --from read.
type readStream struct {
	from string
	meta pgstream.Meta
	end  *pgstream.End
	sum  *shared.StreamSummary
}

func (s *readStream) label() string { return streamLabel(s.from, s.meta.ID) }

func streamLabel(from, id string) string {
	if from == "-" {
		from = "stdin"
	}
	return fmt.Sprintf("stream %s (%s)", id, from)
}

// restoreFrom is `restore --from`.
func (e *env) restoreFrom(ctx context.Context, args []string) (err error) {
	a, err := e.parseRestoreFrom(args)
	if err != nil {
		return err
	}
	target, err := filepath.Abs(a.target)
	if err != nil {
		return err
	}
	// The target is checked before any stream is read.
	tgt, err := checkRestoreTarget(target)
	if err != nil {
		return err
	}
	defer func() { // the directories made for the scratch file go too
		if err != nil {
			tgt.removeEmptyCreated()
		}
	}()
	var cf *config.File
	if a.cfgPath != "" {
		if cf, err = e.loadConfig(a.cfgPath); err != nil {
			return err
		}
	}
	tmpParent := a.tmpParent
	if tmpParent == "" {
		tmpParent = filepath.Dir(target)
		if err := os.MkdirAll(tmpParent, 0o700); err != nil {
			return err
		}
	}
	scratch, err := newScratch(tmpParent)
	if err != nil {
		return err
	}
	defer scratch.Close()

	spool := chain.NewSpool(scratch)
	streams, err := e.readChain(ctx, spool, a.froms)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted while reading the streams: nothing was written to %s", target)
		}
		return err
	}
	plan, err := spool.Plan()
	if err != nil {
		return err
	}
	last := streams[len(streams)-1]
	e.log().Info("streams checked; restoring", "streams", len(streams), "snapshot", last.meta.ID, "target", target,
		"pages", plan.PagesPlanned, "pages_left_zero", plan.PagesLeftZero)

	ref, err := e.pluginRef(last.meta.SourceType, a.pluginPath, cf)
	if err != nil {
		return err
	}
	var res *shared.RestoreResult
	var trailer *shared.Trailer
	err = e.intoTarget(ctx, tgt, ref, func(src shared.Source) error {
		stream := &spooledStream{m: spool.Merge(ctx, plan), plan: plan}
		defer stream.close()
		res, trailer, err = e.feed(ctx, ref, src, &shared.RestoreRequest{TargetDir: target, Verify: a.verify, Relocations: *a.relocs, KeyringFile: a.keyringFile}, stream)
		if err != nil {
			return restoreFailed(ctx, err, last.meta.ID, target)
		}
		if a.verify && !res.Verified {
			return notVerified(ref, target)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if a.asJSON {
		return e.printRestoreFromJSON(streams, trailer, target, a.verify)
	}
	e.printf("read %d stream(s), every frame, end frame and trailer intact:\n", len(streams))
	for _, s := range streams {
		kind := s.meta.Kind
		if s.meta.Parent != "" {
			kind += " on " + s.meta.Parent
		}
		e.printf("  %s  %-34s %s, %d records, sha256 %s\n", s.meta.ID, kind, formatBytes(uint64(s.end.Bytes)), s.end.Records, s.end.Hex()[:16])
	}
	who := restored{id: last.meta.ID, source: last.meta.Source, time: last.meta.Time, links: len(streams)}
	ids := make([]string, len(streams))
	for i, s := range streams {
		ids[len(streams)-1-i] = s.meta.ID
	}
	who.chain = strings.Join(ids, " ← ") + " (full)"
	printRestoreSummary(e, who, trailer, target, a.verify, res)
	return nil
}

// newScratch creates the scratch file in dir and removes its name at once: the open file
// is all there is of it, and the kernel frees it when the process ends, however it ends.
func newScratch(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, ".host-example-restore-*")
	if err != nil {
		return nil, fmt.Errorf("creating the scratch file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("unlinking the scratch file: %w", err)
	}
	return f, nil
}

// readChain reads the streams of every input in order into spool, checking that they form
// one chain.
func (e *env) readChain(ctx context.Context, spool *chain.Spool, froms []string) ([]*readStream, error) {
	var done []*readStream
	for _, from := range froms {
		var in io.Reader
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
		var err error
		if done, err = e.readInput(spool, from, in, done); err != nil {
			return nil, err
		}
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

// readInput reads the streams of one input into spool, appending them to done.
func (e *env) readInput(spool *chain.Spool, from string, in io.Reader, done []*readStream) ([]*readStream, error) {
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
		var prev *readStream
		if len(done) > 0 {
			prev = done[len(done)-1]
		}
		if err := checkLink(prev, from, &s.Meta); err != nil {
			return nil, err
		}
		label := streamLabel(from, s.Meta.ID)
		sum, err := spool.Add(label, &metaChecked{s: s, label: label})
		if err != nil {
			return nil, streamError(label, err)
		}
		rs := &readStream{from: from, meta: s.Meta, end: s.End(), sum: sum}
		e.log().Debug("stream read", "id", rs.meta.ID, "kind", rs.meta.Kind, "from", name, "records", rs.end.Records, "bytes", rs.end.Bytes)
		done = append(done, rs)
	}
}

// streamError words an error of reading the stream label.
func streamError(label string, err error) error {
	var le *chain.LinkError
	switch {
	case errors.Is(err, shared.ErrNoTrailer):
		return fmt.Errorf("%s is damaged: %w", label, err)
	case errors.Is(err, pgstream.ErrTruncated) || errors.Is(err, pgstream.ErrDamaged):
		return fmt.Errorf("%s is %w", label, err)
	case errors.As(err, &le):
		return err // it names the streams
	case errors.As(err, new(*metaKindError)):
		return err
	}
	return fmt.Errorf("%s: %w", label, err)
}

// checkLink checks that a stream with metadata m may follow prev in a chain: what the
// streams' metadata says (ids and SHA-256); chain.Spool checks what their records say.
func checkLink(prev *readStream, from string, m *pgstream.Meta) error {
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

// metaKindError: a stream's metadata and trailer disagree on its kind.
type metaKindError struct{ label, meta, trailer string }

func (e *metaKindError) Error() string {
	return fmt.Sprintf("%s is damaged: its metadata says %s, its trailer %s", e.label, e.meta, e.trailer)
}

// metaChecked is a stream whose trailer, once the kernel accepted it (the stream ended),
// must be of the kind the stream's metadata says.
type metaChecked struct {
	s       *pgstream.Stream
	label   string
	trailer *shared.Trailer
}

func (m *metaChecked) Recv() (*shared.Record, error) {
	r, err := m.s.Recv()
	if err == io.EOF && m.trailer != nil && m.trailer.Kind != m.s.Meta.Kind {
		return nil, &metaKindError{label: m.label, meta: m.s.Meta.Kind, trailer: m.trailer.Kind}
	}
	if err == nil && r.Trailer != nil {
		m.trailer = r.Trailer
	}
	return r, err
}

// spooledStream is the merge of the streams, as the plugin pulls it.
type spooledStream struct {
	m    *chain.Merged
	plan *chain.Plan
	n    int
	eof  bool
}

var _ checkedStream = (*spooledStream)(nil)

func (s *spooledStream) Recv() (*shared.Record, error) {
	r, err := s.m.Recv()
	switch {
	case err == io.EOF:
		s.eof = true
	case err == nil:
		s.n++
	}
	return r, err
}

func (s *spooledStream) failure() error { return s.m.Err() }
func (s *spooledStream) complete() bool { return s.m.Complete() && s.eof }
func (s *spooledStream) received() int  { return s.n }
func (s *spooledStream) close()         { s.m.Close() }

// verifiedTrailer is the last stream's trailer, verified when the stream was read.
func (s *spooledStream) verifiedTrailer() *shared.Trailer {
	if !s.complete() {
		return nil
	}
	return s.plan.Trailer
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

// printRestoreFromJSON prints what was restored; the coordinates come from t, the last
// stream's verified trailer.
func (e *env) printRestoreFromJSON(streams []*readStream, t *shared.Trailer, target string, verified bool) error {
	out := restoreFromJSON{
		Target: target, Snapshot: streams[len(streams)-1].meta.ID,
		EndLSN: t.EndLSN, BinlogFile: t.BinlogFile, BinlogPos: t.BinlogPos,
		GTIDExecuted: t.GTIDExecuted, Verified: verified,
	}
	for _, s := range streams {
		sum := s.sum
		method := sum.Method
		if method == "" && !s.meta.Incremental() {
			method = shared.MethodFull
		}
		out.Streams = append(out.Streams, restoredStreamJSON{
			ID: s.meta.ID, From: s.from, Time: s.meta.Time, Source: s.meta.Source, SourceType: s.meta.SourceType,
			Kind: s.meta.Kind, Parent: s.meta.Parent, Method: method, FallbackReason: sum.FallbackReason,
			ServerVersion: sum.ServerVersion, ServerUUID: sum.ServerUUID,
			CheckpointLSN: sum.CheckpointLSN, EndLSN: sum.EndLSN,
			BinlogFile: sum.BinlogFile, BinlogPos: sum.BinlogPos, GTIDExecuted: sum.GTIDExecuted,
			Pages: sum.Counts.Pages, PageBytes: sum.Counts.PageBytes, RedoBytes: sum.Counts.RedoBytes, BinlogBytes: sum.Counts.BinlogBytes,
			Records: s.end.Records, StreamBytes: s.end.Bytes,
			StreamSHA256: s.end.Hex(), StreamDigest: hex.EncodeToString(sum.Digest),
		})
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	e.printf("%s\n", data)
	return nil
}
