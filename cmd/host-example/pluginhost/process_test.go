package pluginhost_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/pluginhost"
	"github.com/pagetrack/pagetrack/internal/proctest"
)

// hangingPlugin writes a shell script that is no pagetrack plugin: it records its pid, starts
// a child that holds its stdout and stderr open (as a wrapper script's children do) and
// records that one's pid, prints handshakeLine (none when empty), and waits. When fifo is not
// empty it writes "started" into it once the handshake line is out.
func hangingPlugin(t *testing.T, dir, handshakeLine, fifo string) (script string, pids func() []int) {
	t.Helper()
	script = filepath.Join(dir, "pagetrack-fake")
	body := fmt.Sprintf("#!/bin/sh\necho $$ > %s/plugin.pid\nsleep 1000 &\necho $! > %s/child.pid\n", dir, dir)
	if handshakeLine != "" {
		body += "echo '" + handshakeLine + "'\n"
	}
	if fifo != "" {
		body += "echo started > " + fifo + "\n"
	}
	body += "wait\n"
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	return script, func() []int {
		var out []int
		for _, f := range []string{"plugin.pid", "child.pid"} {
			data, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatalf("the fake plugin did not record its pids: %v", err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, pid)
		}
		return out
	}
}

// assertGone fails the test for each pid that has not ended within a few seconds of the host
// returning (the host sent SIGKILL; dying takes the process its turn on the CPU), killing it
// so that nothing outlives the test.
func assertGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if !proctest.WaitExited(pid, 5*time.Second) {
			t.Errorf("plugin process %d still runs after the host returned", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func assertNoLocks(t *testing.T, dir string) {
	t.Helper()
	if es, err := os.ReadDir(filepath.Join(dir, "repo", "locks")); err != nil || len(es) != 0 {
		t.Errorf("repository locks left behind: %v %v", es, err)
	}
}

// TestBogusHandshakeDoesNotHang: a "plugin" that prints a handshake line pointing nowhere and
// keeps a child holding its output pipes used to hang the host forever in go-plugin's Kill.
// Now the host fails with the connection error, kills the plugin's process group and
// releases the repository lock.
func TestBogusHandshakeDoesNotHang(t *testing.T) {
	defer pluginhost.SetTimeouts(10*time.Second, 3*time.Second)()
	dir, cfg := setup(t)
	script, pids := hangingPlugin(t, dir, "1|1|tcp|127.0.0.1:9|grpc", "")
	started := time.Now()
	r := runCLI(t, script, "backup", "-c", cfg, "--full")
	elapsed := time.Since(started)
	if r.code != 1 || !strings.Contains(r.stderr, "stopped unexpectedly") || !strings.Contains(r.stderr, "connection refused") {
		t.Errorf("%+v", r)
	}
	// go-plugin's graceful close (2 s), then our bound on Kill (3 s), then the group kill.
	if elapsed > 15*time.Second {
		t.Errorf("the host took %s to give up on the plugin", elapsed)
	}
	assertGone(t, pids())
	assertNoLocks(t, dir)
}

// TestSilentPluginTimesOut: a plugin that never completes the handshake is killed after the
// start timeout with an error that says so.
func TestSilentPluginTimesOut(t *testing.T) {
	defer pluginhost.SetTimeouts(time.Second, time.Second)()
	dir, cfg := setup(t)
	script, pids := hangingPlugin(t, dir, "", "")
	r := runCLI(t, script, "backup", "-c", cfg, "--full")
	if r.code != 1 || !strings.Contains(r.stderr, "starting the fake plugin "+script) || !strings.Contains(r.stderr, "did not complete go-plugin's handshake within 1s, so it was killed") {
		t.Errorf("%+v", r)
	}
	assertGone(t, pids())
	assertNoLocks(t, dir)
}

// TestSignalDuringHandshake: a signal (the cancelled context) ends the command while the
// plugin has not answered, says it was interrupted, and leaves no plugin process and no lock.
func TestSignalDuringHandshake(t *testing.T) {
	defer pluginhost.SetTimeouts(time.Minute, time.Second)()
	dir, cfg := setup(t)
	fifo := filepath.Join(dir, "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	script, pids := hangingPlugin(t, dir, "", fifo)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		f, err := os.Open(fifo) // blocks until the plugin opens it for writing
		if err != nil {
			return
		}
		bufio.NewReader(f).ReadString('\n')
		f.Close()
		cancel()
	}()
	var stdout, stderr bytes.Buffer
	started := time.Now()
	code := pluginhost.Run(ctx, script, []string{"backup", "-c", cfg, "--full"}, &stdout, &stderr)
	elapsed := time.Since(started)
	if code != 1 || !strings.Contains(stderr.String(), "interrupted while waiting for its handshake") {
		t.Errorf("exit %d\n%s", code, stderr.String())
	}
	// The handshake timeout is a minute: the signal, not the timeout, ended the command.
	if elapsed > 10*time.Second {
		t.Errorf("the command took %s to end after the signal", elapsed)
	}
	assertGone(t, pids())
	assertNoLocks(t, dir)
}
