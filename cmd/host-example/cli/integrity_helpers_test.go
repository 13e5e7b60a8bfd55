package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
)

// forgeSnapshot edits the snapshot file at path and writes it back with a checksum that
// matches: a forgery (or a test's time travel) that only the record list can expose.
func forgeSnapshot(t *testing.T, path string, edit func(m map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id := filepath.Base(path[:len(path)-len(".json")])
	s, err := repo.DecodeSnapshotFile(id, b)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(s)
	var m map[string]any
	json.Unmarshal(raw, &m)
	edit(m)
	raw, _ = json.Marshal(m)
	var edited repo.Snapshot
	if err := json.Unmarshal(raw, &edited); err != nil {
		t.Fatal(err)
	}
	out, err := repo.EncodeSnapshotFile(&edited)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}
