package repo

import (
	"context"
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

// EncodeSnapshotFile returns the content of s's snapshot file.
func EncodeSnapshotFile(s *Snapshot) ([]byte, error) {
	return sealJSON(snapshotFileFormat, "snapshot", s)
}

// DecodeSnapshotFile checks and decodes the content of the snapshot file of snapshot id. The
// error says what is wrong with it.
func DecodeSnapshotFile(id string, data []byte) (*Snapshot, error) {
	var s Snapshot
	if err := openSealed(data, snapshotFileFormat, "snapshot file", "snapshot", &s); err != nil {
		return nil, err
	}
	if s.ID != id {
		return nil, fmt.Errorf("it names snapshot id %q", s.ID)
	}
	return &s, nil
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
