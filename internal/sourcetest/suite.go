// Package sourcetest is the behavioural suite every shared.Source must pass. It runs twice:
// against mysqlsrc in process and against the same implementation dispensed through the
// go-plugin gRPC boundary, so the contract behaves identically on both sides.
//
// Every test uses a real MySQL server (internal/testmysql); nothing here mocks the server.
package sourcetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/internal/streamtest"
	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/shared"
)

// NewSource makes the Source under test.
type NewSource func(t *testing.T) shared.Source

// Run runs the suite.
func Run(t *testing.T, newSource NewSource) {
	srv := testmysql.Start(t, testmysql.Options{})
	seed(t, srv)
	src := newSource(t)

	t.Run("Schema", func(t *testing.T) { testSchema(t, src) })
	t.Run("ValidateConfig", func(t *testing.T) { testValidateConfig(t, src, srv) })
	t.Run("Refusals", func(t *testing.T) { testRefusals(t, src, srv) })
	t.Run("FullBackupRestoreVerify", func(t *testing.T) { testFullBackup(t, src, srv) })
	t.Run("RestoreRefusals", func(t *testing.T) { testRestoreRefusals(t, src, srv) })
	t.Run("Incremental", func(t *testing.T) { testIncremental(t, src, srv) })
}

// Config is the configuration for srv.
func Config(srv *testmysql.Server) shared.Config {
	return shared.Config{"dsn": srv.DSN, "datadir": srv.DataDir}
}

func seed(t *testing.T, srv *testmysql.Server) {
	srv.MustExec("CREATE DATABASE suite")
	srv.MustExec("CREATE TABLE suite.t (id INT PRIMARY KEY, v VARCHAR(100), KEY by_v(v))")
	srv.MustExec("CREATE TABLE suite.z (id INT PRIMARY KEY, b BLOB) ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=4")
	for i := range 500 {
		srv.MustExec("INSERT INTO suite.t VALUES (?, ?)", i, fmt.Sprintf("row-%d", i))
		srv.MustExec("INSERT INTO suite.z VALUES (?, REPEAT(?, 3000))", i, fmt.Sprintf("%d", i%10))
	}
}

func testSchema(t *testing.T, src shared.Source) {
	s, err := src.Schema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]shared.Attribute{}
	for _, a := range s.Attributes {
		attrs[a.Name] = a
	}
	if a := attrs["dsn"]; !a.Required || !a.Sensitive || a.Type != shared.TypeString {
		t.Errorf("dsn attribute = %+v, want required sensitive string", a)
	}
	if a := attrs["datadir"]; !a.Required || a.Type != shared.TypeString {
		t.Errorf("datadir attribute = %+v, want required string", a)
	}
}

