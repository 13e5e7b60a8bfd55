// Package testmysql starts real MySQL servers for tests: a fresh datadir on a loopback port and
// a unix socket, with GTIDs and the binary log on, a small buffer pool, component_mysqlbackup
// installed and a backup user holding exactly the grants the README documents.
//
// It finds MySQL through mysqld.Locate; when nothing is configured it uses (and if need be
// creates, by running scripts/provision-mysql.sh) the repository's .cache/mysql prefix, so tests
// never skip for want of a server.
package testmysql

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/mysqlsrc/mysqld"
)

// BackupUser and BackupPassword are the credentials of the backup user Start creates.
const (
	BackupUser     = "pagetrack"
	BackupPassword = "pagetrack-secret"
)

// Options adjust a test server.
type Options struct {
	// RedoCapacity sets innodb_redo_log_capacity (bytes); 0 keeps 100 MiB.
	RedoCapacity int64
	// Args are extra mysqld options.
	Args []string
	// NoComponent skips installing component_mysqlbackup.
	NoComponent bool
	// Keyring loads component_keyring_file with a new data file in the test's temporary
	// directory (outside the datadir); Server.KeyringFile names it. KeyringFile instead uses
	// that data file (a previous server's, to open a restored datadir). Either way the server
	// runs from private copies of the manifest and plugin dir (see mysqld.WithKeyringFile),
	// never changing the shared installation.
	Keyring     bool
	KeyringFile string
}

// EncryptionArgs turn on every kind of encryption a keyring allows besides tables: redo, undo
// and binary logs. Use them with Options.Keyring.
var EncryptionArgs = []string{"--innodb-redo-log-encrypt=ON", "--innodb-undo-log-encrypt=ON", "--binlog-encryption=ON"}

// Server is a running test server.
type Server struct {
	Bin     *mysqld.Binaries
	Proc    *mysqld.Process
	DataDir string
	Port    int
	// DSN connects as the backup user over TCP; RootDSN as root over the socket.
	DSN     string
	RootDSN string
	Root    *sql.DB
	// KeyringFile is the component_keyring_file data file, when the server has a keyring.
	KeyringFile string
	args        []string
	t           testing.TB
}

var (
	locateOnce sync.Once
	located    *mysqld.Binaries
	locateErr  error
)

// Binaries locates MySQL, provisioning the repository's prefix when nothing else is set.
func Binaries() (*mysqld.Binaries, error) {
	locateOnce.Do(func() {
		if os.Getenv(mysqld.EnvBaseDir) == "" && os.Getenv(mysqld.EnvPrefix) == "" {
			root, err := repoRoot()
			if err != nil {
				locateErr = err
				return
			}
			out, err := exec.Command(filepath.Join(root, "scripts/provision-mysql.sh")).Output()
			if err != nil {
				locateErr = fmt.Errorf("provisioning MySQL: %v", err)
				return
			}
			os.Setenv(mysqld.EnvPrefix, strings.TrimSpace(string(out)))
		}
		located, locateErr = mysqld.Locate()
	})
	return located, locateErr
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("testmysql: no go.mod above the working directory")
		}
		dir = parent
	}
}

// RunDir makes a short directory for sockets and logs, removed when the test ends.
func RunDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "ptmy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ServerArgs are the options every test server runs with.
func ServerArgs(o Options) []string {
	capacity := o.RedoCapacity
	if capacity == 0 {
		capacity = 100 << 20
	}
	args := []string{
		"--server-id=1", "--log-bin=binlog", "--gtid-mode=ON", "--enforce-gtid-consistency=ON",
		"--innodb-buffer-pool-size=64M", fmt.Sprintf("--innodb-redo-log-capacity=%d", capacity),
		"--skip-name-resolve", "--innodb-undo-log-truncate=OFF",
	}
	return append(args, o.Args...)
}

