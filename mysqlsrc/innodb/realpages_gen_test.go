//go:build pagegen

package innodb_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
)

// TestGenerateRealPages writes testdata/pages/: one B-tree page of each kind (plain 16 KiB,
// ROW_FORMAT=COMPRESSED 4 KiB, COMPRESSION='zlib', COMPRESSION='lz4') as a real MySQL server
// wrote it under each innodb_checksum_algorithm. The setting is dynamic and applies to pages
// flushed after it is set, so one server writes them all: each table is created, filled and
// flushed (FLUSH TABLES … FOR EXPORT) while its algorithm is set, and its file is read while
// the export lock holds it still. Run it with
//
//	go test -tags pagegen -run TestGenerateRealPages ./mysqlsrc/innodb/
func TestGenerateRealPages(t *testing.T) {
	s := testmysql.Start(t, testmysql.Options{NoComponent: true})
	out := filepath.Join("testdata", "pages")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	s.MustExec("CREATE DATABASE pg")
	kinds := []struct{ name, options string }{
		{"plain", ""},
		{"zip4", " ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=4"},
		{"zlib", " COMPRESSION='zlib'"},
		{"lz4", " COMPRESSION='lz4'"},
	}
	for _, algo := range []string{"crc32", "innodb", "none"} {
		s.MustExec("SET GLOBAL innodb_checksum_algorithm = " + algo)
		for _, k := range kinds {
			table := fmt.Sprintf("pg.%s_%s", k.name, algo)
			s.MustExec("CREATE TABLE " + table + " (id INT PRIMARY KEY, v VARCHAR(200))" + k.options)
			s.MustExec("INSERT INTO " + table + " WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 300) SELECT n, CONCAT('row ', n, ' ', REPEAT('abc', n % 40)) FROM seq")
			conn, err := s.Root.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(t.Context(), "FLUSH TABLES "+table+" FOR EXPORT"); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(s.DataDir, "pg", fmt.Sprintf("%s_%s.ibd", k.name, algo))
			page := firstIndexPage(t, file, k.name == "zip4")
			conn.ExecContext(t.Context(), "UNLOCK TABLES")
			conn.Close()
			name := filepath.Join(out, fmt.Sprintf("%s-%s.page", algo, k.name))
			if err := os.WriteFile(name, page, 0o644); err != nil {
				t.Fatal(err)
			}
			kind, err := innodb.PageChecksumKind(page, k.name == "zip4")
			t.Logf("%s: type %d, %d bytes, checksum %v (%v)", name, innodb.PageType(page), len(page), kind, err)
		}
	}
}

// firstIndexPage returns the first B-tree page of file (an index page, or a transparently
// compressed one, whose original type is the index type).
func firstIndexPage(t *testing.T, file string, zip bool) []byte {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	size := 16384
	if zip {
		size = 4096
	}
	for off := 0; off+size <= len(b); off += size {
		p := b[off : off+size]
		typ := innodb.PageType(p)
		if typ == 17855 || typ == 14 && p[28] == 0x45 && p[29] == 0xbf {
			return append([]byte(nil), p...)
		}
	}
	t.Fatalf("%s has no index page", file)
	return nil
}
