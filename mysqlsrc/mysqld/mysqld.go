// Package mysqld finds MySQL server binaries and runs a mysqld process on a datadir: to verify
// a restored datadir, and for the project's own tests and demo.
//
// Two kinds of installation are supported:
//   - an installed MySQL 8.0.30+ named by PAGETRACK_MYSQL_BASEDIR (its bin/ or sbin/ holds
//     mysqld), or found on PATH;
//   - a prefix unpacked from Debian packages by scripts/provision-mysql.sh, named by
//     PAGETRACK_MYSQL_PREFIX. Its libc is newer than the host's, so every binary runs through
//     the prefix's own dynamic loader.
package mysqld

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql" // the "mysql" database/sql driver
)

// Environment variables that point at a MySQL installation.
const (
	EnvBaseDir = "PAGETRACK_MYSQL_BASEDIR"
	EnvPrefix  = "PAGETRACK_MYSQL_PREFIX"
)

// Binaries is a located MySQL installation.
type Binaries struct {
	BaseDir     string
	Mysqld      string
	Mysql       string
	LcMessages  string
	PluginDir   string
	loader      string // non-empty for a provisioned prefix
	libraryPath string
}

// Locate finds MySQL from the environment: PAGETRACK_MYSQL_BASEDIR, then
// PAGETRACK_MYSQL_PREFIX, then mysqld on PATH.
func Locate() (*Binaries, error) {
	if dir := os.Getenv(EnvBaseDir); dir != "" {
		return FromBaseDir(dir)
	}
	if dir := os.Getenv(EnvPrefix); dir != "" {
		return FromPrefix(dir)
	}
	if p, err := exec.LookPath("mysqld"); err == nil {
		return FromBaseDir(filepath.Dir(filepath.Dir(p)))
	}
	for _, p := range []string{"/usr/sbin/mysqld", "/usr/local/mysql/bin/mysqld"} {
		if _, err := os.Stat(p); err == nil {
			return FromBaseDir(filepath.Dir(filepath.Dir(p)))
		}
	}
	return nil, fmt.Errorf("no MySQL server binaries found: set %s to an installed MySQL 8.0.30+ basedir, or %s to a prefix made by scripts/provision-mysql.sh", EnvBaseDir, EnvPrefix)
}

// FromBaseDir uses an installed MySQL whose mysqld lives in basedir/bin or basedir/sbin.
func FromBaseDir(basedir string) (*Binaries, error) {
	b := &Binaries{BaseDir: basedir}
	b.Mysqld = firstExisting(filepath.Join(basedir, "bin/mysqld"), filepath.Join(basedir, "sbin/mysqld"))
	b.Mysql = firstExisting(filepath.Join(basedir, "bin/mysql"), "/usr/bin/mysql")
	b.LcMessages = firstExisting(filepath.Join(basedir, "share/mysql"), filepath.Join(basedir, "share"))
	b.PluginDir = firstExisting(filepath.Join(basedir, "lib/mysql/plugin"), filepath.Join(basedir, "lib/plugin"),
		filepath.Join(basedir, "lib/x86_64-linux-gnu/mysql/plugin"))
	if b.Mysqld == "" {
		return nil, fmt.Errorf("%s=%s has no bin/mysqld or sbin/mysqld", EnvBaseDir, basedir)
	}
	return b, nil
}

// FromPrefix uses a prefix unpacked by scripts/provision-mysql.sh.
func FromPrefix(prefix string) (*Binaries, error) {
	lib := filepath.Join(prefix, "usr/lib/x86_64-linux-gnu")
	b := &Binaries{
		BaseDir:     filepath.Join(prefix, "usr"),
		Mysqld:      filepath.Join(prefix, "usr/sbin/mysqld"),
		Mysql:       filepath.Join(prefix, "usr/bin/mysql"),
		LcMessages:  filepath.Join(prefix, "usr/share/mysql"),
		PluginDir:   filepath.Join(prefix, "usr/lib/mysql/plugin"),
		loader:      filepath.Join(lib, "ld-linux-x86-64.so.2"),
		libraryPath: strings.Join([]string{lib, filepath.Join(prefix, "lib/x86_64-linux-gnu"), filepath.Join(lib, "private")}, ":"),
	}
	for _, p := range []string{b.Mysqld, b.loader} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s=%s is not a provisioned MySQL prefix (missing %s); run scripts/provision-mysql.sh", EnvPrefix, prefix, p)
		}
	}
	return b, nil
}