// Start starts a server on a freshly initialized datadir (a copy of the configuration's cached
// one, see datadirs.go). The server is stopped (by pid, with a
// clean shutdown) when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin, keyringFile := binariesFor(t, o)
	datadir := filepath.Join(t.TempDir(), "data")
	opts := mysqld.Options{DataDir: datadir, RunDir: RunDir(t), Port: FreePort(t), Args: ServerArgs(o)}
	ctx, cancel := context.WithTimeout(context.Background(), initTimeout)
	defer cancel()
	if err := freshDatadir(ctx, bin, opts); err != nil {
		t.Fatal(err)
	}
	s := startOn(t, bin, opts)
	s.KeyringFile = keyringFile
	if !o.NoComponent {
		s.MustExec("INSTALL COMPONENT 'file://component_mysqlbackup'")
	}
	user := fmt.Sprintf("'%s'@'%%'", BackupUser)
	s.MustExec(fmt.Sprintf("CREATE USER %s IDENTIFIED BY '%s'", user, BackupPassword))
	for _, g := range mysqlsrc.RequiredGrants(user) {
		s.MustExec(g)
	}
	return s
}

// StartExisting starts a server on an existing datadir (a restored one, say) with the same
// options as Start. It waits until recovery is done and the server accepts connections.
func StartExisting(t testing.TB, datadir string, o Options) *Server {
	t.Helper()
	bin, keyringFile := binariesFor(t, o)
	opts := mysqld.Options{DataDir: datadir, RunDir: RunDir(t), Port: FreePort(t), Args: ServerArgs(o)}
	s := startOn(t, bin, opts)
	s.KeyringFile = keyringFile
	return s
}

// binariesFor returns the binaries a server with options o runs from, and its keyring data
// file ("" without a keyring).
func binariesFor(t testing.TB, o Options) (*mysqld.Binaries, string) {
	t.Helper()
	bin, err := Binaries()
	if err != nil {
		t.Fatal(err)
	}
	if !o.Keyring && o.KeyringFile == "" {
		return bin, ""
	}
	dir := t.TempDir()
	file := o.KeyringFile
	if file == "" {
		file = filepath.Join(dir, "keyring.json")
	}
	if bin, err = bin.WithKeyringFile(filepath.Join(dir, "keyring-install"), file); err != nil {
		t.Fatal(err)
	}
	return bin, file
}

func startOn(t testing.TB, bin *mysqld.Binaries, opts mysqld.Options) *Server {
	proc, err := bin.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Bin: bin, Proc: proc, DataDir: opts.DataDir, Port: opts.Port, t: t, args: opts.Args,
		DSN:     fmt.Sprintf("%s:%s@tcp(127.0.0.1:%d)/", BackupUser, BackupPassword, opts.Port),
		RootDSN: proc.SocketDSN("root", ""),
	}
	t.Cleanup(func() { s.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db, err := proc.WaitReady(ctx, s.RootDSN)
	if err != nil {
		t.Fatal(err)
	}
	s.Root = db
	return s
}

// MustExec runs statements as root or fails the test.
func (s *Server) MustExec(query string, args ...any) {
	s.t.Helper()
	if _, err := s.Root.Exec(query, args...); err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
}

// Fill inserts rows first..first+count-1 into table (columns id, v, pad) in multi-row
// statements: v is name-id, pad padBytes of server-generated random bytes.
func (s *Server) Fill(table string, first, count, padBytes int) {
	s.t.Helper()
	pad := "''"
	for left := padBytes; left > 0; left -= 1024 {
		pad = fmt.Sprintf("CONCAT(%s, RANDOM_BYTES(%d))", pad, min(left, 1024)) // RANDOM_BYTES gives at most 1024
	}
	for lo := first; lo < first+count; lo += 500 {
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT INTO %s (id, v, pad) VALUES ", table)
		for id := lo; id < min(lo+500, first+count); id++ {
			if id > lo {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "(%d, '%s-%d', %s)", id, table, id, pad)
		}
		s.MustExec(b.String())
	}
}

// Stop shuts the server down cleanly; it is safe to call twice.
func (s *Server) Stop() {
	if s.Root != nil {
		s.Root.Close()
		s.Root = nil
	}
	if err := s.Proc.Shutdown(2 * time.Minute); err != nil {
		s.t.Errorf("stopping mysqld: %v", err)
	}
}

// Kill ends the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	if s.Root != nil {
		s.Root.Close()
		s.Root = nil
	}
	s.Proc.Kill()
}

// Restart starts the server again on the same datadir, port and options (after Stop or Kill).
func (s *Server) Restart() {
	s.t.Helper()
	opts := s.Proc.Options
	proc, err := s.Bin.Start(opts)
	if err != nil {
		s.t.Fatal(err)
	}
	s.Proc = proc
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db, err := proc.WaitReady(ctx, s.RootDSN)
	if err != nil {
		s.t.Fatal(err)
	}
	s.Root = db
}
