package shared

import (
	"fmt"
	"path"
	"path/filepath"
	"strconv"
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

// ExternalDir is the first element of every stream path of a file outside the datadir:
// ExternalDir/<Location.ID>/<path below the Location's OriginalPath>. A restore writes such a
// file into the target under the same path unless it relocates the Location.
const ExternalDir = "#pagetrack-external"

// ExternalPath is the stream path of the file rel (slash-separated, relative to the
// Location's OriginalPath) of Location id.
func ExternalPath(id uint32, rel string) string {
	return ExternalDir + "/" + strconv.FormatUint(uint64(id), 10) + "/" + rel
}

// SplitExternalPath returns the Location id and the path below it of an ExternalPath; ok is
// false for a path not under ExternalDir. A path under ExternalDir that is not a well-formed
// ExternalPath returns ok true and id 0.
func SplitExternalPath(p string) (id uint32, rel string, ok bool) {
	rest, found := strings.CutPrefix(p, ExternalDir+"/")
	if !found {
		return 0, "", p == ExternalDir
	}
	num, rel, _ := strings.Cut(rest, "/")
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != num || rel == "" {
		return 0, "", true
	}
	return uint32(n), rel, true
}

// BinlogDir is the stream directory the binary log of a stream with header h lies in: "" for
// the datadir, or ExternalDir/<id> of the Location of role RoleBinlogDir.
func BinlogDir(h *Header) string {
	for _, l := range h.Locations {
		if l.Role == RoleBinlogDir {
			return ExternalDir + "/" + strconv.FormatUint(uint64(l.ID), 10)
		}
	}
	return ""
}

// BinlogPath is the stream path of the binary log file name (or of the index, name
// BinlogBasename+".index") of a stream with header h.
func BinlogPath(h *Header, name string) string {
	if d := BinlogDir(h); d != "" {
		return d + "/" + name
	}
	return name
}

// checkLocationPath: an OriginalPath is absolute, clean and not the root.
func checkLocationPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) || strings.Contains(p, `\`):
		return fmt.Errorf("location path %q is not an absolute path", p)
	case path.Clean(p) != p || p == "/":
		return fmt.Errorf("location path %q is not a clean directory path other than /", p)
	}
	return nil
}
