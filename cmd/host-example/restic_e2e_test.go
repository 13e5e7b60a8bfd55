package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/internal/sourcetest"
	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/internal/workload"
)

// The restic interop tests run the real restic (scripts/provision-restic.sh fetches it from
// Debian sid; PAGETRACK_RESTIC names another) with the real host-example binary as the
// command restic runs, which starts the real plugin: restic → host-example → pagetrack-mysql.

var (
	hostOnce sync.Once
	hostBin  string
	hostErr  error

	resticOnce sync.Once
	resticBin  string
	resticErr  error
)

// hostExample builds bin/host-example once, next to the plugin TestMain built.
func hostExample(t *testing.T) string {
	t.Helper()
	hostOnce.Do(func() {
		hostBin = filepath.Join(filepath.Dir(pluginBinary), "host-example")
		out, err := exec.Command("go", "build", "-o", hostBin, "github.com/pagetrack/pagetrack/cmd/host-example").CombinedOutput()
		if err != nil {
			hostErr = fmt.Errorf("building host-example: %v\n%s", err, out)
		}
	})
	if hostErr != nil {
		t.Fatal(hostErr)
	}
	return hostBin
}

// restic provisions restic (cached after the first run) and returns its path. A missing
// restic fails the test: the interop is part of what make test checks.
func restic(t *testing.T) string {
	t.Helper()
	resticOnce.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			resticErr = err
			return
		}
		cmd := exec.Command(filepath.Join(root, "scripts/provision-restic.sh"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			resticErr = fmt.Errorf("provisioning restic (scripts/provision-restic.sh): %v\n%s", err, stderr.String())
			return
		}
		resticBin = strings.TrimSpace(string(out))
	})
	if resticErr != nil {
		t.Fatal(resticErr)
	}
	return resticBin
}

// resticRepo is a restic repository in a temporary directory and the environment to run
// restic and host-example with.
type resticRepo struct {
	t      *testing.T
	restic string
	host   string
	config string
	state  string
	env    []string
}

