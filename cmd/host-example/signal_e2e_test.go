package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/pluginhost"
	"github.com/pagetrack/pagetrack/internal/proctest"
)

// TestSIGTERMWhileThePluginHangs: the host binary, waiting for a plugin that never answers
// (a script whose child holds its output pipes, which used to hang go-plugin's Kill forever),
// ends within seconds of SIGTERM, says it was interrupted, releases the repository lock and
// leaves no plugin process.
func TestSIGTERMWhileThePluginHangs(t *testing.T) {
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	cfg := filepath.Join(dir, "pagetrack.hcl")
	os.WriteFile(cfg, []byte(fmt.Sprintf("repository = %q\nsource \"mysql\" \"primary\" {\n  dsn = \"x\"\n  datadir = \"/d\"\n}\n", repoDir)), 0o600)
	var out bytes.Buffer
	if code := pluginhost.Run(context.Background(), "", []string{"init", "-r", repoDir}, &out, &out); code != 0 {
		t.Fatalf("init: %s", out.String())
	}
	fifo := filepath.Join(dir, "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "pagetrack-hang")
	os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\necho $$ > %[1]s/plugin.pid\nsleep 1000 &\necho $! > %[1]s/child.pid\necho started > %[2]s\nwait\n", dir, fifo)), 0o700)

	cmd := exec.Command(hostBinary, "backup", "-c", cfg, "--full", "--plugin", script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(fifo) // returns once the plugin opened it: the host waits for its handshake
	if err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	bufio.NewReader(f).ReadString('\n')
	f.Close()
	signalled := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	elapsed := time.Since(signalled)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("exit %v, want 1 saying interrupted:\n%s", err, stderr.String())
	}
	if elapsed > 10*time.Second {
		t.Errorf("the host took %s to end after SIGTERM", elapsed)
	}
	if es, _ := os.ReadDir(filepath.Join(repoDir, "locks")); len(es) != 0 {
		t.Errorf("locks left: %v", es)
	}
	for _, name := range []string{"plugin.pid", "child.pid"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		if !proctest.WaitExited(pid, 5*time.Second) {
			t.Errorf("plugin process %d (%s) still runs", pid, name)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