func testValidateConfig(t *testing.T, src shared.Source, srv *testmysql.Server) {
	cases := []struct {
		name string
		cfg  shared.Config
		want string // "" = valid
	}{
		{"valid", Config(srv), ""},
		{"unknown attribute", shared.Config{"dsn": srv.DSN, "datadir": "/x", "paralelism": int64(2)}, `unknown attribute "paralelism"`},
		{"missing dsn", shared.Config{"datadir": "/x"}, `missing required attribute "dsn"`},
		{"missing datadir", shared.Config{"dsn": srv.DSN}, `missing required attribute "datadir"`},
		{"bad type", shared.Config{"dsn": srv.DSN, "datadir": "/x", "parallelism": "two"}, `attribute "parallelism" must be a number`},
		{"out of range", shared.Config{"dsn": srv.DSN, "datadir": "/x", "parallelism": int64(0)}, `"parallelism" must be between 1 and 64`},
		{"bad dsn", shared.Config{"dsn": "nonsense", "datadir": "/x"}, `"dsn" is not a valid MySQL DSN`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := src.ValidateConfig(context.Background(), c.cfg)
			if c.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want one containing %q", err, c.want)
			}
			if !errors.Is(err, shared.ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
}

func testRefusals(t *testing.T, src shared.Source, srv *testmysql.Server) {
	srv.MustExec("CREATE USER IF NOT EXISTS 'weak'@'%' IDENTIFIED BY 'weakpw'")
	srv.MustExec("GRANT PROCESS ON *.* TO 'weak'@'%'")
	srv.MustExec("CREATE USER IF NOT EXISTS 'nolog'@'%' IDENTIFIED BY 'nologpw'")
	srv.MustExec("GRANT BACKUP_ADMIN, PROCESS, SYSTEM_VARIABLES_ADMIN ON *.* TO 'nolog'@'%'")
	srv.MustExec("CREATE USER IF NOT EXISTS 'noerrlog'@'%' IDENTIFIED BY 'noerrlogpw'")
	srv.MustExec("GRANT BACKUP_ADMIN, PROCESS, SYSTEM_VARIABLES_ADMIN ON *.* TO 'noerrlog'@'%'")
	srv.MustExec("GRANT SELECT ON performance_schema.log_status TO 'noerrlog'@'%'")
	srv.MustExec("GRANT SELECT ON performance_schema.global_status TO 'noerrlog'@'%'")
	weakDSN := fmt.Sprintf("weak:weakpw@tcp(127.0.0.1:%d)/", srv.Port)
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "auto.cnf"), []byte("[auto]\nserver-uuid=00000000-0000-0000-0000-000000000000\n"), 0o600)
	cases := []struct {
		name  string
		cfg   shared.Config
		want  []string
		notIn string
	}{
		{"missing privilege", shared.Config{"dsn": weakDSN, "datadir": srv.DataDir},
			[]string{"lacks the BACKUP_ADMIN, SYSTEM_VARIABLES_ADMIN privilege", "GRANT BACKUP_ADMIN, SYSTEM_VARIABLES_ADMIN ON *.* TO 'weak'@'%'"}, "weakpw"},
		{"no log_status grant", shared.Config{"dsn": fmt.Sprintf("nolog:nologpw@tcp(127.0.0.1:%d)/", srv.Port), "datadir": srv.DataDir},
			[]string{"GRANT SELECT ON performance_schema.log_status TO 'nolog'@'%'"}, "nologpw"},
		{"no error_log grant", shared.Config{"dsn": fmt.Sprintf("noerrlog:noerrlogpw@tcp(127.0.0.1:%d)/", srv.Port), "datadir": srv.DataDir},
			[]string{"redo logging", "GRANT SELECT ON performance_schema.error_log TO 'noerrlog'@'%'"}, "noerrlogpw"},
		{"wrong password", shared.Config{"dsn": fmt.Sprintf("weak:badpass@tcp(127.0.0.1:%d)/", srv.Port), "datadir": srv.DataDir},
			[]string{`refused the login of user "weak"`}, "badpass"},
		{"wrong datadir", shared.Config{"dsn": srv.DSN, "datadir": other},
			[]string{"is not the datadir of the server", "reports its datadir as " + srv.DataDir}, testmysql.BackupPassword},
		{"missing datadir", shared.Config{"dsn": srv.DSN, "datadir": filepath.Join(other, "nope")},
			[]string{"no such file or directory"}, testmysql.BackupPassword},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stream, err := src.Backup(context.Background(), &shared.BackupRequest{Config: c.cfg})
			if err == nil {
				_, err = drain(stream)
			}
			if err == nil {
				t.Fatal("backup succeeded, want a refusal")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), c.notIn) {
				t.Errorf("error %q leaks the secret %q", err, c.notIn)
			}
			if !errors.Is(err, shared.ErrPrecondition) {
				t.Errorf("error %v does not wrap ErrPrecondition", err)
			}
		})
	}
}

