package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckRestoreTarget(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o700)
	os.WriteFile(filepath.Join(full, "ibdata1"), []byte("keep"), 0o600)
	dangling := filepath.Join(dir, "dangling")
	os.Symlink(filepath.Join(dir, "nowhere"), dangling)
	for _, tc := range []struct{ path, want string }{
		{file, "is a file, not a directory"},
		{full, "is not empty (1 entries, e.g. ibdata1)"},
		{dangling, "is a symbolic link to nothing"},
	} {
		if _, err := checkRestoreTarget(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.path, err, tc.want)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(full, "ibdata1")); string(data) != "keep" {
		t.Error("a refused target was changed")
	}

	// Absent, with absent parents: a failure removes from the outermost one it made.
	tgt, err := checkRestoreTarget(filepath.Join(dir, "a", "b", "datadir"))
	if err != nil || tgt.created != filepath.Join(dir, "a") {
		t.Fatalf("%+v %v", tgt, err)
	}
	os.MkdirAll(filepath.Join(tgt.path, "mysql"), 0o700)
	if err := tgt.discard(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Errorf("%s/a left behind", dir)
	}

	// Another process's file beside the target, in a directory the restore made, is kept,
	// and the message says so.
	tgt, _ = checkRestoreTarget(filepath.Join(dir, "e", "f", "datadir"))
	os.MkdirAll(filepath.Join(tgt.path, "mysql"), 0o700)
	os.WriteFile(filepath.Join(dir, "e", "theirs"), []byte("keep"), 0o600)
	msg := tgt.failed(os.ErrClosed).Error()
	if data, _ := os.ReadFile(filepath.Join(dir, "e", "theirs")); string(data) != "keep" {
		t.Error("a file the restore did not write was removed with the directory it created")
	}
	if _, err := os.Lstat(filepath.Join(dir, "e", "f")); !os.IsNotExist(err) {
		t.Errorf("the restore's own directories are left (%v)", err)
	}
	if want := filepath.Join(dir, "e") + " kept: files the restore did not write"; !strings.Contains(msg, want) {
		t.Errorf("failed says %q, want %q", msg, want)
	}

	// An existing empty directory stays, emptied.
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o700)
	if tgt, err = checkRestoreTarget(empty); err != nil || tgt.created != "" {
		t.Fatalf("%+v %v", tgt, err)
	}
	os.MkdirAll(filepath.Join(empty, "shop"), 0o700)
	os.WriteFile(filepath.Join(empty, "ibdata1"), nil, 0o600)
	if err := tgt.discard(); err != nil {
		t.Fatal(err)
	}
	if es, err := os.ReadDir(empty); err != nil || len(es) != 0 {
		t.Errorf("the target holds %v (%v)", es, err)
	}

	// removeEmptyCreated removes empty directories only.
	tgt, _ = checkRestoreTarget(filepath.Join(dir, "c", "d", "datadir"))
	os.MkdirAll(filepath.Join(dir, "c", "d"), 0o700)
	os.WriteFile(filepath.Join(dir, "c", "someone-elses"), nil, 0o600)
	tgt.removeEmptyCreated()
	if _, err := os.Stat(filepath.Join(dir, "c", "d")); !os.IsNotExist(err) {
		t.Errorf("the empty directory made for the target is left (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "c", "someone-elses")); err != nil {
		t.Errorf("a file that was not the restore's was removed: %v", err)
	}
}
