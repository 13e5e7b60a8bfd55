package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/mysqlsrc/mysqld"
)

const (
	backupUser     = "pagetrack"
	backupPassword = "bench-secret"
)

// server is a mysqld the benchmark started.
type server struct {
	proc    *mysqld.Process
	db      *sql.DB // root over the socket
	port    int
	datadir string
	runDir  string
}

// serverArgs are the options of every server the benchmark starts: the tests' options with a
// larger buffer pool and redo log.
func serverArgs(bufferPool string) []string {
	return []string{
		"--server-id=1", "--log-bin=binlog", "--gtid-mode=ON", "--enforce-gtid-consistency=ON",
		"--innodb-buffer-pool-size=" + bufferPool, "--innodb-redo-log-capacity=1G",
		"--skip-name-resolve", "--max-connections=200",
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer starts mysqld on datadir (initialising it first when fresh). It returns once the
// server accepts connections; ready is how long that took after the process started (for a
// restored datadir: crash recovery).
func startServer(ctx context.Context, bin *mysqld.Binaries, datadir string, args []string, fresh bool) (s *server, ready time.Duration, err error) {
	runDir, err := os.MkdirTemp("", "ptbench")
	if err != nil {
		return nil, 0, err
	}
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	opts := mysqld.Options{DataDir: datadir, RunDir: runDir, Port: port, Args: args}
	if fresh {
		if err := bin.Initialize(ctx, opts); err != nil {
			return nil, 0, err
		}
	}
	t0 := time.Now()
	proc, err := bin.Start(opts)
	if err != nil {
		return nil, 0, err
	}
	wait, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	db, err := proc.WaitReady(wait, proc.SocketDSN("root", ""))
	if err != nil {
		proc.Kill()
		return nil, 0, err
	}
	ready = time.Since(t0)
	db.SetMaxOpenConns(32)
	return &server{proc: proc, db: db, port: port, datadir: datadir, runDir: runDir}, ready, nil
}

func (s *server) stop() {
	if s == nil {
		return
	}
	s.db.Close()
	if err := s.proc.Shutdown(10 * time.Minute); err != nil {
		warn("%v", err)
	}
	os.RemoveAll(s.runDir)
}

func (s *server) exec(ctx context.Context, query string, args ...any) error {
	if _, err := s.db.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("%s: %w", query, err)
	}
	return nil
}

// prepareSource installs component_mysqlbackup and the clone plugin, and creates the backup
// user with the grants the README lists.
func (s *server) prepareSource(ctx context.Context) error {
	account := fmt.Sprintf("'%s'@'%%'", backupUser)
	stmts := []string{
		"INSTALL COMPONENT 'file://component_mysqlbackup'",
		"INSTALL PLUGIN clone SONAME 'mysql_clone.so'",
		fmt.Sprintf("CREATE USER %s IDENTIFIED BY '%s'", account, backupPassword),
	}
	for _, q := range append(stmts, mysqlsrc.RequiredGrants(account)...) {
		if err := s.exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// backupDSN is the backup user's DSN over TCP.
func (s *server) backupDSN() string {
	return fmt.Sprintf("%s:%s@tcp(127.0.0.1:%d)/", backupUser, backupPassword, s.port)
}

// lsns returns the current LSN and the checkpoint LSN.
func (s *server) lsns(ctx context.Context) (cur, ckpt uint64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT JSON_EXTRACT(STORAGE_ENGINES, '$.InnoDB.LSN'), JSON_EXTRACT(STORAGE_ENGINES, '$.InnoDB.LSN_checkpoint')
		FROM performance_schema.log_status`).Scan(&cur, &ckpt)
	return cur, ckpt, err
}

// checkpoint makes the server flush its dirty pages and waits until the checkpoint has passed
// the LSN of the moment of the call (as internal/sourcetest.Checkpoint does): only then are
// the changes in the tracked list a backup can ask for.
func (s *server) checkpoint(ctx context.Context) (time.Duration, error) {
	t0 := time.Now()
	var pct float64
	if err := s.db.QueryRowContext(ctx, "SELECT @@innodb_max_dirty_pages_pct").Scan(&pct); err != nil {
		return 0, err
	}
	if err := s.exec(ctx, "SET GLOBAL innodb_max_dirty_pages_pct = 0"); err != nil {
		return 0, err
	}
	defer s.exec(context.WithoutCancel(ctx), fmt.Sprintf("SET GLOBAL innodb_max_dirty_pages_pct = %v", pct))
	target, _, err := s.lsns(ctx)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		_, ckpt, err := s.lsns(ctx)
		if err != nil {
			return 0, err
		}
		if ckpt >= target {
			return time.Since(t0), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the checkpoint did not reach LSN %d", target)
		}
		time.Sleep(20 * time.Millisecond) // polling the server's state
	}
}

// restartTracking stops and starts page tracking: a new tracking group, which makes the next
// incremental fall back to the page-LSN scan.
func (s *server) restartTracking(ctx context.Context) error {
	if err := s.exec(ctx, "DO mysqlbackup_page_track_set(false)"); err != nil {
		return err
	}
	return s.exec(ctx, "DO mysqlbackup_page_track_set(true)")
}

// cloneLocal runs CLONE LOCAL DATA DIRECTORY into dir (which must not exist).
func (s *server) cloneLocal(ctx context.Context, dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	return s.exec(ctx, "CLONE LOCAL DATA DIRECTORY = ?", dir)
}

func (s *server) version(ctx context.Context) string {
	var v, c string
	if err := s.db.QueryRowContext(ctx, "SELECT @@version, @@version_comment").Scan(&v, &c); err != nil {
		return "unknown"
	}
	return v + " (" + c + ")"
}
