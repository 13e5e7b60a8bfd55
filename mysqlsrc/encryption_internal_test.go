package mysqlsrc

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/mysqlsrc/keyring"
	"github.com/pagetrack/pagetrack/shared"
)

// Real pages of an encrypted file-per-table tablespace (innodb/testdata/encrypted): page 0
// before and after a master key rotation, and one index page written at two LSNs.
func encryptedTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("innodb", "testdata", "encrypted", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// encryptedFile writes a tablespace file of page 0 and the index page at its page number, and
// opens it as a backup would, unsealing its key through keys.
func encryptedFile(t *testing.T, page0, page []byte, keys *backupKeys) *tablespaceFile {
	t.Helper()
	dir := t.TempDir()
	const size = 16384
	n := innodb.PageNumber(page)
	data := make([]byte, (int(n)+1)*size)
	copy(data, page0)
	copy(data[int(n)*size:], page)
	if err := os.WriteFile(filepath.Join(dir, "t.ibd"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := openTablespace(filepath.Join(dir, "t.ibd"), "t.ibd", size, nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	if f.key == nil {
		t.Fatal("no key unsealed for an encrypted tablespace")
	}
	return f
}

func copyAll(t *testing.T, f *tablespaceFile, keys *backupKeys) ([]byte, error) {
	t.Helper()
	var sent []byte
	c := &pageCopier{keys: keys, emit: func(_ context.Context, r *shared.Record) error {
		if r.Pages != nil {
			sent = append(sent, r.Pages.Data...)
		}
		return nil
	}}
	osf, err := os.Open(f.abs)
	if err != nil {
		t.Fatal(err)
	}
	defer osf.Close()
	return sent, c.copyRange(context.Background(), osf, pageRange{file: f, first: 0, count: f.pages})
}

// TestTornEncryptedPageIsRetriedThenRefused: an encrypted page whose second half comes from an
// older write is torn; without the key it could not be told from a good one. The copier checks
// it decrypted, re-reads it, and since it stays torn refuses it as damage; the good page is
// sent as the server wrote it (ciphertext), and page 0's master key is listed for the Header.
func TestTornEncryptedPageIsRetriedThenRefused(t *testing.T) {
	ring, err := keyring.Load(filepath.Join("innodb", "testdata", "encrypted", "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	page0 := encryptedTestdata(t, "enc-page0-key2.page")
	v1, v2 := encryptedTestdata(t, "enc-index-v1.page"), encryptedTestdata(t, "enc-index-v2.page")
	torn := bytes.Clone(v2)
	copy(torn[8192:], v1[8192:])
	if innodb.ValidatePage(torn, false) == nil {
		t.Fatal("precondition: the torn page must not validate as it is")
	}

	keys := newBackupKeys(ring)
	f := encryptedFile(t, page0, torn, keys)
	if _, err := copyAll(t, f, keys); err == nil || !strings.Contains(err.Error(), "fails its checksum after 200 re-reads") {
		t.Fatalf("torn encrypted page: %v, want it refused after re-reads", err)
	}

	keys = newBackupKeys(ring)
	f = encryptedFile(t, page0, v2, keys)
	ids := keys.freeze()
	if len(ids) != 1 || !strings.HasPrefix(ids[0], "INNODBKey-") || !strings.HasSuffix(ids[0], "-2") {
		t.Fatalf("keys listed for the Header: %v, want the one master key of page 0", ids)
	}
	sent, err := copyAll(t, f, keys)
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(f.abs)
	if !bytes.Equal(sent, onDisk) {
		t.Fatal("the copier did not send the pages as they are on disk")
	}

	// Page 0 re-sealed with a key the Header does not list (a rotation during the backup).
	if err := os.WriteFile(f.abs, append(encryptedTestdata(t, "enc-page0-key1.page"), onDisk[16384:]...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := copyAll(t, f, keys); err == nil || !strings.Contains(err.Error(), "which the backup's header does not list") {
		t.Fatalf("page 0 sealed with an unlisted key: %v", err)
	}
}

// TestEncryptedTablespaceWithoutKeyring: with no keyring_file an encrypted tablespace found
// under the lock (encrypted after the probe) is refused naming the attribute.
func TestEncryptedTablespaceWithoutKeyring(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t.ibd"), encryptedTestdata(t, "enc-page0-key2.page"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := openTablespace(filepath.Join(dir, "t.ibd"), "t.ibd", 16384, nil, newBackupKeys(nil))
	if err == nil || !strings.Contains(err.Error(), `set the source attribute "keyring_file"`) {
		t.Fatalf("got %v", err)
	}
}

// TestCutEncryptedRedoBlock: the block holding the end point of an encrypted redo is cut as
// plaintext and encrypted again, so it still decrypts and checks at its LSN.
func TestCutEncryptedRedoBlock(t *testing.T) {
	head := encryptedTestdata(t, "redo.head")
	blocks := encryptedTestdata(t, "redo.blocks")
	hdr, err := innodb.ParseRedoFileHeader(head)
	if err != nil {
		t.Fatal(err)
	}
	ring := filepath.Join("innodb", "testdata", "encrypted", "keyring.json")
	key, err := restoreKeys(&shared.Header{StreamFormat: 2, RedoEncryption: head[1024:1536]}, ring)
	if err != nil || key == nil {
		t.Fatalf("redo key: %v", err)
	}
	block := bytes.Clone(blocks[:innodb.RedoBlockSize])
	cut, err := cutRedoBlock(block, hdr.StartLSN, hdr.StartLSN+100, key)
	if err != nil {
		t.Fatal(err)
	}
	if !innodb.RedoBlockEncrypted(cut) {
		t.Fatal("the cut block was left in the clear")
	}
	plain, err := innodb.DecryptRedoBlock(cut, key)
	if err != nil {
		t.Fatal(err)
	}
	h, err := innodb.CheckRedoBlockAt(plain, hdr.StartLSN)
	if err != nil || h.DataLen != 100 {
		t.Fatalf("cut block: data_len %d, %v", h.DataLen, err)
	}
}

// TestRestoreKeysRefusesMissing: a keyring lacking a listed key is refused naming it; no
// keyring at all is refused naming the keys and the flag.
func TestRestoreKeysRefusesMissing(t *testing.T) {
	ring := filepath.Join("innodb", "testdata", "encrypted", "keyring.json")
	h := &shared.Header{StreamFormat: 2, MasterKeys: []string{"INNODBKey-00000000-0000-0000-0000-000000000000-7"}}
	if _, err := restoreKeys(h, ring); err == nil || !strings.Contains(err.Error(), "lacks key(s) [INNODBKey-00000000-0000-0000-0000-000000000000-7]") {
		t.Fatalf("got %v", err)
	}
	if _, err := restoreKeys(h, ""); err == nil || !strings.Contains(err.Error(), "--keyring FILE") {
		t.Fatalf("got %v", err)
	}
	if key, err := restoreKeys(&shared.Header{StreamFormat: 2}, ""); err != nil || key != nil {
		t.Fatalf("a stream needing no keys: %v", err)
	}
}

// TestBinlogKeyID: the header magic of plain and encrypted binary logs.
func TestBinlogKeyID(t *testing.T) {
	id := "MySQLReplicationKey_6ccd780c-baba-1026-9564-5b8c656024db_1"
	enc := append([]byte("\xfdbin\x01\x01"), byte(len(id)))
	enc = append(enc, id...)
	for _, tc := range []struct {
		head []byte
		want string
		err  string
	}{
		{[]byte("\xfebin\x00\x00\x00\x00"), "", ""},
		{enc, id, ""},
		{[]byte("\xfdbin\x02\x01\x00"), "", "header version 2"},
		{[]byte("GIF89a.."), "", "neither a binary log"},
		{enc[:20], "", "does not start with a key id"},
	} {
		got, err := binlogKeyID(tc.head, "binlog.000001")
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: %q, %v; want %q, %q", tc.head, got, err, tc.want, tc.err)
		}
	}
}
