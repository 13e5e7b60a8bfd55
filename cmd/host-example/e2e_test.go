package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/cmd/host-example/pluginhost"
	"github.com/pagetrack/pagetrack/internal/sourcetest"
	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/internal/workload"
	"github.com/pagetrack/pagetrack/mysqlsrc"
)

// pluginBinary is the real plugin and hostBinary the host, built once for the package's tests
// into one directory (the host finds pagetrack-mysql next to itself).
var pluginBinary, hostBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pagetrack-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginBinary = filepath.Join(dir, "pagetrack-mysql")
	hostBinary = filepath.Join(dir, "host-example")
	for bin, pkg := range map[string]string{pluginBinary: "github.com/pagetrack/pagetrack/plugin", hostBinary: "github.com/pagetrack/pagetrack/cmd/host-example"} {
		build := exec.Command("go", "build", "-o", bin, pkg)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg+":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// host runs the host CLI in process with the real plugin binary.
type host struct {
	t      *testing.T
	repo   string
	config string
}

func newHost(t *testing.T, srv *testmysql.Server) *host {
	dir := t.TempDir()
	h := &host{t: t, repo: filepath.Join(dir, "repo"), config: filepath.Join(dir, "pagetrack.hcl")}
	cfg := fmt.Sprintf("repository = %q\n\nsource \"mysql\" \"primary\" {\n  dsn     = %q\n  datadir = %q\n}\n", h.repo, srv.DSN, srv.DataDir)
	if err := os.WriteFile(h.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h.mustRun("init", "-r", h.repo)
	return h
}

func (h *host) run(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = pluginhost.Run(context.Background(), pluginBinary, args, &out, &errb)
	return out.String(), errb.String(), code
}

// in is h failing through t: a subtest must fail its own t, since FailNow on its parent
// from the subtest's goroutine aborts the subtest without reporting why.
func (h *host) in(t *testing.T) *host {
	c := *h
	c.t = t
	return &c
}

func (h *host) mustRun(args ...string) string {
	h.t.Helper()
	out, errs, code := h.run(args...)
	if code != 0 {
		h.t.Fatalf("host-example %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

// snapshot is the part of `snapshots --json` / `backup --json` the tests read.
type snapshot struct {
	ID             string `json:"id"`
	Parent         string `json:"parent"`
	Kind           string `json:"kind"`
	Method         string `json:"method"`
	FallbackReason string `json:"fallback_reason"`
	CheckpointLSN  uint64 `json:"checkpoint_lsn"`
	EndLSN         uint64 `json:"end_lsn"`
	GTIDExecuted   string `json:"gtid_executed"`
	Pages          uint64 `json:"pages"`
}

func (h *host) snapshots() []snapshot {
	h.t.Helper()
	var list []snapshot
	if err := json.Unmarshal([]byte(h.mustRun("snapshots", "-r", h.repo, "--json")), &list); err != nil {
		h.t.Fatal(err)
	}
	return list
}

func workloadConfig() workload.Config {
	return workload.Config{Schema: "wl", Clients: 4, Accounts: 50, Slots: 8, BlobSize: 24 << 10, Seed: 20261121}
}

// startWorkloadServer starts a test server with the workload's schema set up (not running).
func startWorkloadServer(t *testing.T) (*testmysql.Server, workload.Config) {
	t.Helper()
	srv := testmysql.Start(t, testmysql.Options{})
	wcfg := workloadConfig()
	if err := workload.Setup(context.Background(), srv.Root, wcfg); err != nil {
		t.Fatal(err)
	}
	return srv, wcfg
}

// TestFullBackupsUnderLoad is the foundation's end-to-end acceptance: a deterministic
// four-client workload runs while three full backups are taken through the real plugin
// binary; each snapshot is restored into a fresh directory and started by a stock mysqld, and
// the restored data is checked exactly against the workload's model.
func TestFullBackupsUnderLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, wcfg := startWorkloadServer(t)
	run, err := workload.Start(ctx, srv.Root, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, srv)

	type taken struct {
		snap          snapshot
		before, after []int // committed steps per client around the backup
	}
	var backups []taken
	for i := range 3 {
		if err := run.WaitSteps(ctx, 30); err != nil {
			t.Fatal(err)
		}
		before := run.Steps()
		out := h.mustRun("backup", "-c", h.config, "--full", "--json")
		after := run.Steps()
		var snap snapshot
		if err := json.Unmarshal([]byte(out), &snap); err != nil {
			t.Fatalf("backup %d --json: %v\n%s", i, err, out)
		}
		if progressed(before, after) == 0 {
			t.Fatalf("backup %d ran with no concurrent commits (steps %v → %v): not a hot backup", i, before, after)
		}
		backups = append(backups, taken{snap, before, after})
	}
	final, err := run.Stop()
	if err != nil {
		t.Fatalf("workload: %v", err)
	}
	t.Logf("workload committed %v steps per client", final)

	if got := h.snapshots(); len(got) != 3 {
		t.Fatalf("snapshots lists %d snapshots, want 3", len(got))
	}
	for i, b := range backups {
		t.Run(fmt.Sprintf("snapshot%d", i+1), func(t *testing.T) {
			var extra []string
			if i == 0 {
				extra = []string{"--verify"} // the others are recovered by the stock mysqld
			}
			h.restoreAndCheck(t, b.snap, wcfg, b.before, b.after, extra...)
		})
	}
}

// restoreAndCheck restores snapshot snap into a fresh directory and checks it (checkDatadir).
func (h *host) restoreAndCheck(t *testing.T, snap snapshot, wcfg workload.Config, before, after []int, extra ...string) *testmysql.Server {
	t.Helper()
	target := filepath.Join(t.TempDir(), "datadir")
	h.mustRun(append([]string{"restore", "-r", h.repo, snap.ID, "--target", target}, extra...)...)
	return checkDatadir(t, target, "snapshot "+snap.ID+" ("+snap.Kind+")", wcfg, before, after, snap.GTIDExecuted)
}

// checkDatadir starts a stock mysqld on a restored datadir and checks it exactly: CHECK TABLE
// everywhere, the workload's data equal to its model at a point inside the backup's window
// [before, after] (after+1: a commit inside the backup may be acknowledged to its client only
// after Steps() was read), and the GTID set the backup recorded. It returns the running server
// for further checks.
func checkDatadir(t *testing.T, datadir, what string, wcfg workload.Config, before, after []int, gtid string) *testmysql.Server {
	t.Helper()
	return checkDatadirWith(t, datadir, what, testmysql.Options{}, wcfg, before, after, gtid)
}

// checkDatadirWith is checkDatadir with the restored server started with opts (a keyring).
func checkDatadirWith(t *testing.T, datadir, what string, opts testmysql.Options, wcfg workload.Config, before, after []int, gtid string) *testmysql.Server {
	t.Helper()
	ctx := context.Background()
	restored := testmysql.StartExisting(t, datadir, opts)
	n, err := mysqlsrc.CheckAllTables(ctx, restored.Root)
	if err != nil {
		t.Fatal(err)
	}
	res, err := workload.Check(ctx, restored.Root, wcfg)
	if err != nil {
		t.Fatalf("%s: restored data does not match the model: %v", what, err)
	}
	for c, k := range res.Steps {
		if k < before[c] || k > after[c]+1 {
			t.Errorf("%s: client %d restored at step %d, outside the backup's window [%d, %d]", what, c, k, before[c], after[c])
		}
	}
	var gtids string
	if err := restored.Root.QueryRow("SELECT @@gtid_executed").Scan(&gtids); err != nil {
		t.Fatal(err)
	}
	if normGTID(gtids) != normGTID(gtid) {
		t.Errorf("%s: restored gtid_executed %q, the backup recorded %q", what, gtids, gtid)
	}
	t.Logf("%s: %d tables OK, steps %v in window %v..%v, %d rows verified", what, n, res.Steps, before, after, res.Rows)
	return restored
}

func progressed(before, after []int) int {
	n := 0
	for c := range before {
		n += after[c] - before[c]
	}
	return n
}

func normGTID(s string) string { return strings.NewReplacer("\n", "", " ", "").Replace(s) }

// TestCutStreamRecordsNothing: a backup whose stream is cut part-way (the plugin's redo
// follower is overrun after the header, tablespaces and pages went out) records no snapshot
// and leaves nothing behind; the next backup of the same repository succeeds.
func TestCutStreamRecordsNothing(t *testing.T) {
	srv := sourcetest.StartOverrunServer(t)
	h := newHost(t, srv)
	stop := sourcetest.StartRedoLoad(t, srv)
	_, stderr, code := h.run("backup", "-c", h.config, "--full")
	stop()
	if code == 0 {
		t.Fatal("backup succeeded although its redo follower was overrun")
	}
	for _, want := range []string{"redo log overrun", "innodb_redo_log_capacity"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the host's error output does not say %q:\n%s", want, stderr)
		}
	}
	if got := h.snapshots(); len(got) != 0 {
		t.Fatalf("a failed backup was recorded: %+v", got)
	}
	for _, dir := range []string{"tmp", "streams"} {
		if entries, _ := os.ReadDir(filepath.Join(h.repo, dir)); len(entries) != 0 {
			t.Errorf("the failed backup left %d files in the repository's %s/", len(entries), dir)
		}
	}
	os.Unsetenv("PAGETRACK_TEST_REDO_DELAY")
	h.mustRun("backup", "-c", h.config, "--full")
	if got := h.snapshots(); len(got) != 1 {
		t.Fatalf("after a good backup, snapshots lists %d, want 1", len(got))
	}
}
