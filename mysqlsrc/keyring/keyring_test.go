package keyring

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// realDataFile is the data file a MySQL 9.7.4 server's component_keyring_file wrote while it
// encrypted the pages in ../innodb/testdata/encrypted (master keys 1 and 2, binlog key 1).
var realDataFile = filepath.Join("..", "innodb", "testdata", "encrypted", "keyring.json")

const realUUID = "84248c6a-f050-11f1-9384-02fc00000001"

func TestLoadRealDataFile(t *testing.T) {
	k, err := Load(realDataFile)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		InnoDBMasterKeyID(realUUID, 1), InnoDBMasterKeyID(realUUID, 2),
		"MySQLReplicationKey_" + realUUID, BinlogKeyID(realUUID, 1),
	}
	if got := k.IDs(); strings.Join(got, " ") != strings.Join(slices.Sorted(slices.Values(want)), " ") {
		t.Fatalf("IDs = %v, want %v", got, want)
	}
	for id := uint32(1); id <= 2; id++ {
		key, err := k.InnoDBMasterKey(realUUID, id)
		if err != nil || len(key) != 32 {
			t.Fatalf("master key %d: %d bytes, %v", id, len(key), err)
		}
	}
	if _, err := k.InnoDBMasterKey(realUUID, 3); err == nil || !strings.Contains(err.Error(), InnoDBMasterKeyID(realUUID, 3)) {
		t.Fatalf("missing master key 3: %v", err)
	}
	if b, ok := k.Key(BinlogKeyID(realUUID, 1)); !ok || b.Type != "AES" || len(b.Data) != 32 {
		t.Fatalf("binlog key: %+v %v", b, ok)
	}
	// The un-numbered replication entry is the binlog key index (1), not a key.
	if idx, ok := k.Key("MySQLReplicationKey_" + realUUID); !ok || idx.Data[0] != 1 || len(idx.Data) != 16 {
		t.Fatalf("binlog key index: %+v", idx)
	}
}

func TestParseRejects(t *testing.T) {
	el := `{"user":"","data_id":"a","data_type":"AES","data":"00FF","extension":[]}`
	for name, tc := range map[string]struct{ doc, want string }{
		"not json":          {`{"version":`, "not a keyring JSON"},
		"no elements":       {`{"version":"1.0"}`, "missing"},
		"other version":     {`{"version":"2.0","elements":[]}`, `version "2.0"`},
		"missing member":    {`{"version":"1.0","elements":[{"user":"","data_id":"a","data_type":"AES","data":"00"}]}`, "missing one of"},
		"bad hex":           {`{"version":"1.0","elements":[{"user":"","data_id":"a","data_type":"AES","data":"0G","extension":[]}]}`, "not hex"},
		"duplicate":         {`{"version":"1.0","elements":[` + el + `,` + el + `]}`, "appears twice"},
		"trailing document": {`{"version":"1.0","elements":[]} {}`, "after the JSON"},
		"empty data_id":     {`{"version":"1.0","elements":[{"user":"","data_id":"","data_type":"AES","data":"00","extension":[]}]}`, "empty data_id"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseEmptyAndUsers(t *testing.T) {
	k, err := Parse(nil)
	if err != nil || len(k.IDs()) != 0 {
		t.Fatalf("empty file: %v %v", k.IDs(), err)
	}
	k, err = Parse([]byte(`{"version":"1.0","elements":[{"user":"bob","data_id":"a","data_type":"SECRET","data":"00ff","extension":[]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k.Key("a"); ok || len(k.IDs()) != 0 {
		t.Fatal("a user's key was returned as the server's")
	}
}

// TestLoadPrefersBackup: a non-empty "<file>.backup" is an interrupted write the server would
// complete from the backup, so it wins; an empty one is ignored, as the server ignores it.
func TestLoadPrefersBackup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring")
	doc := func(id string) []byte {
		return []byte(`{"version":"1.0","elements":[{"user":"","data_id":"` + id + `","data_type":"AES","data":"01","extension":[]}]}`)
	}
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(path, doc("old"))
	write(path+".backup", doc("new"))
	if k, err := Load(path); err != nil || strings.Join(k.IDs(), ",") != "new" {
		t.Fatalf("with a backup: %v %v", k, err)
	}
	write(path+".backup", nil)
	if k, err := Load(path); err != nil || strings.Join(k.IDs(), ",") != "old" {
		t.Fatalf("with an empty backup: %v %v", k, err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "keyring data file") {
		t.Fatalf("missing file: %v", err)
	}
}
