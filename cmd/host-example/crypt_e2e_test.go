package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/internal/workload"
	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
)

// encryptionArgs: every kind of encryption a keyring allows — redo, undo, binary logs, and
// (default_table_encryption) every table and general tablespace the test and the workload make.
var encryptionArgs = append([]string{"--default-table-encryption=ON"}, testmysql.EncryptionArgs...)

// TestEncryptedServer is the encryption acceptance: a server with encrypted file-per-table,
// ROW_FORMAT=COMPRESSED, page-compressed, partitioned and general tablespaces, mysql.ibd, undo,
// redo and binary logs, under the four-client workload; a full backup and two page-tracking
// incrementals with a master key rotation before each. Each is restored with the keyring and
// checked exactly; each incremental is restored with a keyring holding only the master key
// current at its backup, which shows that a chain's newest Header lists every key its merged
// datadir needs; an older snapshot given only a newer key is refused up front, naming the key,
// with nothing written.
func TestEncryptedServer(t *testing.T) {
	t.Parallel() // its own server, keyring and repository
	ctx := context.Background()
	srv := testmysql.Start(t, testmysql.Options{Keyring: true, Args: encryptionArgs})
	wcfg := workloadConfig()
	if err := workload.Setup(ctx, srv.Root, wcfg); err != nil {
		t.Fatal(err)
	}
	srv.MustExec("ALTER TABLESPACE mysql ENCRYPTION='Y'")
	srv.MustExec("CREATE DATABASE enc")
	srv.MustExec("CREATE TABLE enc.zlib (id INT PRIMARY KEY, v VARCHAR(2000)) COMPRESSION='zlib'")
	srv.MustExec("INSERT INTO enc.zlib WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1000) SELECT n, REPEAT(CONCAT('compressible-', n), 40) FROM s")
	zlibSum := checksumTable(t, srv, "enc.zlib")
	// A clean restart writes every page, so the encrypted layouts are on disk to be asserted;
	// the backups below come after it (an incremental across a restart copies every page).
	srv.Stop()
	srv.Restart()
	assertEncryptedOnDisk(t, srv.DataDir)

	h := newHost(t, srv)
	cfg := fmt.Sprintf("repository = %q\n\nsource \"mysql\" \"primary\" {\n  dsn          = %q\n  datadir      = %q\n  keyring_file = %q\n}\n", h.repo, srv.DSN, srv.DataDir, srv.KeyringFile)
	if err := os.WriteFile(h.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	run, err := workload.Start(ctx, srv.Root, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	type taken struct {
		snap          snapshot
		before, after []int
		masterKey     string // the InnoDB master key current at the backup
		keyring       string // a copy of the keyring taken right after the backup
		newestOnly    string // that copy with only that master key (and the binlog keys)
	}
	var chain []taken
	for i, method := range []string{"full", "page-tracking", "page-tracking"} {
		args := []string{"backup", "-c", h.config, "--json"}
		if i == 0 {
			args = append(args, "--full")
		} else {
			// A new binary log since the base (and, the second time, under a new binlog
			// master key): its encrypted header must be read to tell a rotation from a restart.
			if i == 1 {
				srv.MustExec("FLUSH BINARY LOGS")
			} else {
				srv.MustExec("ALTER INSTANCE ROTATE BINLOG MASTER KEY")
			}
			srv.MustExec("ALTER INSTANCE ROTATE INNODB MASTER KEY")
			waitPage0Keys(t, srv.DataDir, uint32(i+1))
		}
		if err := run.WaitSteps(ctx, 10); err != nil {
			t.Fatal(err)
		}
		before := run.Steps()
		out := h.mustRun(args...)
		after := run.Steps()
		var snap snapshot
		if err := json.Unmarshal([]byte(out), &snap); err != nil {
			t.Fatalf("backup --json: %v\n%s", err, out)
		}
		if snap.Method != method {
			t.Errorf("backup %d: method %q (%s), want %q", i, snap.Method, snap.FallbackReason, method)
		}
		// Kept as an operator keeps every version of the keyring: ROTATE BINLOG MASTER KEY
		// deletes the old binlog key from the server's keyring.
		ring := copyFile(t, srv.KeyringFile)
		// The newest master key is the one the rotation added (the first one is named after
		// the server that initialized the datadir, which may not be this server's uuid).
		newest := innodbKeyIDs(t, ring)
		if i > 0 {
			newest = without(newest, innodbKeyIDs(t, chain[i-1].keyring))
		}
		if len(newest) != 1 {
			t.Fatalf("backup %d: master keys %v, want one new one", i, newest)
		}
		chain = append(chain, taken{snap, before, after, newest[0], ring, keyringWithOnly(t, ring, newest[0])})
	}
	if _, err := run.Stop(); err != nil {
		t.Fatalf("workload: %v", err)
	}
	// Binlog positions of an encrypted binlog do not count its 512-byte encryption header: the
	// backup cuts the file 512 bytes past the reported position.
	var file string
	var pos int64
	var rest [3]any
	if err := srv.Root.QueryRow("SHOW BINARY LOG STATUS").Scan(&file, &pos, &rest[0], &rest[1], &rest[2]); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(srv.DataDir, file)); err != nil || st.Size() != pos+512 {
		t.Fatalf("binary log %s: position %d, file size %v (%v); want position + 512", file, pos, st.Size(), err)
	}

	for i, c := range chain {
		t.Run(fmt.Sprintf("restore_%d_%s", i, c.snap.Kind), func(t *testing.T) {
			ring := c.keyring
			extra := []string{}
			if i > 0 {
				ring = c.newestOnly // the keys the chain's newest Header lists suffice
			}
			if i == len(chain)-1 {
				extra = append(extra, "--verify")
			}
			target := filepath.Join(t.TempDir(), "datadir")
			h.in(t).mustRun(append([]string{"restore", "-r", h.repo, c.snap.ID, "--target", target, "--keyring", ring}, extra...)...)
			restored := checkDatadirWith(t, target, "snapshot "+c.snap.ID, testmysql.Options{KeyringFile: copyFile(t, ring), Args: encryptionArgs}, wcfg, c.before, c.after, c.snap.GTIDExecuted)
			if got := checksumTable(t, restored, "enc.zlib"); got != zlibSum {
				t.Errorf("enc.zlib restored with CHECKSUM %s, want %s", got, zlibSum)
			}
		})
	}

	// The server's own keyring no longer holds the binlog key the full backup's binlog is
	// encrypted with: the copy taken then is the only way to restore it.
	target := filepath.Join(t.TempDir(), "datadir")
	_, stderr, code := h.run("restore", "-r", h.repo, chain[0].snap.ID, "--target", target, "--keyring", srv.KeyringFile)
	if code != 1 || !strings.Contains(stderr, "lacks key(s) [MySQLReplicationKey_") {
		t.Errorf("restoring the full backup with the live keyring after ROTATE BINLOG MASTER KEY: exit %d, want 1 naming the old binlog key:\n%s", code, stderr)
	}

	// The full backup needs master key 1; a keyring with only the newest (3) is refused
	// before anything is written, naming the missing key. So is the first incremental (key 2).
	for i := range 2 {
		target := filepath.Join(t.TempDir(), "datadir")
		_, stderr, code := h.run("restore", "-r", h.repo, chain[i].snap.ID, "--target", target, "--keyring", chain[2].newestOnly)
		want := chain[i].masterKey
		if code != 1 || !strings.Contains(stderr, "lacks key(s) [") || !strings.Contains(stderr, want) {
			t.Errorf("restoring snapshot %d with only the newest key: exit %d, want 1 naming %s:\n%s", i, code, want, stderr)
		}
		if entries, err := os.ReadDir(target); err == nil && len(entries) > 0 {
			t.Errorf("a refused restore left %d entries in %s", len(entries), target)
		}
	}
	// Without --keyring at all: refused naming the flag.
	_, stderr, code = h.run("restore", "-r", h.repo, chain[0].snap.ID, "--target", filepath.Join(t.TempDir(), "d"))
	if code != 1 || !strings.Contains(stderr, "--keyring FILE") {
		t.Errorf("restore without a keyring: exit %d:\n%s", code, stderr)
	}
}

// innodbKeyIDs lists the InnoDB master keys of a keyring data file.
func innodbKeyIDs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Elements []struct {
			DataID string `json:"data_id"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range f.Elements {
		if strings.HasPrefix(e.DataID, "INNODBKey-") {
			ids = append(ids, e.DataID)
		}
	}
	return ids
}

func without(list, drop []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(drop, s) {
			out = append(out, s)
		}
	}
	return out
}

func checksumTable(t *testing.T, srv *testmysql.Server, table string) string {
	t.Helper()
	var name, sum string
	if err := srv.Root.QueryRow("CHECKSUM TABLE "+table).Scan(&name, &sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

// assertEncryptedOnDisk checks the preconditions of the test on the server's files: pages of
// type FIL_PAGE_ENCRYPTED in the workload's, mysql's, the general and the undo tablespaces,
// FIL_PAGE_COMPRESSED_AND_ENCRYPTED ones in the page-compressed table, and encrypted redo
// blocks.
func assertEncryptedOnDisk(t *testing.T, datadir string) {
	t.Helper()
	for file, wantType := range map[string]uint16{
		"wl/accounts.ibd": 15, "wl/ztab.ibd": 15, "wl_gts.ibd": 15, "mysql.ibd": 15, "undo_001": 15, "enc/zlib.ibd": 16,
	} {
		data, err := os.ReadFile(filepath.Join(datadir, file))
		if err != nil {
			t.Fatal(err)
		}
		p0, err := innodb.ParsePage0(data)
		if err != nil || !p0.Flags.Encrypted() {
			t.Fatalf("%s: flags 0x%x (%v), want the encryption bit", file, uint32(p0.Flags), err)
		}
		size, n := p0.Flags.PhysicalPageSize(), 0
		for off := size; off+size <= len(data); off += size {
			if innodb.PageType(data[off:]) == wantType {
				n++
			}
		}
		if n == 0 {
			t.Fatalf("%s has no page of type %d", file, wantType)
		}
		t.Logf("%s: %d pages of type %d", file, n, wantType)
	}
	files, _ := filepath.Glob(filepath.Join(datadir, "#innodb_redo", "#ib_redo*"))
	encrypted, clear := 0, 0
	var withInfo []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // recycled meanwhile
		}
		if _, err := innodb.ParseRedoEncryptionInfo(data); err == nil {
			withInfo = append(withInfo, filepath.Base(f))
		}
		for off := innodb.RedoDataOffset; off+innodb.RedoBlockSize <= len(data); off += innodb.RedoBlockSize {
			b := data[off : off+innodb.RedoBlockSize]
			if binary.BigEndian.Uint32(b) == 0 {
				continue // never written
			}
			if innodb.RedoBlockEncrypted(b) {
				encrypted++
			} else {
				clear++
			}
		}
	}
	if encrypted == 0 || clear != 0 {
		t.Fatalf("redo: %d encrypted blocks, %d in the clear; want all encrypted", encrypted, clear)
	}
	t.Logf("redo: %d encrypted blocks; of %d files, %v carry the encryption information", encrypted, len(files), withInfo)
}

// waitPage0Keys waits until page 0 of every encrypted tablespace on disk names master key id:
// a rotation re-seals page 0 through the buffer pool, and the page cleaner writes it soon
// after (polling the files, not synchronising goroutines).
func waitPage0Keys(t *testing.T, datadir string, id uint32) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		stale := stalePage0s(t, datadir, id)
		if len(stale) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("page 0 of %v still names an older master key than %d", stale, id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stalePage0s(t *testing.T, datadir string, id uint32) []string {
	var stale []string
	filepath.WalkDir(datadir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".ibd") || strings.HasPrefix(d.Name(), "undo_")) {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		defer f.Close()
		page0 := make([]byte, 16384)
		if _, err := f.ReadAt(page0, 0); err != nil {
			return nil
		}
		if p0, err := innodb.ParsePage0(page0); err != nil || !p0.Flags.Encrypted() {
			return nil
		}
		if info, err := innodb.ParsePage0EncryptionInfo(page0); err != nil || info.MasterKeyID != id {
			stale = append(stale, filepath.Base(path))
		}
		return nil
	})
	return stale
}

// keyringWithOnly writes a copy of the keyring data file at path that keeps, of the InnoDB
// master keys, only keep (binary log keys stay).
func keyringWithOnly(t *testing.T, path, keep string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Version  string           `json:"version"`
		Elements []map[string]any `json:"elements"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	var kept []map[string]any
	found := false
	for _, e := range f.Elements {
		id, _ := e["data_id"].(string)
		if strings.HasPrefix(id, "INNODBKey-") && id != keep {
			continue
		}
		found = found || id == keep
		kept = append(kept, e)
	}
	if !found {
		t.Fatalf("the keyring has no %s", keep)
	}
	f.Elements = kept
	out, _ := json.Marshal(f)
	dst := filepath.Join(t.TempDir(), "keyring-"+keep)
	if err := os.WriteFile(dst, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// copyFile copies a keyring for a server to use (servers may write to their data file).
func copyFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}
