package cli_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pagetrack/pagetrack/cmd/host-example/cli"
	"github.com/pagetrack/pagetrack/shared"
)

// crashChildEnv, when set, makes TestCrashChild run one backup in this process: the value is
// "CONFIG:VERSION". TestKilledBackups runs the test binary that way and kills it.
const crashChildEnv = "PAGETRACK_TEST_CRASH_CHILD"

// crashModel is a datadir whose backup takes a while (a delay per record): pages of version 1,
// some at version v, so that every child stores new pages as well as known ones.
func crashModel(v uint32) *datadirModel {
	m := newModel()
	m.maxBatch = 16
	m.add("ibdata1", 0, 4096, 1500, 1)
	m.add("shop/orders.ibd", 7, 4096, 500, 1)
	for p := 0; p < 200; p++ {
		m.write("ibdata1", v, (int(v)*37+p*5)%1500)
	}
	return m
}

// TestCrashChild is not a test of its own: it is the backup TestKilledBackups kills.
func TestCrashChild(t *testing.T) {
	arg := os.Getenv(crashChildEnv)
	if arg == "" {
		return // only run as TestKilledBackups' child
	}
	cfg, vs, _ := strings.Cut(arg, ":")
	v, _ := strconv.Atoi(vs)
	fake := &fakeSource{model: crashModel(uint32(v)), delay: 2 * time.Millisecond}
	code := cli.Run(context.Background(), []string{"backup", "-c", cfg, "--full"}, io.Discard, os.Stderr, cli.Options{
		LoadSource: func(context.Context, cli.PluginRef, hclog.Logger) (shared.Source, func(), error) {
			return fake, func() {}, nil
		},
		PluginPath: filepath.Join(filepath.Dir(cfg), "pagetrack-fake"),
		LookupEnv:  func(string) (string, bool) { return "backup:x@tcp(127.0.0.1:3306)/", true },
		Terminal:   func(io.Writer) bool { return false },
	})
	os.Exit(code)
}

// Backups killed (SIGKILL) at random points, several times: check passes, snapshots lists
// only complete snapshots (each restores and matches its digest), the next backup succeeds,
// and forget --prune (which needs the repository to itself) clears the stale locks and what
// the killed backups left.
func TestKilledBackups(t *testing.T) {
	h := newHarness(t, false)
	child := func(v int) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d", crashChildEnv, h.config(), v))
		return cmd
	}
	full := func(v int) {
		t.Helper()
		cmd := child(v)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("backup child: %v\n%s", err, out)
		}
	}
	full(1)
	start := time.Now()
	full(2)
	took := time.Since(start)
	t.Logf("a backup child takes %s", took)

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	killed := 0
	for i := 0; i < 10; i++ {
		cmd := child(10 + i)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(took + took/4))))
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok && ee.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
			killed++
		}
	}
	t.Logf("%d of 10 backups killed", killed)
	if killed == 0 {
		t.Fatal("no backup was killed; the test proves nothing")
	}

	if code, c, stderr := h.checkJSON("--read-data"); code != 0 || !c.OK {
		t.Fatalf("check after the kills: exit %d %+v\n%s", code, c, stderr)
	}
	snaps := h.snapshotsJSON()
	if len(snaps) < 2 || len(snaps) > 12 {
		t.Fatalf("%d snapshots listed", len(snaps))
	}
	for _, s := range snaps {
		h.restoreOK(t, s["id"].(string)) // restore checks the stream against its digest
	}
	full(99)
	if n := len(h.snapshotsJSON()); n != len(snaps)+1 {
		t.Errorf("the backup after the kills was not recorded: %d snapshots, %d before", n, len(snaps))
	}
	code, stdout, stderr := h.run("forget", "-r", h.repo(), "--keep-last", "100", "--prune")
	if code != 0 {
		t.Fatalf("forget --prune after the kills: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, c, _ := h.checkJSON("--read-data"); code != 0 || len(c.Info) != 0 {
		t.Errorf("check after prune: exit %d %+v", code, c)
	}
	if entries, _ := os.ReadDir(filepath.Join(h.repo(), "locks")); len(entries) != 0 {
		t.Errorf("locks left: %v", entries)
	}
}
