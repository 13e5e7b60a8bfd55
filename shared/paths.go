package shared

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// CheckStreamPath enforces the one rule for a path a stream names (Tablespace.Path,
// FileChunk.Path): relative to the datadir, slash-separated, already clean (no "." or ".."
// element, no doubled or trailing slash), no NUL or backslash, so it can neither escape the
// restore target nor name one file two ways.
func CheckStreamPath(rel string) error {
	switch {
	case rel == "":
		return fmt.Errorf("names an empty path")
	case strings.ContainsRune(rel, 0) || strings.Contains(rel, `\`):
		return fmt.Errorf("names the unsafe path %q (NUL or backslash)", rel)
	case strings.HasPrefix(rel, "/") || filepath.IsAbs(rel):
		return fmt.Errorf("names the absolute path %q; stream paths are relative to the datadir", rel)
	case rel == ".." || strings.HasPrefix(rel, "../"):
		return fmt.Errorf("names the path %q, which escapes the datadir", rel)
	case path.Clean(rel) != rel || rel == ".":
		return fmt.Errorf("names the path %q, which is not in clean form (%q)", rel, path.Clean(rel))
	}
	return nil
}

// checkFileName is CheckStreamPath for a bare file name in the datadir (the binlog file and
// its base name): no directory part at all.
func checkFileName(name string) error {
	if err := CheckStreamPath(name); err != nil {
		return err
	}
	if strings.Contains(name, "/") {
		return fmt.Errorf("names %q, which must be a file name without a directory", name)
	}
	return nil
}

// TargetPath joins a stream path to a restore target after CheckStreamPath, so that a
// consumer writing files can never land outside root.
func TargetPath(root, rel string) (string, error) {
	if err := CheckStreamPath(rel); err != nil {
		return "", fmt.Errorf("%w: the stream %v; refusing to restore it", ErrBadStream, err)
	}
	return filepath.Join(root, filepath.FromSlash(rel)), nil
}
