//go:build pagegen

package innodb_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
)

// TestGenerateEncryptedPages writes testdata/encrypted/: pages, redo blocks and the keyring data
// file of a real server running component_keyring_file with every kind of encryption on. Run it
// with
//
//	go test -tags pagegen -run TestGenerateEncryptedPages ./mysqlsrc/innodb/
//
// Files (pages are whole 16 KiB pages):
//
//	keyring.json          the keyring data file (master keys 1 and 2)
//	enc-page0-key1.page   page 0 of an ENCRYPTION='Y' table before the master key rotation
//	enc-page0-key2.page   the same page 0 after ALTER INSTANCE ROTATE INNODB MASTER KEY
//	enc-index-v1.page     a B-tree leaf (FIL_PAGE_ENCRYPTED, originally FIL_PAGE_INDEX)
//	enc-index-v2.page     the same page after an UPDATE rewrote it, at a later LSN
//	zlib-page0.page       page 0 of an ENCRYPTION='Y' COMPRESSION='zlib' table (after rotation)
//	zlib-index.page       its first B-tree page (FIL_PAGE_COMPRESSED_AND_ENCRYPTED)
//	zip8-page0.page       page 0 (8 KiB) of an ENCRYPTION='Y' ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8 table
//	zip8-index.page       its first B-tree page (8 KiB, FIL_PAGE_ENCRYPTED)
//	undo-page0.page       page 0 of undo_001 (innodb_undo_log_encrypt=ON, after shutdown)
//	undo-data.page        the first encrypted undo log page (FIL_PAGE_UNDO_LOG) of undo_001
//	redo.head             the first 2048 bytes of the newest redo file (after shutdown)
//	redo.blocks           its first 16 data blocks (file offset 2048 on; the log may end earlier)
func TestGenerateEncryptedPages(t *testing.T) {
	s := testmysql.Start(t, testmysql.Options{NoComponent: true, Keyring: true, Args: testmysql.EncryptionArgs})
	out := filepath.Join("testdata", "encrypted")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.MustExec("CREATE DATABASE pg")
	fill := " WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 300) SELECT n, CONCAT('row ', n, ' ', REPEAT('abc', n % 40)) FROM seq"
	s.MustExec("CREATE TABLE pg.enc (id INT PRIMARY KEY, v VARCHAR(200)) ENCRYPTION='Y'")
	s.MustExec("CREATE TABLE pg.zlib (id INT PRIMARY KEY, v VARCHAR(200)) ENCRYPTION='Y' COMPRESSION='zlib'")
	s.MustExec("INSERT INTO pg.enc" + fill)
	s.MustExec("INSERT INTO pg.zlib" + fill)

	enc1 := exported(t, s, "pg.enc", filepath.Join(s.DataDir, "pg", "enc.ibd"))
	write("enc-page0-key1.page", enc1[:16384])

	s.MustExec("UPDATE pg.enc SET v = CONCAT(v, ' updated') WHERE id <= 50")
	s.MustExec("ALTER INSTANCE ROTATE INNODB MASTER KEY")
	enc2 := exported(t, s, "pg.enc", filepath.Join(s.DataDir, "pg", "enc.ibd"))
	write("enc-page0-key2.page", enc2[:16384])
	index := mostChangedPage(t, enc1, enc2)
	write("enc-index-v1.page", enc1[index*16384:(index+1)*16384])
	write("enc-index-v2.page", enc2[index*16384:(index+1)*16384])
	zlib := exported(t, s, "pg.zlib", filepath.Join(s.DataDir, "pg", "zlib.ibd"))
	write("zlib-page0.page", zlib[:16384])
	zi := firstTypedPage(t, zlib, 16, 17855)
	write("zlib-index.page", zlib[zi*16384:(zi+1)*16384])

	s.MustExec("CREATE TABLE pg.zip8 (id INT PRIMARY KEY, v VARCHAR(200)) ENCRYPTION='Y' ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8")
	s.MustExec("INSERT INTO pg.zip8" + fill)
	zip8 := exported(t, s, "pg.zip8", filepath.Join(s.DataDir, "pg", "zip8.ibd"))
	write("zip8-page0.page", zip8[:8192])
	for n := 1; (n+1)*8192 <= len(zip8); n++ {
		if p := zip8[n*8192 : (n+1)*8192]; innodb.PageType(p) == 15 && binary.BigEndian.Uint16(p[28:]) == 17855 {
			write("zip8-index.page", p)
			break
		}
	}

	s.Stop()
	undo, err := os.ReadFile(filepath.Join(s.DataDir, "undo_001"))
	if err != nil {
		t.Fatal(err)
	}
	write("undo-page0.page", undo[:16384])
	ui := firstTypedPage(t, undo, 15, 2)
	write("undo-data.page", undo[ui*16384:(ui+1)*16384])
	redo := newestRedoFile(t, filepath.Join(s.DataDir, "#innodb_redo"))
	write("redo.head", redo[:innodb.RedoDataOffset])
	write("redo.blocks", redo[innodb.RedoDataOffset:innodb.RedoDataOffset+16*innodb.RedoBlockSize])
	keys, err := os.ReadFile(s.KeyringFile)
	if err != nil {
		t.Fatal(err)
	}
	write("keyring.json", keys)
}

// exported reads a table's file while FLUSH TABLES … FOR EXPORT holds it flushed and still.
func exported(t *testing.T, s *testmysql.Server, table, file string) []byte {
	conn, err := s.Root.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "FLUSH TABLES "+table+" FOR EXPORT"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(t.Context(), "UNLOCK TABLES")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// firstTypedPage returns the number of the first page of type typ whose original type (kept at
// offset 28 by encryption and by compression) is orig.
func firstTypedPage(t *testing.T, file []byte, typ, orig uint16) int {
	for n := 1; (n+1)*16384 <= len(file); n++ {
		p := file[n*16384:]
		if innodb.PageType(p) == typ && binary.BigEndian.Uint16(p[28:]) == orig {
			return n
		}
	}
	t.Fatalf("no page of type %d (originally %d)", typ, orig)
	return 0
}

// mostChangedPage returns the encrypted B-tree page whose two versions differ in the most
// bytes: the leaf the UPDATE rewrote (CBC with the tablespace's fixed IV leaves the ciphertext
// before the first changed plaintext byte unchanged).
func mostChangedPage(t *testing.T, v1, v2 []byte) int {
	best, bestDiff := 0, 0
	for n := 1; (n+1)*16384 <= min(len(v1), len(v2)); n++ {
		a, b := v1[n*16384:(n+1)*16384], v2[n*16384:(n+1)*16384]
		if innodb.PageType(b) != 15 || binary.BigEndian.Uint16(b[28:]) != 17855 {
			continue
		}
		diff := 0
		for i := range a {
			if a[i] != b[i] {
				diff++
			}
		}
		if diff > bestDiff {
			best, bestDiff = n, diff
		}
	}
	if bestDiff < 8192 {
		t.Fatalf("no encrypted B-tree page changed in more than half its bytes (best: page %d, %d bytes)", best, bestDiff)
	}
	return best
}

// newestRedoFile reads the in-use redo file with the highest number.
func newestRedoFile(t *testing.T, dir string) []byte {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), "_tmp") {
			names = append(names, e.Name())
		}
	}
	sort.Slice(names, func(i, j int) bool {
		return len(names[i]) < len(names[j]) || len(names[i]) == len(names[j]) && names[i] < names[j]
	})
	b, err := os.ReadFile(filepath.Join(dir, names[len(names)-1]))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
