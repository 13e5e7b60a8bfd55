package pluginhost_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/pagetrack/pagetrack/cmd/host-example/pluginhost"
)

var (
	buildOnce sync.Once
	pluginBin string
	buildErr  error
	buildOut  []byte
)

// fakePlugin builds testdata/fakeplugin, a real go-plugin process serving an in-memory source.
func fakePlugin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pluginhost-test")
		if err != nil {
			buildErr = err
			return
		}
		pluginBin = filepath.Join(dir, "pagetrack-fake")
		cmd := exec.Command("go", "build", "-o", pluginBin, "./testdata/fakeplugin")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building the fake plugin: %v\n%s", buildErr, buildOut)
	}
	return pluginBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pluginBin != "" {
		os.RemoveAll(filepath.Dir(pluginBin))
	}
	os.Exit(code)
}

type run struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, pluginPath string, args ...string) run {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := pluginhost.Run(context.Background(), pluginPath, args, &stdout, &stderr)
	return run{code, stdout.String(), stderr.String()}
}

func setup(t *testing.T) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	cfg = filepath.Join(dir, "backup.hcl")
	os.WriteFile(cfg, []byte(`repository = "repo"
source "fake" "primary" {
  dsn     = env("FAKE_DSN")
  datadir = "/var/lib/mysql"
}
`), 0o600)
	t.Setenv("FAKE_DSN", "backup:fake-secret-pw@tcp(localhost)/")
	if r := runCLI(t, "", "init", "-r", filepath.Join(dir, "repo")); r.code != 0 {
		t.Fatalf("init: %+v", r)
	}
	return dir, cfg
}

func TestThroughPluginProcess(t *testing.T) {
	bin := fakePlugin(t)
	dir, cfg := setup(t)

	r := runCLI(t, bin, "backup", "-c", cfg, "--full")
	if r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	if !regexp.MustCompile(`^snapshot [0-9a-f]{16} saved`).MatchString(r.stdout) {
		t.Errorf("backup stdout:\n%s", r.stdout)
	}
	// The plugin's hclog lines come out under the host's logger, named after the plugin.
	if !strings.Contains(r.stderr, "host-example.pagetrack-fake: fake backup starting") {
		t.Errorf("plugin log not relayed:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "fake-secret-pw") {
		t.Errorf("secret printed:\n%s%s", r.stdout, r.stderr)
	}

	target := filepath.Join(dir, "restored")
	r = runCLI(t, bin, "restore", "-c", cfg, "latest", "--target", target)
	if r.code != 0 || !strings.Contains(r.stdout, "pages      4") {
		t.Fatalf("restore: %+v", r)
	}
	if _, err := os.Stat(target); err != nil {
		t.Error(err)
	}

	// --plugin wins over the default.
	r = runCLI(t, filepath.Join(dir, "nope"), "backup", "-c", cfg, "--full", "--plugin", bin)
	if r.code != 0 {
		t.Errorf("backup --plugin: %+v", r)
	}
}

func TestPluginCrash(t *testing.T) {
	bin := fakePlugin(t)
	dir, cfg := setup(t)
	t.Setenv("FAKEPLUGIN_MODE", "crash")
	r := runCLI(t, bin, "backup", "-c", cfg, "--full")
	if r.code != 1 || !strings.Contains(r.stderr, "stopped unexpectedly") || !strings.Contains(r.stderr, "nothing was recorded") {
		t.Errorf("%+v", r)
	}
	for _, sub := range []string{"snapshots", "streams", "tmp"} {
		if es, _ := os.ReadDir(filepath.Join(dir, "repo", sub)); len(es) != 0 {
			t.Errorf("%s/ holds %v", sub, es)
		}
	}
}

func TestMissingPlugin(t *testing.T) {
	dir, cfg := setup(t)
	missing := filepath.Join(dir, "bin", "pagetrack-fake")
	r := runCLI(t, missing, "backup", "-c", cfg, "--full")
	if r.code != 1 || !strings.Contains(r.stderr, missing) || !strings.Contains(r.stderr, "make build") {
		t.Errorf("%+v", r)
	}

	notExec := filepath.Join(dir, "pagetrack-fake")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o600)
	r = runCLI(t, notExec, "backup", "-c", cfg, "--full")
	if r.code != 1 || !strings.Contains(r.stderr, "not executable") {
		t.Errorf("%+v", r)
	}

	// A plugin block in the configuration names the path, relative to the config file.
	os.WriteFile(cfg, []byte(`repository = "repo"
plugin "fake" { path = "plugins/pagetrack-fake" }
source "fake" "primary" {
  dsn     = "x"
  datadir = "/d"
}
`), 0o600)
	r = runCLI(t, "", "backup", "-c", cfg, "--full")
	if r.code != 1 || !strings.Contains(r.stderr, filepath.Join(dir, "plugins", "pagetrack-fake")) || !strings.Contains(r.stderr, "backup.hcl:2:1") {
		t.Errorf("%+v", r)
	}
}

func TestNotAPlugin(t *testing.T) {
	dir, cfg := setup(t)
	script := filepath.Join(dir, "pagetrack-fake")
	os.WriteFile(script, []byte("#!/bin/sh\necho hello\n"), 0o700)
	r := runCLI(t, script, "backup", "-c", cfg, "--full")
	if r.code != 1 || !strings.Contains(r.stderr, "starting the fake plugin") {
		t.Errorf("%+v", r)
	}
}

// TestIncrementalThroughPluginProcess takes a full and an incremental through the plugin
// process and restores the incremental: the plugin gets one merged stream with the newest
// copy of every page.
func TestIncrementalThroughPluginProcess(t *testing.T) {
	bin := fakePlugin(t)
	dir, cfg := setup(t)
	if r := runCLI(t, bin, "backup", "-c", cfg); r.code != 0 || !strings.Contains(r.stderr, "taking a full backup") || !strings.Contains(r.stdout, "kind       full") {
		t.Fatalf("first backup: %+v", r)
	}
	r := runCLI(t, bin, "backup", "-c", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "kind       incremental on ") || !strings.Contains(r.stdout, "(page-tracking)") {
		t.Fatalf("incremental: %+v", r)
	}
	target := filepath.Join(dir, "restored")
	r = runCLI(t, bin, "restore", "-c", cfg, "latest", "--target", target)
	if r.code != 0 || !strings.Contains(r.stdout, "pages      4") || !strings.Contains(r.stdout, "chain      2 snapshots") {
		t.Fatalf("restore: %+v", r)
	}
	got, err := os.ReadFile(filepath.Join(target, "ibdata1"))
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(bytes.Repeat([]byte{1}, 2*16384), bytes.Repeat([]byte{2}, 16384)...), bytes.Repeat([]byte{1}, 16384)...)
	if !bytes.Equal(got, want) {
		t.Errorf("restored ibdata1 is not the full's pages with page 2 from the incremental")
	}
}