func newResticRepo(t *testing.T, srv *testmysql.Server) *resticRepo {
	dir := t.TempDir()
	r := &resticRepo{
		t: t, restic: restic(t), host: hostExample(t),
		config: filepath.Join(dir, "pagetrack.hcl"), state: filepath.Join(dir, "state", "pagetrack.json"),
	}
	cfg := fmt.Sprintf("state_file = %q\nplugin \"mysql\" { path = %q }\n\nsource \"mysql\" \"primary\" {\n  dsn     = env(\"PAGETRACK_TEST_DSN\")\n  datadir = %q\n}\n",
		r.state, pluginBinary, srv.DataDir)
	if err := os.WriteFile(r.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r.env = append(os.Environ(),
		"RESTIC_REPOSITORY="+filepath.Join(dir, "restic-repo"),
		"RESTIC_PASSWORD=pagetrack-restic-test",
		"RESTIC_CACHE_DIR="+filepath.Join(dir, "restic-cache"),
		"PAGETRACK_TEST_DSN="+srv.DSN,
	)
	if out, err := r.cmd(r.restic, "init").CombinedOutput(); err != nil {
		t.Fatalf("restic init: %v\n%s", err, out)
	}
	return r
}

func (r *resticRepo) cmd(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = r.env
	return cmd
}

// backup runs `restic backup --stdin-from-command` with host-example backup --stdout as the
// command and returns restic's snapshot id, or the error and restic's stderr.
func (r *resticRepo) backup(name string, hostArgs ...string) (string, string, error) {
	args := append([]string{"backup", "--json", "--stdin-filename", name, "--stdin-from-command", "--", r.host, "backup", "--stdout", "-c", r.config}, hostArgs...)
	cmd := r.cmd(r.restic, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r.t.Logf("restic backup %s (%s): %v", name, time.Since(start).Round(time.Millisecond), err)
	if err != nil {
		return "", stderr.String(), err
	}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var msg struct {
			MessageType string `json:"message_type"`
			SnapshotID  string `json:"snapshot_id"`
			TotalBytes  uint64 `json:"total_bytes_processed"`
			DataAdded   uint64 `json:"data_added"`
		}
		if json.Unmarshal(sc.Bytes(), &msg) == nil && msg.MessageType == "summary" {
			r.t.Logf("restic snapshot %s: %d bytes read from host-example, %d added to the repository", msg.SnapshotID, msg.TotalBytes, msg.DataAdded)
			return msg.SnapshotID, stderr.String(), nil
		}
	}
	return "", stderr.String(), fmt.Errorf("restic backup printed no summary:\n%s", stdout.String())
}

func (r *resticRepo) snapshots() []map[string]any {
	r.t.Helper()
	out, err := r.cmd(r.restic, "snapshots", "--json").Output()
	if err != nil {
		r.t.Fatalf("restic snapshots: %v", err)
	}
	var list []map[string]any
	if err := json.Unmarshal(out, &list); err != nil {
		r.t.Fatalf("restic snapshots --json: %v\n%s", err, out)
	}
	return list
}

// stateEntry is the part of host-example's state file the tests read.
type stateEntry struct {
	ID            string `json:"id"`
	Kind          string `json:"kind"`
	Parent        string `json:"parent"`
	StreamSHA256  string `json:"stream_sha256"`
	CheckpointLSN uint64 `json:"checkpoint_lsn"`
	EndLSN        uint64 `json:"end_lsn"`
	GTIDExecuted  string `json:"gtid_executed"`
}

func (r *resticRepo) stateEntry() *stateEntry {
	r.t.Helper()
	data, err := os.ReadFile(r.state)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		r.t.Fatal(err)
	}
	var st struct {
		Sources map[string]*stateEntry `json:"sources"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		r.t.Fatal(err)
	}
	return st.Sources["primary"]
}

// restoreFromJSON is the part of `restore --from … --json` the test reads.
type restoreFromJSON struct {
	Snapshot     string `json:"snapshot"`
	EndLSN       uint64 `json:"end_lsn"`
	GTIDExecuted string `json:"gtid_executed"`
	Streams      []struct {
		ID           string `json:"id"`
		Kind         string `json:"kind"`
		Parent       string `json:"parent"`
		Method       string `json:"method"`
		StreamSHA256 string `json:"stream_sha256"`
		GTIDExecuted string `json:"gtid_executed"`
		Pages        uint64 `json:"pages"`
		PageBytes    uint64 `json:"page_bytes"`
		RedoBytes    uint64 `json:"redo_bytes"`
		BinlogBytes  uint64 `json:"binlog_bytes"`
		StreamBytes  uint64 `json:"stream_bytes"`
	} `json:"streams"`
}

// TestResticRoundTrip is the restic interop acceptance: under the four-client workload, a full
// and an incremental backup go into a restic repository through `restic backup
// --stdin-from-command -- host-example backup --stdout`; `restic dump` of both, concatenated
// into `host-example restore --from -`, gives a datadir a stock mysqld starts on, and its data
// is checked exactly: every table, the workload's model within the incremental's window, and
// the GTID set of the incremental.
func TestResticRoundTrip(t *testing.T) {
	ctx := context.Background()
	srv, wcfg := startWorkloadServer(t)
	run, err := workload.Start(ctx, srv.Root, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	r := newResticRepo(t, srv)

	if err := run.WaitSteps(ctx, 30); err != nil {
		t.Fatal(err)
	}
	fullSnap, stderr, err := r.backup("mysql-full.pgt", "--full")
	if err != nil {
		t.Fatalf("restic backup of the full: %v\n%s", err, stderr)
	}
	full := r.stateEntry()
	if full == nil || full.Kind != "full" {
		t.Fatalf("state after the full: %+v\n%s", full, stderr)
	}

	if err := run.WaitSteps(ctx, 30); err != nil {
		t.Fatal(err)
	}
	before := run.Steps()
	incSnap, stderr, err := r.backup("mysql-inc.pgt")
	after := run.Steps()
	if err != nil {
		t.Fatalf("restic backup of the incremental: %v\n%s", err, stderr)
	}
	inc := r.stateEntry()
	if inc.Kind != "incremental" || inc.Parent != full.ID {
		t.Fatalf("state after the incremental: %+v (full %s)\n%s", inc, full.ID, stderr)
	}
	if progressed(before, after) == 0 {
		t.Fatalf("the incremental ran with no concurrent commits (steps %v → %v): not a hot backup", before, after)
	}
	final, err := run.Stop()
	if err != nil {
		t.Fatalf("workload: %v", err)
	}
	t.Logf("workload committed %v steps per client; restic snapshots %s (full %s), %s (incremental %s on %s)", final, fullSnap, full.ID, incSnap, inc.ID, inc.Parent)
	if got := r.snapshots(); len(got) != 2 {
		t.Fatalf("restic holds %d snapshots, want 2", len(got))
	}

	// What a user types: both dumps, in order, into one restore.
	target := filepath.Join(t.TempDir(), "datadir")
	pipeline := `set -o pipefail; { "$RESTIC" dump "$FULL" mysql-full.pgt && "$RESTIC" dump latest mysql-inc.pgt; } | "$HOST" restore --from - --target "$TARGET" --json`
	cmd := r.cmd("bash", "-c", pipeline)
	cmd.Env = append(cmd.Env, "RESTIC="+r.restic, "HOST="+r.host, "FULL="+fullSnap, "TARGET="+target)
	var stdout, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("restic dump … | host-example restore --from -: %v\n%s", err, errb.String())
	}
	t.Logf("restic dump | host-example restore --from -: %s", time.Since(start).Round(time.Millisecond))
	var res restoreFromJSON
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("restore --from - --json: %v\n%s", err, stdout.String())
	}
	if res.Snapshot != inc.ID || len(res.Streams) != 2 || res.Streams[0].ID != full.ID || res.Streams[1].Parent != full.ID ||
		res.Streams[0].StreamSHA256 != full.StreamSHA256 || res.Streams[1].StreamSHA256 != inc.StreamSHA256 {
		t.Fatalf("restore --json: %+v\nstate: full %+v, incremental %+v", res, full, inc)
	}
	for _, s := range res.Streams {
		t.Logf("stream %s (%s, %s): %d bytes: %d pages (%d bytes), redo %d bytes, binlog %d bytes",
			s.ID, s.Kind, s.Method, s.StreamBytes, s.Pages, s.PageBytes, s.RedoBytes, s.BinlogBytes)
	}
	if res.Streams[1].Method != "page-tracking" {
		t.Errorf("the incremental used %q, want page-tracking: it must build on the full's source state", res.Streams[1].Method)
	}
	if res.EndLSN != inc.EndLSN || normGTID(res.GTIDExecuted) != normGTID(inc.GTIDExecuted) || res.GTIDExecuted == "" {
		t.Errorf("restore --json names end LSN %d, GTID set %q; the incremental's are %d, %q", res.EndLSN, res.GTIDExecuted, inc.EndLSN, inc.GTIDExecuted)
	}

	checkDatadir(t, target, "restic restore of "+inc.ID, wcfg, before, after, res.GTIDExecuted)
}

// TestResticFailedBackupRecordsNothing: when host-example fails in the middle of its stream
// (the plugin's redo follower is overrun after pages went out), `restic backup` fails and
// restic records no snapshot; the state file does not move on; the next backup succeeds.
func TestResticFailedBackupRecordsNothing(t *testing.T) {
	srv := sourcetest.StartOverrunServer(t)
	r := newResticRepo(t, srv)
	stop := sourcetest.StartRedoLoad(t, srv)
	_, stderr, err := r.backup("mysql.pgt", "--full")
	stop()
	if err == nil {
		t.Fatal("restic backup succeeded although host-example's backup failed")
	}
	for _, want := range []string{"redo log overrun", "the stream on stdout is incomplete"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("restic's error output does not pass on %q:\n%s", want, stderr)
		}
	}
	if got := r.snapshots(); len(got) != 0 {
		t.Fatalf("restic recorded a snapshot of a failed backup: %v", got)
	}
	if e := r.stateEntry(); e != nil {
		t.Fatalf("the state file recorded a failed backup: %+v", e)
	}

	os.Unsetenv("PAGETRACK_TEST_REDO_DELAY")
	r.env = append(os.Environ(), r.env[len(r.env)-4:]...) // newResticRepo's four, last
	if _, stderr, err := r.backup("mysql.pgt", "--full"); err != nil {
		t.Fatalf("the backup after the failed one: %v\n%s", err, stderr)
	}
	if got := r.snapshots(); len(got) != 1 {
		t.Fatalf("restic holds %d snapshots after a good backup, want 1", len(got))
	}
	if e := r.stateEntry(); e == nil || e.Kind != "full" {
		t.Fatalf("state after the good backup: %+v", e)
	}
}