func firstExisting(paths ...string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Command builds a command for one of the installation's programs.
func (b *Binaries) Command(ctx context.Context, program string, args ...string) *exec.Cmd {
	if b.loader == "" {
		return exec.CommandContext(ctx, program, args...)
	}
	return exec.CommandContext(ctx, b.loader, append([]string{"--library-path", b.libraryPath, program}, args...)...)
}

// Version runs mysqld --version.
func (b *Binaries) Version(ctx context.Context) (string, error) {
	out, err := b.Command(ctx, b.Mysqld, "--version").CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Options configure a mysqld process. DataDir and RunDir are required; RunDir holds the
// socket, pid file, error log and secure-file-priv directory (keep it short: socket paths are
// limited to 107 bytes).
type Options struct {
	DataDir string
	RunDir  string
	// Port, when non-zero, listens on 127.0.0.1:Port; otherwise networking is off.
	Port int
	// Args are extra mysqld options (--name=value).
	Args []string
}

func (o Options) Socket() string   { return filepath.Join(o.RunDir, "mysqld.sock") }
func (o Options) ErrorLog() string { return filepath.Join(o.RunDir, "error.log") }

func (b *Binaries) commonArgs(o Options) []string {
	args := []string{
		"--no-defaults",
		"--basedir=" + b.BaseDir,
		"--datadir=" + o.DataDir,
		"--lc-messages-dir=" + b.LcMessages,
		"--plugin-dir=" + b.PluginDir,
		"--secure-file-priv=" + filepath.Join(o.RunDir, "files"),
		"--log-error=" + o.ErrorLog(),
		"--tmpdir=" + o.RunDir,
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	return args
}

// Initialize creates a new datadir with an empty root password.
func (b *Binaries) Initialize(ctx context.Context, o Options) error {
	for _, dir := range []string{filepath.Join(o.RunDir, "files"), filepath.Dir(o.DataDir)} {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
	}
	args := append(b.commonArgs(o), "--initialize-insecure")
	args = append(args, o.Args...)
	cmd := b.Command(ctx, b.Mysqld, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mysqld --initialize failed: %v\n%s%s", err, out, tail(o.ErrorLog(), 20))
	}
	return nil
}

// Process is a running mysqld.
type Process struct {
	Options Options
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	once    sync.Once
}

// Start launches mysqld on an existing datadir. It returns once the process has started; call
// WaitReady to wait until it accepts connections (crash recovery runs before that).
func (b *Binaries) Start(o Options) (*Process, error) {
	if err := os.MkdirAll(filepath.Join(o.RunDir, "files"), 0o750); err != nil {
		return nil, err
	}
	args := append(b.commonArgs(o), "--socket="+o.Socket(), "--pid-file="+filepath.Join(o.RunDir, "mysqld.pid"), "--mysqlx=OFF")
	if o.Port != 0 {
		args = append(args, fmt.Sprintf("--port=%d", o.Port), "--bind-address=127.0.0.1")
	} else {
		args = append(args, "--skip-networking")
	}
	args = append(args, o.Args...)
	// Not CommandContext: the server's life is managed by Shutdown/Kill, not a request context.
	cmd := b.Command(context.Background(), b.Mysqld, args...)
	// Its own process group, and killed by the kernel if whoever started it dies (a test
	// binary that panics, a plugin whose host is gone): a server is never left behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting mysqld: %w", err)
	}
	p := &Process{Options: o, cmd: cmd, done: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the server's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.done }

// SocketDSN is a DSN for user over the server's unix socket.
func (p *Process) SocketDSN(user, password string) string {
	return fmt.Sprintf("%s:%s@unix(%s)/?multiStatements=true&interpolateParams=true", user, password, p.Options.Socket())
}

// WaitReady polls until dsn accepts a connection, the process exits (the error carries the
// error log's tail) or ctx ends.
func (p *Process) WaitReady(ctx context.Context, dsn string) (*sql.DB, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err = db.PingContext(ctx); err == nil {
			return db, nil
		}
		select {
		case <-p.done:
			db.Close()
			return nil, fmt.Errorf("mysqld exited before accepting connections (%v); error log:\n%s", p.waitErr, tail(p.Options.ErrorLog(), 30))
		case <-ctx.Done():
			db.Close()
			return nil, fmt.Errorf("mysqld did not accept connections: %w (last error: %v); error log:\n%s", ctx.Err(), err, tail(p.Options.ErrorLog(), 30))
		case <-tick.C:
		}
	}
}

// Shutdown asks mysqld to shut down cleanly (SIGTERM) and waits; after timeout it kills it and
// reports that the shutdown was not clean.
func (p *Process) Shutdown(timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("mysqld did not shut down within %s and was killed; error log:\n%s", timeout, tail(p.Options.ErrorLog(), 20))
	}
}

// Kill ends mysqld with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() {
	p.once.Do(func() { _ = p.cmd.Process.Kill() })
	<-p.done
}

// ErrorLogTail returns the last n lines of the error log.
func (p *Process) ErrorLogTail(n int) string { return tail(p.Options.ErrorLog(), n) }

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
