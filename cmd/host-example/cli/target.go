package cli

// A restore writes into a directory that is absent or empty, and a failed one leaves it as
// it found it: the host checks the target before anything starts and, whoever failed (the
// host on damaged data, the plugin with an error or killed, a signal), stops the plugin and
// removes what was written. The datadir is written in place rather than in a sibling that is
// renamed at the end, because a target is often a mount point (its own volume), which no
// rename can replace.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// restoreTarget is the directory a restore writes into, as it was before.
type restoreTarget struct {
	path string
	// created is the outermost directory of path that did not exist (path itself, or an
	// ancestor); empty when path was an existing empty directory, which then stays.
	created string
}

// checkRestoreTarget accepts an absolute path that is absent or an empty directory.
func checkRestoreTarget(path string) (*restoreTarget, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, lerr := os.Lstat(path); lerr == nil {
			return nil, fmt.Errorf("restore target %s is a symbolic link to nothing: point it at a new or empty directory, or name another target", path)
		}
		return &restoreTarget{path: path, created: outermostMissing(path)}, nil
	case err != nil:
		return nil, fmt.Errorf("restore target %s cannot be used: %w", path, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("restore target %s is a file, not a directory: name a new or empty directory", path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("restore target %s cannot be read: %w", path, err)
	}
	if len(entries) > 0 {
		return nil, fmt.Errorf("restore target %s is not empty (%d entries, e.g. %s): a restore writes into an empty or new directory only, it never overwrites a datadir", path, len(entries), entries[0].Name())
	}
	return &restoreTarget{path: path}, nil
}

// outermostLeft is the outermost directory the restore created that still exists after a
// discard, or "" when none does.
func (t *restoreTarget) outermostLeft() string {
	if _, err := os.Lstat(t.created); err != nil {
		return ""
	}
	return t.created
}

// outermostMissing is the outermost directory on the way to path that does not exist.
func outermostMissing(path string) string {
	missing := path
	for dir := filepath.Dir(path); dir != missing; dir = filepath.Dir(dir) {
		if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = dir
	}
	return missing
}

// failed removes what a failed restore wrote — call it once the plugin is stopped — and
// adds to err what became of the target.
func (t *restoreTarget) failed(err error) error {
	if cerr := t.discard(); cerr != nil {
		return fmt.Errorf("%w\nrestore failed, and %s could not be cleaned up (%v): remove it before trying again", err, t.path, cerr)
	}
	if t.created != "" {
		if kept := t.outermostLeft(); kept != "" {
			return fmt.Errorf("%w\nrestore failed; %s removed (the restore had created it); %s kept: files the restore did not write appeared in it", err, t.path, kept)
		}
		return fmt.Errorf("%w\nrestore failed; %s removed (the restore had created it), nothing was left behind", err, t.created)
	}
	return fmt.Errorf("%w\nrestore failed; %s left empty, as it was before", err, t.path)
}

// discard removes the target the restore created, or empties the one that was there. Of the
// directories created on the way to it only the empty ones go: another process may have put
// files beside the target meanwhile, and those are not the restore's to delete.
// A process that was killed a moment ago (the plugin's verification server) may still create
// a file while it dies, so emptying is tried a few times.
func (t *restoreTarget) discard() error {
	if t.created != "" {
		if err := os.RemoveAll(t.path); err != nil {
			return err
		}
		t.removeEmptyCreated()
		return nil
	}
	for range 3 {
		entries, err := os.ReadDir(t.path)
		if err != nil || len(entries) == 0 {
			return err
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(t.path, e.Name())); err != nil {
				return err
			}
		}
	}
	entries, err := os.ReadDir(t.path)
	if err == nil && len(entries) > 0 {
		err = fmt.Errorf("files keep appearing in it, e.g. %s", entries[0].Name())
	}
	return err
}

// removeEmptyCreated removes the target and the directories on the way to it that did not
// exist before, as long as they are empty: what remains once a failed restore's files (and a
// restore --from's scratch file) are gone. It never removes anything else.
func (t *restoreTarget) removeEmptyCreated() {
	if t.created == "" {
		return
	}
	for dir := t.path; ; dir = filepath.Dir(dir) {
		if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return // not empty: not only ours
		}
		if dir == t.created {
			return
		}
	}
}
