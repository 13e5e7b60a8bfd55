// Command demo is `make demo`: pagetrack's reason to exist, end to end on a machine with nothing
// set up. It starts a throw-away MySQL server (from PAGETRACK_MYSQL_PREFIX or _BASEDIR, which
// the makefile provides), loads sample data, and while four clients keep writing takes a full
// backup and then an incremental with bin/host-example; it shows the incremental's pages in the
// changed set, pages read and bytes sent beside the full's, restores the incremental (its
// chain) with --verify, starts a stock mysqld on the restored datadir and checks the data
// exactly against the workload's model. Everything lives under .cache/demo and the servers it
// started are stopped before it exits.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pagetrack/pagetrack/internal/workload"
	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/mysqlsrc/mysqld"
)

const (
	backupUser     = "pagetrack"
	backupPassword = "demo-secret"
	sampleBytes    = 32 << 20
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

var started = time.Now()

func say(format string, args ...any) {
	fmt.Printf("==> [%4.1fs] "+format+"\n", append([]any{time.Since(started).Seconds()}, args...)...)
}

func run(ctx context.Context) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	work := filepath.Join(root, ".cache", "demo")
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	bin, err := mysqld.Locate()
	if err != nil {
		return err
	}
	version, _ := bin.Version(ctx)
	say("MySQL: %s", version)

	// 1. A source server with GTIDs and the binary log on, and component_mysqlbackup.
	src, err := startServer(ctx, bin, filepath.Join(work, "source"), true)
	if err != nil {
		return err
	}
	defer src.stop()
	account := fmt.Sprintf("'%s'@'%%'", backupUser)
	stmts := []string{
		"INSTALL COMPONENT 'file://component_mysqlbackup'",
		fmt.Sprintf("CREATE USER %s IDENTIFIED BY '%s'", account, backupPassword),
	}
	for _, s := range append(stmts, mysqlsrc.RequiredGrants(account)...) {
		if _, err := src.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	say("source server running on 127.0.0.1:%d, datadir %s", src.port, src.datadir)

	// 2. Sample data: the workload's tables plus a bulk table.
	wcfg := workload.Config{Schema: "shop", Clients: 4, Seed: 1}
	if err := workload.Setup(ctx, src.db, wcfg); err != nil {
		return err
	}
	if err := workload.Grow(ctx, src.db, wcfg, sampleBytes); err != nil {
		return err
	}
	say("loaded sample data (%d MiB of rows, compressed, partitioned and general-tablespace tables)", sampleBytes>>20)

	// 3. A host repository and config.
	hostBin := filepath.Join(root, "bin", "host-example")
	repo := filepath.Join(work, "repo")
	config := filepath.Join(work, "pagetrack.hcl")
	hcl := fmt.Sprintf(`repository = %q

source "mysql" "demo" {
  dsn     = "%s:${env("DEMO_MYSQL_PASSWORD")}@tcp(127.0.0.1:%d)/"
  datadir = %q
}
`, repo, backupUser, src.port, src.datadir)
	if err := os.WriteFile(config, []byte(hcl), 0o600); err != nil {
		return err
	}
	os.Setenv("DEMO_MYSQL_PASSWORD", backupPassword)
	say("config %s:\n%s", config, indent(hcl))
	if err := host(ctx, hostBin, "init", "-r", repo); err != nil {
		return err
	}

	// 4. A full backup, then an incremental, while four clients write.
	load, err := workload.Start(ctx, src.db, wcfg)
	if err != nil {
		return err
	}
	if err := load.WaitSteps(ctx, 10); err != nil {
		load.Stop()
		return err
	}
	say("four clients are writing; taking a full backup")
	full, err := backupJSON(ctx, hostBin, config, true)
	if err != nil {
		load.Stop()
		return err
	}
	say("and an incremental, the clients still writing")
	before := load.Steps()
	incr, err := backupJSON(ctx, hostBin, config, false)
	if err != nil {
		load.Stop()
		return err
	}
	after := load.Steps()
	steps, err := load.Stop()
	if err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	say("the clients committed %v → %v steps during the incremental (%v by the end)", before, after, steps)
	compare(full, incr)
	if err := host(ctx, hostBin, "snapshots", "-r", repo); err != nil {
		return err
	}

	// 5. Restore the incremental (its chain) with --verify, then start a stock mysqld on the
	// result and check it.
	target := filepath.Join(work, "restored")
	id, _ := incr["id"].(string)
	if id == "" {
		return fmt.Errorf("backup --json printed no snapshot id")
	}
	if err := host(ctx, hostBin, "restore", "-r", repo, id, "--target", target, "--verify"); err != nil {
		return err
	}
	restored, err := startServer(ctx, bin, target, false)
	if err != nil {
		return err
	}
	defer restored.stop()
	res, err := workload.Check(ctx, restored.db, wcfg)
	if err != nil {
		return fmt.Errorf("the restored data does not match: %w", err)
	}
	var gtids string
	if err := restored.db.QueryRowContext(ctx, "SELECT @@gtid_executed").Scan(&gtids); err != nil {
		return err
	}
	say("restored incremental: every client's journal is a gap-free prefix %v (inside the incremental's window %v..%v), %d rows equal the model, gtid_executed %s",
		res.Steps, before, after, res.Rows, strings.ReplaceAll(gtids, "\n", ""))
	say("done; everything is under %s", work)
	return nil
}

// backupJSON takes a backup and returns its snapshot's metadata (backup --json).
func backupJSON(ctx context.Context, bin, config string, full bool) (map[string]any, error) {
	args := []string{"backup", "-c", config, "--json"}
	if full {
		args = append(args, "--full")
	}
	fmt.Printf("\n$ host-example %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("host-example backup: %w", err)
	}
	var snap map[string]any
	if err := json.Unmarshal(out, &snap); err != nil {
		return nil, fmt.Errorf("backup --json: %w", err)
	}
	return snap, nil
}

// compare prints the incremental's figures beside the full's.
func compare(full, incr map[string]any) {
	num := func(s map[string]any, k string) string {
		if v, ok := s[k].(float64); ok {
			return fmt.Sprintf("%.0f", v)
		}
		return "–"
	}
	size := func(s map[string]any, k string) string {
		if v, ok := s[k].(float64); ok {
			return fmt.Sprintf("%.1f MiB", v/(1<<20))
		}
		return "–"
	}
	pageBytes := func(s map[string]any) string { // pages × innodb_page_size (16 KiB here)
		if v, ok := s["pages"].(float64); ok {
			return fmt.Sprintf("%.1f MiB", v*16384/(1<<20))
		}
		return "–"
	}
	str := func(s map[string]any, k string) string {
		if v, ok := s[k].(string); ok && v != "" {
			return v
		}
		return "–"
	}
	rows := [][3]string{
		{"", "full", "incremental"},
		{"method", str(full, "method"), str(incr, "method")},
		{"pages in the changed set", "(all)", num(incr, "pages_in_set")},
		{"pages read from the data files", num(full, "pages_read"), num(incr, "pages_read")},
		{"pages sent", num(full, "pages"), num(incr, "pages")},
		{"page bytes sent", pageBytes(full), pageBytes(incr)},
		{"binlog sent", size(full, "binlog_bytes"), size(incr, "binlog_bytes")},
		{"bytes sent in all", size(full, "bytes_sent"), size(incr, "bytes_sent")},
	}
	fmt.Println()
	for _, r := range rows {
		fmt.Printf("    %-32s %14s %14s\n", r[0], r[1], r[2])
	}
	if f, ok := full["pages"].(float64); ok && f > 0 {
		if i, ok := incr["pages"].(float64); ok {
			fmt.Printf("    the incremental sent %.1f %% of the full's pages; its binlog is only what the server wrote since the full\n", 100*i/f)
		}
	}
	fmt.Println()
}

func host(ctx context.Context, bin string, args ...string) error {
	fmt.Printf("\n$ host-example %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("host-example %s: %w", args[0], err)
	}
	fmt.Println()
	return nil
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}

type server struct {
	proc    *mysqld.Process
	db      *sql.DB
	port    int
	datadir string
}

// startServer starts mysqld on datadir (initialising it first when fresh) on a free loopback
// port and waits until it accepts connections.
func startServer(ctx context.Context, bin *mysqld.Binaries, datadir string, fresh bool) (*server, error) {
	runDir, err := os.MkdirTemp("", "ptdemo")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	opts := mysqld.Options{DataDir: datadir, RunDir: runDir, Port: port, Args: []string{
		"--server-id=1", "--log-bin=binlog", "--gtid-mode=ON", "--enforce-gtid-consistency=ON",
		"--innodb-buffer-pool-size=64M", "--skip-name-resolve",
	}}
	if fresh {
		if err := bin.Initialize(ctx, opts); err != nil {
			return nil, err
		}
	}
	proc, err := bin.Start(opts)
	if err != nil {
		return nil, err
	}
	wait, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	db, err := proc.WaitReady(wait, proc.SocketDSN("root", ""))
	if err != nil {
		proc.Kill()
		return nil, err
	}
	return &server{proc: proc, db: db, port: port, datadir: datadir}, nil
}

func (s *server) stop() {
	s.db.Close()
	if err := s.proc.Shutdown(5 * time.Minute); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.RemoveAll(s.proc.Options.RunDir)
}
