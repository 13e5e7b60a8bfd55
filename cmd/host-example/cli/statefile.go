package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

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
