package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// FormatVersion is the version of the local repository layout this package reads and writes.
// Format 3 is format 2 with checksummed snapshot files (see snapfile.go); Migrate upgrades a
// format-2 repository. Format 1 (one zstd stream file per snapshot) is not read any more.
const FormatVersion = 3

const (
	configFile   = "config.json"
	dataDir      = "data"
	indexDir     = "index"
	snapshotsDir = "snapshots"
	locksDir     = "locks"
	tmpDir       = "tmp"
	partialExt   = ".partial"
)

var repoDirs = []string{dataDir, indexDir, snapshotsDir, locksDir, tmpDir}

// ErrExists is returned by Init when the directory already holds a repository.
var ErrExists = errors.New("already a pagetrack repository")

// Config is REPO/config.json.
type Config struct {
	Format  int       `json:"format"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	// Compression is how backups compress the blobs they add (see Compression); absent in
	// repositories made before the setting, which then use DefaultCompression. It changes
	// only what is written: every blob is a zstd frame, whichever setting wrote it.
	Compression Compression `json:"compression,omitempty"`
}

// InitOptions are the settings Init writes into a new repository's config.
type InitOptions struct {
	Compression Compression // "" is DefaultCompression
}

// Local is a repository in a local directory.
type Local struct {
	dir    string
	cfg    Config
	logger hclog.Logger

	mu        sync.Mutex
	idx       *Index
	locks     int // locks this Local holds (see Lock)
	exclusive int // of which exclusive
}

var _ Repository = (*Local)(nil)

// Init creates a repository in dir, which must be absent or empty, with the default settings.
func Init(dir string) (*Local, error) { return InitWith(dir, InitOptions{}) }

// InitWith creates a repository in dir, which must be absent or empty.
func InitWith(dir string, o InitOptions) (*Local, error) {
	compression, err := ParseCompression(string(o.Compression))
	if err != nil {
		return nil, err
	}
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
	for _, sub := range repoDirs {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("creating repository directory: %w", err)
		}
	}
	for i := 0; i < 256; i++ {
		if err := os.Mkdir(filepath.Join(dir, dataDir, fmt.Sprintf("%02x", i)), 0o700); err != nil {
			return nil, fmt.Errorf("creating repository directory: %w", err)
		}
	}
	for _, sub := range append([]string{"."}, dataDir) {
		if err := syncDir(filepath.Join(dir, sub)); err != nil {
			return nil, err
		}
	}
	cfg := Config{Format: FormatVersion, ID: randomHex(16), Created: time.Now().UTC(), Compression: compression}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	// config.json is written last: a directory without it is not a repository.
	if err := writeFileAtomic(filepath.Join(dir, tmpDir, configFile+partialExt), filepath.Join(dir, configFile), append(data, '\n')); err != nil {
		return nil, fmt.Errorf("writing repository config: %w", err)
	}
	return &Local{dir: dir, cfg: cfg, logger: hclog.NewNullLogger()}, nil
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
	switch {
	case cfg.Format == 2:
		return nil, fmt.Errorf("repository %s has format 2, whose snapshot files carry no checksum; this host-example reads format %d: `host-example migrate -r %s` upgrades it in place (it checks every snapshot against its record list first)", dir, FormatVersion, dir)
	case cfg.Format != FormatVersion:
		return nil, fmt.Errorf("repository %s has format %d; this host-example reads format %d: use a matching release", dir, cfg.Format, FormatVersion)
	}
	return openLocal(dir, cfg)
}

// openLocal opens the repository in dir, whose config is cfg, whatever its format.
func openLocal(dir string, cfg Config) (*Local, error) {
	if _, err := ParseCompression(string(cfg.Compression)); err != nil {
		return nil, fmt.Errorf("repository %s: %s: %v", dir, configFile, err)
	}
	for _, sub := range repoDirs {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("repository %s is damaged: its %s/ directory is missing", dir, sub)
		}
	}
	return &Local{dir: dir, cfg: cfg, logger: hclog.NewNullLogger()}, nil
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

// SetLogger sets where the repository logs what it does on its own (stale locks removed).
func (l *Local) SetLogger(logger hclog.Logger) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	l.logger = logger
}

// Location is the repository directory.
func (l *Local) Location() string { return l.dir }

// Compression is how backups into this repository compress new blobs.
func (l *Local) Compression() Compression {
	c, _ := ParseCompression(string(l.cfg.Compression)) // checked by Open
	return c
}

// Config returns the repository's config.json.
func (l *Local) Config() Config { return l.cfg }

// Index returns the repository's index, reading it on first use. A damaged index file is left
// out with a warning, as check leaves it out: the blobs only it lists are then missing, and
// reading them fails naming the snapshot (every blob read is checked against its SHA-256, so an
// index can make a read fail, never return wrong data). Prune refuses to run with one.
func (l *Local) Index() (*Index, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.idx != nil {
		return l.idx, nil
	}
	idx, problems, err := loadIndex(l.dir)
	if err != nil {
		return nil, err
	}
	for _, p := range problems {
		l.logger.Warn("index file left out: `host-example check` says which snapshots it affects", "problem", p.Error())
	}
	l.idx = idx
	return idx, nil
}

// dropIndex forgets the cached index (after prune rewrote it).
func (l *Local) dropIndex() {
	l.mu.Lock()
	l.idx = nil
	l.mu.Unlock()
}

// addToIndex is told that a committed backup wrote the index file file: the cached index,
// if loaded, is dropped, and read again (with it) when next needed. An Index never changes
// once built, so the writers and readers that hold the old one go on safely.
func (l *Local) addToIndex(file ID, packs []indexPack) { l.dropIndex() }

// Snapshots returns the snapshots whose files verify, oldest first (ScanSnapshots). Each
// one that does not is left out with a warning naming it: it never hides the others.
func (l *Local) Snapshots(ctx context.Context) ([]*Snapshot, error) {
	good, bad, err := l.ScanSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range bad {
		l.logger.Warn("snapshot left out: it cannot be verified; `host-example repair snapshots` sets it aside", "snapshot", b.ID, "reason", b.Reason)
	}
	return good, nil
}

func (l *Local) snapshotPath(id string) string {
	return filepath.Join(l.dir, snapshotsDir, id+".json")
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
	if crash("atomic-file-synced") {
		return errCrashed
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if crash("atomic-file-renamed") {
		return errCrashed
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

// Crash simulation for tests: crashHook, when set, is asked at each step of a commit whether
// the process "dies" there; the step then returns errCrashed and nothing is cleaned up, as
// after a SIGKILL.
var crashHook func(step string) bool

var errCrashed = errors.New("simulated crash")

func crash(step string) bool { return crashHook != nil && crashHook(step) }
