package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The snapshot file, REPO/snapshots/ID.json (format 3):
//
//	{
//	  "format": 3,
//	  "sha256": "<SHA-256 of the bytes of the snapshot value below, exactly as they stand>",
//	  "snapshot": { …the Snapshot… }
//	}
//
// The checksum covers every field: a flipped byte, a truncated file or a hand edit makes the
// file unverifiable. The fields that come from the stream (StreamFields) are in addition
// compared with the header and trailer of the snapshot's record list, whose blobs are named by
// their SHA-256 (VerifyStreamFields): those are what the restored datadir really is.
const snapshotFileFormat = 3

// snapshotFile is the envelope of a snapshot file.
type snapshotFile struct {
	Format   int             `json:"format"`
	SHA256   string          `json:"sha256"`
	Snapshot json.RawMessage `json:"snapshot"`
}

// EncodeSnapshotFile returns the content of s's snapshot file.
func EncodeSnapshotFile(s *Snapshot) ([]byte, error) {
	body, err := json.MarshalIndent(s, "  ", "  ")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"format\": %d,\n  \"sha256\": %q,\n  \"snapshot\": %s\n}\n", snapshotFileFormat, hex.EncodeToString(sum[:]), body)
	return b.Bytes(), nil
}

// DecodeSnapshotFile checks and decodes the content of the snapshot file of snapshot id. The
// error says what is wrong with it.
func DecodeSnapshotFile(id string, data []byte) (*Snapshot, error) {
	var f snapshotFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("it does not parse (%d bytes; truncated or overwritten?): %v", len(data), err)
	}
	if f.Format != snapshotFileFormat {
		return nil, fmt.Errorf("it is of snapshot file format %d, this host-example reads %d", f.Format, snapshotFileFormat)
	}
	sum := sha256.Sum256(f.Snapshot)
	if got := hex.EncodeToString(sum[:]); got != f.SHA256 {
		return nil, fmt.Errorf("its content does not match its checksum (SHA-256 %s, recorded %s): it was damaged or edited", got[:16], abbreviate(f.SHA256, 16))
	}
	var s Snapshot
	if err := json.Unmarshal(f.Snapshot, &s); err != nil {
		return nil, fmt.Errorf("its snapshot does not decode: %v", err)
	}
	if s.ID != id {
		return nil, fmt.Errorf("it names snapshot id %q", s.ID)
	}
	return &s, nil
}

func abbreviate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return fmt.Sprintf("%q", s)
}

// BadSnapshot is a snapshot that cannot be verified, so that no command may act on it: its
// file fails its checksum (or does not parse), its metadata disagrees with its record list,
// or its chain is broken.
type BadSnapshot struct {
	ID string `json:"id"`
	// Path is its snapshot file.
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func (b BadSnapshot) Error() string {
	return fmt.Sprintf("snapshot %s cannot be verified: %s", b.ID, b.Reason)
}

// ScanSnapshots reads every snapshot file: the snapshots whose files verify, oldest first,
// and the files that do not. A bad file never hides the others.
func (l *Local) ScanSnapshots(ctx context.Context) ([]*Snapshot, []BadSnapshot, error) {
	dir := filepath.Join(l.dir, snapshotsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("listing snapshots: %w", err)
	}
	var good []*Snapshot
	var bad []BadSnapshot
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !validID(id) || !e.Type().IsRegular() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			if os.IsNotExist(err) {
				continue // forgotten meanwhile
			}
			bad = append(bad, BadSnapshot{ID: id, Path: path, Reason: fmt.Sprintf("its file %s cannot be read: %v", path, err)})
			continue
		}
		s, err := DecodeSnapshotFile(id, data)
		if err != nil {
			bad = append(bad, BadSnapshot{ID: id, Path: path, Reason: fmt.Sprintf("its file %s: %v", path, err)})
			continue
		}
		good = append(good, s)
	}
	SortSnapshots(good)
	return good, bad, nil
}

// writeSnapshotFile writes s's snapshot file atomically (tmp, sync, rename, dir sync).
func (l *Local) writeSnapshotFile(s *Snapshot) error {
	data, err := EncodeSnapshotFile(s)
	if err != nil {
		return err
	}
	tmp := filepath.Join(l.dir, tmpDir, s.ID+".json"+partialExt)
	return writeFileAtomic(tmp, l.snapshotPath(s.ID), data)
}

// repairHint is the way out appended to refusals caused by unverifiable snapshots.
func repairHint(location string) string {
	return fmt.Sprintf("`host-example check -r %s` says more; `host-example repair snapshots -r %s` sets such snapshots aside (into %s/) so that retention can run again",
		location, location, filepath.Join(location, quarantineDir))
}

// ErrUnverified marks a refusal because some snapshot cannot be verified.
var ErrUnverified = errors.New("a snapshot cannot be verified")
