package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// FormatVersion is the version of the local repository layout this package reads and writes.
const FormatVersion = 1

const (
	configFile   = "config.json"
	streamsDir   = "streams"
	snapshotsDir = "snapshots"
	tmpDir       = "tmp"
	streamExt    = ".pgs"
	mapExt       = ".map"
	partialExt   = ".partial"
)

// ErrExists is returned by Init when the directory already holds a repository.
var ErrExists = errors.New("already a pagetrack repository")

// Config is REPO/config.json.
type Config struct {
	Format  int       `json:"format"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
}

// Local is a repository in a local directory.
type Local struct {
	dir string
	cfg Config
}

var _ Repository = (*Local)(nil)

// Init creates a repository in dir, which must be absent or empty.
func Init(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("no repository path given")
	}
	if existing, err := readConfig(dir); err == nil {
		return nil, fmt.Errorf("%s is %w (created %s); use it as it is, or choose another directory", dir, ErrExists, existing.Created.Local().Format(time.RFC3339))
	}
	entries, err := os.ReadDir(dir)
	switch {
	case err == nil && len(entries) > 0:
		return nil, fmt.Errorf("%s exists and is not empty, so it is not made a repository; choose a new or empty directory", dir)
	case err != nil && !os.IsNotExist(err):
		return nil, fmt.Errorf("cannot use %s as a repository: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating repository directory: %w", err)
	}
	for _, sub := range []string{streamsDir, snapshotsDir, tmpDir} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("creating repository directory: %w", err)
		}
	}
	cfg := Config{Format: FormatVersion, ID: randomHex(16), Created: time.Now().UTC()}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	// config.json is written last: a directory without it is not a repository.
	if err := writeFileAtomic(filepath.Join(dir, tmpDir, configFile+partialExt), filepath.Join(dir, configFile), append(data, '\n')); err != nil {
		return nil, fmt.Errorf("writing repository config: %w", err)
	}
	return &Local{dir: dir, cfg: cfg}, nil
}

// Open opens the repository in dir.
func Open(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("no repository given; pass -r REPO (or set repository in the config file)")
	}
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	if cfg.Format != FormatVersion {
		return nil, fmt.Errorf("repository %s has format %d; this host-example reads format %d: use a matching release", dir, cfg.Format, FormatVersion)
	}
	for _, sub := range []string{streamsDir, snapshotsDir, tmpDir} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("repository %s is damaged: its %s/ directory is missing", dir, sub)
		}
	}
	return &Local{dir: dir, cfg: cfg}, nil
}

func readConfig(dir string) (Config, error) {
	var cfg Config
	data, err := os.ReadFile(filepath.Join(dir, configFile))
	if err != nil {
		if os.IsNotExist(err) {
			if _, serr := os.Stat(dir); os.IsNotExist(serr) {
				return cfg, fmt.Errorf("repository %s does not exist; create it with `host-example init -r %s`", dir, dir)
			}
			return cfg, fmt.Errorf("%s is not a pagetrack repository (it has no %s); create one with `host-example init -r DIR`", dir, configFile)
		}
		return cfg, fmt.Errorf("reading repository config: %w", err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("repository %s is damaged: %s does not parse: %v", dir, configFile, err)
	}
	return cfg, nil
}

// Location is the repository directory.
func (l *Local) Location() string { return l.dir }

// Config returns the repository's config.json.
func (l *Local) Config() Config { return l.cfg }

// NewStream starts a stream file in REPO/tmp.
func (l *Local) NewStream(ctx context.Context) (StreamWriter, error) {
	id := NewID()
	partial := filepath.Join(l.dir, tmpDir, id+streamExt+partialExt)
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating stream file: %w", err)
	}
	fw, err := newFrameWriter(f)
	if err != nil {
		f.Close()
		os.Remove(partial)
		return nil, fmt.Errorf("starting stream file: %w", err)
	}
	return &localWriter{repo: l, id: id, partial: partial, f: f, fw: fw, pm: NewPageMap()}, nil
}

type localWriter struct {
	repo    *Local
	id      string
	partial string
	mapPath string // the page map, once moved into streams/
	f       *os.File
	fw      *frameWriter
	pm      *PageMap
	done    bool // committed or aborted
}

func (w *localWriter) ID() string { return w.id }

func (w *localWriter) Append(rec *shared.Record) error {
	if w.done {
		return errors.New("stream is already closed")
	}
	if err := w.pm.Add(rec); err != nil {
		return fmt.Errorf("the stream cannot be mapped: %w", err)
	}
	if err := w.fw.append(rec); err != nil {
		return fmt.Errorf("writing %s: %w", w.partial, err)
	}
	return nil
}

func (w *localWriter) PageMap() *PageMap { return w.pm }

func (w *localWriter) Commit(snap *Snapshot) (err error) {
	if w.done {
		return errors.New("stream is already closed")
	}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	if snap.ID != w.id {
		return fmt.Errorf("snapshot id %q does not match stream id %q", snap.ID, w.id)
	}
	if err := w.fw.close(); err != nil {
		return fmt.Errorf("writing %s: %w", w.partial, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", w.partial, err)
	}
	fi, err := w.f.Stat()
	if err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", w.partial, err)
	}
	w.f = nil
	snap.StoredBytes = fi.Size()

	final := w.repo.streamPath(w.id)
	if err := os.Rename(w.partial, final); err != nil {
		return fmt.Errorf("moving the stream into place: %w", err)
	}
	w.partial = final // from here on, Abort removes the stream from streams/
	if err := syncDir(filepath.Dir(final)); err != nil {
		return err
	}

	// The page map goes next to the stream, before the metadata: a snapshot never lacks it.
	pm, err := w.pm.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encoding the page map: %w", err)
	}
	w.mapPath = w.repo.mapPath(w.id)
	if err := writeFileAtomic(filepath.Join(w.repo.dir, tmpDir, w.id+mapExt+partialExt), w.mapPath, pm); err != nil {
		return fmt.Errorf("writing the page map of snapshot %s: %w", w.id, err)
	}

	data, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(w.repo.dir, tmpDir, w.id+".json"+partialExt)
	if err := writeFileAtomic(tmp, filepath.Join(w.repo.dir, snapshotsDir, w.id+".json"), append(data, '\n')); err != nil {
		return fmt.Errorf("recording snapshot %s: %w", w.id, err)
	}
	w.done = true
	return nil
}

func (w *localWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	if w.f != nil {
		w.fw.close()
		w.f.Close()
		w.f = nil
	}
	if w.mapPath != "" {
		if err := os.Remove(w.mapPath); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("removing %s: %w", w.mapPath, err)
		}
	}
	if err := os.Remove(w.partial); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing %s: %w", w.partial, err)
	}
	return nil
}

func (l *Local) streamPath(id string) string {
	return filepath.Join(l.dir, streamsDir, id+streamExt)
}

func (l *Local) mapPath(id string) string {
	return filepath.Join(l.dir, streamsDir, id+mapExt)
}

// PageMap reads REPO/streams/ID.map. The stream must be there too: a map without its
// stream is of no use. A snapshot recorded without a map (by an older host-example) has one
// built by reading its whole stream.
func (l *Local) PageMap(ctx context.Context, id string) (*PageMap, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%q is not a snapshot id", id)
	}
	if _, err := os.Stat(l.streamPath(id)); err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%w: the stream file of snapshot %s is missing (%s)", ErrCorrupt, id, l.streamPath(id))
		}
		return nil, fmt.Errorf("opening the stream of snapshot %s: %w", id, err)
	}
	data, err := os.ReadFile(l.mapPath(id))
	if os.IsNotExist(err) {
		return l.buildPageMap(ctx, id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the page map of snapshot %s: %w", id, err)
	}
	m, err := UnmarshalPageMap(data)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s (%s): %w", id, l.mapPath(id), err)
	}
	return m, nil
}

func (l *Local) buildPageMap(ctx context.Context, id string) (*PageMap, error) {
	sr, err := l.OpenStream(ctx, id)
	if err != nil {
		return nil, err
	}
	defer sr.Close()
	m := NewPageMap()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rec, err := sr.Next()
		if err == io.EOF {
			return m, nil
		}
		if err != nil {
			return nil, fmt.Errorf("building the page map of snapshot %s: %w", id, err)
		}
		if err := m.Add(rec); err != nil {
			return nil, fmt.Errorf("%w: building the page map of snapshot %s: %v", ErrCorrupt, id, err)
		}
	}
}

// Snapshots reads every REPO/snapshots/ID.json, oldest first.
func (l *Local) Snapshots(ctx context.Context) ([]*Snapshot, error) {
	dir := filepath.Join(l.dir, snapshotsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing snapshots: %w", err)
	}
	var out []*Snapshot
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !validID(id) || !e.Type().IsRegular() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading snapshot %s: %w", id, err)
		}
		var s Snapshot
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("snapshot %s is damaged: %s does not parse: %v", id, path, err)
		}
		if s.ID != id {
			return nil, fmt.Errorf("snapshot %s is damaged: %s names id %q", id, path, s.ID)
		}
		out = append(out, &s)
	}
	SortSnapshots(out)
	return out, nil
}

// OpenStream opens REPO/streams/ID.pgs.
func (l *Local) OpenStream(ctx context.Context, id string) (StreamReader, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%q is not a snapshot id", id)
	}
	path := l.streamPath(id)
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%w: the stream file of snapshot %s is missing (%s)", ErrCorrupt, id, path)
		}
		return nil, fmt.Errorf("opening the stream of snapshot %s: %w", id, err)
	}
	fr, err := newFrameReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &localReader{f: f, fr: fr}, nil
}

type localReader struct {
	f  *os.File
	fr *frameReader
}

func (r *localReader) Next() (*shared.Record, error) { return r.fr.next(nil) }

func (r *localReader) NextPages(keep PageFilter) (*shared.Record, error) { return r.fr.next(keep) }

func (r *localReader) Stats() ReadStats { return r.fr.stats }

func (r *localReader) Close() error {
	r.fr.close()
	return r.f.Close()
}

// writeFileAtomic writes data to tmp, syncs it, renames it to final and syncs final's directory.
func writeFileAtomic(tmp, final string, data []byte) (err error) {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return syncDir(filepath.Dir(final))
}

// syncDir makes a rename in dir durable. File systems that cannot sync a directory are
// tolerated.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
