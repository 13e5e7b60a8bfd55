package cli_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/pagetrack/pagetrack/cmd/host-example/cli"
	"github.com/pagetrack/pagetrack/shared"
)

// spoolChildEnv, when set, makes TestRestoreFromChild run restore --from FIFO in this
// process: the value is "FIFO:TARGET". TestKilledRestoreFromLeavesNothing runs the test binary
// that way and kills it.
const spoolChildEnv = "PAGETRACK_TEST_SPOOL_CHILD"

// TestRestoreFromChild is not a test of its own: it is the restore --from that
// TestKilledRestoreFromLeavesNothing kills while it waits for its input.
func TestRestoreFromChild(t *testing.T) {
	arg := os.Getenv(spoolChildEnv)
	if arg == "" {
		return // only run as TestKilledRestoreFromLeavesNothing's child
	}
	fifo, target, _ := strings.Cut(arg, ":")
	code := cli.Run(context.Background(), []string{"restore", "--from", fifo, "--target", target}, io.Discard, os.Stderr, cli.Options{
		LoadSource: func(context.Context, cli.PluginRef, hclog.Logger) (shared.Source, func(), error) {
			return &fakeSource{}, func() {}, nil
		},
		PluginPath: filepath.Join(filepath.Dir(target), "pagetrack-fake"),
	})
	os.Exit(code)
}

// A restore --from keeps the streams' data in a scratch file that has no name from the moment
// it is created: while it reads its input and once killed with SIGKILL, nothing of it is in
// the directory, and the next restore --from there has nothing to clean up.
func TestKilledRestoreFromLeavesNothing(t *testing.T) {
	h := newStdioHarness(t, false)
	full, _ := h.stdoutBackup("--full")
	parent := t.TempDir()
	fifo := filepath.Join(t.TempDir(), "stream")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRestoreFromChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), spoolChildEnv+"="+fifo+":"+filepath.Join(parent, "d"))
	var childErr bytes.Buffer
	cmd.Stderr = &childErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Opening the FIFO for writing returns once the child opened it for reading, which it
	// does after creating its scratch file.
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	w.Write(full[:len(full)/2])
	if names := dirNames(t, parent); len(names) != 0 {
		t.Errorf("while restore --from reads its input, %s holds %v", parent, names)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	w.Close()
	if names := dirNames(t, parent); len(names) != 0 {
		t.Fatalf("the killed restore --from left %v (child's stderr:\n%s)", names, childErr.String())
	}

	code, stdout, stderr := h.restoreFrom(full, "--from", "-", "--target", filepath.Join(parent, "d"))
	if code != 0 || !strings.Contains(stdout, "read 1 stream(s)") {
		t.Fatalf("restore --from: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, name := range dirNames(t, parent) {
		if name != "d" { // the fake plugin writes nothing; a real one writes the target
			t.Errorf("after the restore %s holds %s", parent, name)
		}
	}
}

// restore --from into a file fails before reading any stream, creating nothing.
func TestRestoreFromTargetIsFile(t *testing.T) {
	h := newStdioHarness(t, false)
	parent := t.TempDir()
	target := filepath.Join(parent, "d")
	os.WriteFile(target, []byte("not a directory"), 0o600)
	in := &signalReader{}
	defer cli.SetStdin(in)()
	code, _, stderr := h.run("restore", "--from", "-", "--target", target)
	if code != 1 || !strings.Contains(stderr, "restore target "+target+" is a file, not a directory") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	if in.reads != 0 {
		t.Errorf("stdin was read %d times before the target was refused", in.reads)
	}
	if names := dirNames(t, parent); len(names) != 1 {
		t.Errorf("%s holds %v, want only the file", parent, names)
	}
	if data, _ := os.ReadFile(target); string(data) != "not a directory" {
		t.Errorf("the file was changed: %q", data)
	}
}

// signalReader counts reads; when onRead is set, the first read calls it and then blocks
// until unblock is closed, as a pipe with nothing written into it does.
type signalReader struct {
	reads   int
	onRead  func()
	unblock chan struct{}
}

func (r *signalReader) Read([]byte) (int, error) {
	r.reads++
	if r.onRead == nil {
		return 0, io.EOF
	}
	r.onRead()
	r.onRead = func() {}
	<-r.unblock
	return 0, io.EOF
}

// A signal while restore --from waits for its input ends it at once, saying "interrupted",
// with no temporary repository and no target left.
func TestRestoreFromInterrupted(t *testing.T) {
	h := newStdioHarness(t, false)
	parent := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := &signalReader{onRead: cancel, unblock: make(chan struct{})}
	defer close(in.unblock)
	defer cli.SetStdin(in)()
	target := filepath.Join(parent, "new", "d") // its parent, too, is made for the restore
	code, _, stderr := h.runCtx(ctx, "restore", "--from", "-", "--target", target)
	if code != 1 || !strings.Contains(stderr, "interrupted while reading the streams: nothing was written to "+target) {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	if names := dirNames(t, parent); len(names) != 0 {
		t.Errorf("left behind in %s: %v", parent, names)
	}
}

// Every command a signal ends says it was interrupted and releases the repository lock.
func TestEveryCommandSaysInterrupted(t *testing.T) {
	h := newStdioHarness(t, false)
	h.backup()
	full, _ := h.stdoutBackup("--full")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, args := range [][]string{
		{"backup", "-c", h.config(), "--full"},
		{"backup", "--stdout", "-c", h.config(), "--full"},
		{"snapshots", "-r", h.repo()},
		{"restore", "-r", h.repo(), "latest", "--target", filepath.Join(t.TempDir(), "d")},
		{"restore", "--from", "-", "--target", filepath.Join(t.TempDir(), "d")},
		{"check", "-r", h.repo(), "--read-data"},
		{"forget", "-r", h.repo(), "--keep-last", "1", "--prune"},
		{"stats", "-r", h.repo()},
	} {
		restore := cli.SetStdin(bytes.NewReader(full))
		code, _, stderr := h.runCtx(ctx, args...)
		restore()
		t.Logf("%v: exit %d %s", args[0], code, firstErrorLine(stderr))
		if code != 0 && !strings.Contains(stderr, "error: interrupted") {
			t.Errorf("%v: exit %d without saying it was interrupted:\n%s", args, code, stderr)
		}
		if names := dirNames(t, filepath.Join(h.repo(), "locks")); len(names) != 0 {
			t.Errorf("%v left locks %v", args, names)
		}
	}
	if n := len(h.snapshotsJSON()); n != 1 {
		t.Errorf("%d snapshots after the interrupted commands, want the 1 taken", n)
	}
}

func firstErrorLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "error") {
			return l
		}
	}
	return ""
}