// drain reads a stream to its end.
func drain(s shared.RecordStream) ([]*shared.Record, error) {
	var out []*shared.Record
	for {
		r, err := s.Recv()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
}

// sliceStream replays records.
type sliceStream struct{ recs []*shared.Record }

func (s *sliceStream) Recv() (*shared.Record, error) {
	if len(s.recs) == 0 {
		return nil, io.EOF
	}
	r := s.recs[0]
	s.recs = s.recs[1:]
	return r, nil
}

// Backup takes a full backup of srv and returns its records, failing the test on error.
func Backup(t *testing.T, src shared.Source, cfg shared.Config) []*shared.Record {
	t.Helper()
	stream, err := src.Backup(context.Background(), &shared.BackupRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := drain(stream)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func testFullBackup(t *testing.T, src shared.Source, srv *testmysql.Server) {
	recs := Backup(t, src, Config(srv))
	if recs[0].Header == nil || recs[len(recs)-1].Trailer == nil {
		t.Fatalf("stream does not run header..trailer")
	}
	h, tr := recs[0].Header, recs[len(recs)-1].Trailer
	if h.CheckpointLSN == 0 || tr.EndLSN < h.CheckpointLSN || tr.MaxPageLSN > tr.EndLSN {
		t.Fatalf("LSNs: checkpoint %d, end %d, max page %d", h.CheckpointLSN, tr.EndLSN, tr.MaxPageLSN)
	}
	paths := map[string]bool{}
	for _, r := range recs {
		if r.Tablespace != nil {
			paths[r.Tablespace.Path] = true
		}
	}
	for _, p := range []string{"ibdata1", "mysql.ibd", "undo_001", "undo_002", "suite/t.ibd", "suite/z.ibd"} {
		if !paths[p] {
			t.Errorf("backup lacks tablespace %s (has %v)", p, paths)
		}
	}
	target := filepath.Join(t.TempDir(), "restored")
	res, err := src.Restore(context.Background(), &shared.RestoreRequest{TargetDir: target, Verify: true}, &sliceStream{recs: recs})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified || res.TablesChecked < 3 || res.RecoveredTo != tr.EndLSN {
		t.Fatalf("restore result %+v; want verified, tables checked, recovered to %d", res, tr.EndLSN)
	}
	restoreAsFormat2(t, src, recs, tr.EndLSN)
	// A stock server on the restored datadir has the rows and the GTID set.
	restored := testmysql.StartExisting(t, target, testmysql.Options{})
	var count int
	var sum sql.NullInt64
	if err := restored.Root.QueryRow("SELECT COUNT(*), SUM(LENGTH(b)) FROM suite.z").Scan(&count, &sum); err != nil {
		t.Fatal(err)
	}
	if count != 500 || sum.Int64 != 500*3000 {
		t.Fatalf("restored suite.z has %d rows, %d bytes; want 500, %d", count, sum.Int64, 500*3000)
	}
	var gtids string
	if err := restored.Root.QueryRow("SELECT @@gtid_executed").Scan(&gtids); err != nil {
		t.Fatal(err)
	}
	if norm(gtids) != norm(tr.GTIDExecuted) {
		t.Fatalf("restored gtid_executed %q, backup recorded %q", gtids, tr.GTIDExecuted)
	}
}

// restoreAsFormat2 restores recs written again as a stream of format 2 (what hosts stored
// before format 3: the same records, no page lists, the digest over whole encodings): streams
// written before a format change still restore.
func restoreAsFormat2(t *testing.T, src shared.Source, recs []*shared.Record, endLSN uint64) {
	t.Helper()
	old := make([]*shared.Record, len(recs))
	for i, r := range recs {
		switch {
		case r.Header != nil:
			h := *r.Header
			h.StreamFormat = 2
			r = &shared.Record{Header: &h}
		case r.Pages != nil && r.Pages.PageNumbers != nil:
			t.Fatalf("a full backup sent a page batch with a page list (record %d)", i)
		}
		old[i] = r
	}
	old = streamtest.Reseal(old)
	res, err := src.Restore(context.Background(), &shared.RestoreRequest{TargetDir: filepath.Join(t.TempDir(), "format2"), Verify: true}, &sliceStream{recs: old})
	if err != nil {
		t.Fatalf("restoring the backup written as stream format 2: %v", err)
	}
	if !res.Verified || res.RecoveredTo != endLSN {
		t.Fatalf("restoring the backup written as stream format 2: %+v; want verified, recovered to %d", res, endLSN)
	}
}

func norm(gtid string) string { return strings.ReplaceAll(strings.ReplaceAll(gtid, "\n", ""), " ", "") }

func testRestoreRefusals(t *testing.T, src shared.Source, srv *testmysql.Server) {
	recs := Backup(t, src, Config(srv))
	restore := func(target string, recs []*shared.Record) error {
		_, err := src.Restore(context.Background(), &shared.RestoreRequest{TargetDir: target}, &sliceStream{recs: recs})
		return err
	}
	t.Run("non-empty target", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "precious"), []byte("keep me"), 0o600)
		err := restore(dir, recs)
		if err == nil || !strings.Contains(err.Error(), "is not empty") || !errors.Is(err, shared.ErrPrecondition) {
			t.Fatalf("error = %v, want a non-empty target refusal", err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "precious")); string(b) != "keep me" {
			t.Fatal("the existing file was touched")
		}
	})
	for _, bad := range []string{"../escape.ibd", "/etc/evil.ibd", "a/../../escape.ibd"} {
		t.Run("escaping path "+bad, func(t *testing.T) {
			evil := append([]*shared.Record{recs[0]}, &shared.Record{Tablespace: &shared.Tablespace{FileIndex: 9999, Path: bad, PageSize: 16384, SizePages: 1}})
			dir := filepath.Join(t.TempDir(), "t")
			err := restore(dir, evil)
			if !errors.Is(err, shared.ErrBadStream) || !(strings.Contains(err.Error(), "escapes the datadir") || strings.Contains(err.Error(), "absolute path") || strings.Contains(err.Error(), "not in clean form")) {
				t.Fatalf("error = %v, want an escaping-path refusal", err)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape.ibd")); err == nil {
				t.Fatal("a file was written outside the target")
			}
		})
	}
	t.Run("truncated stream", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "t")
		err := restore(dir, recs[:len(recs)/2])
		if !errors.Is(err, shared.ErrNoTrailer) {
			t.Fatalf("error = %v, want ErrNoTrailer", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("a failed restore left %d entries in the target", len(entries))
		}
	})
	t.Run("damaged stream", func(t *testing.T) {
		damaged := make([]*shared.Record, len(recs))
		copy(damaged, recs)
		for i, r := range damaged {
			if r.Pages != nil {
				p := *r.Pages
				p.Data = append([]byte(nil), p.Data...)
				p.Data[100] ^= 0xff
				damaged[i] = &shared.Record{Pages: &p}
				break
			}
		}
		err := restore(filepath.Join(t.TempDir(), "t"), damaged)
		if !errors.Is(err, shared.ErrBadStream) || !strings.Contains(err.Error(), "the digest does not match") {
			t.Fatalf("error = %v, want a digest mismatch", err)
		}
	})
	t.Run("forged streams", func(t *testing.T) { testForgedStreams(t, src, recs) })
}
