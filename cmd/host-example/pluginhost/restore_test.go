package pluginhost_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/cmd/host-example/pluginhost"
)

// watchWriter collects what is written and calls onMatch once when needle appears.
type watchWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	needle  string
	onMatch func()
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.onMatch != nil && strings.Contains(w.buf.String(), w.needle) {
		w.onMatch()
		w.onMatch = nil
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// damagePages flips a byte of the blob every page of the fake plugin's full backup is.
func damagePages(t *testing.T, repoDir string) {
	t.Helper()
	r, err := repo.Open(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	path, off, n, err := r.Locate(repo.Hash(bytes.Repeat([]byte{1}, 16384)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off+n/2)
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off+n/2); err != nil {
		t.Fatal(err)
	}
}

// TestFailedRestoreLeavesNothing: whoever makes a restore fail — the host on damaged data,
// the plugin with an error or killed, a signal to the host — the target is left as it was
// (absent, or an existing empty directory, empty), the error says so, and no plugin process,
// lock or snapshot is lost or left behind.
func TestFailedRestoreLeavesNothing(t *testing.T) {
	bin := fakePlugin(t)
	for _, tc := range []struct {
		name, mode string
		damage     bool
		want       string
	}{
		{"damaged blob", "", true, "is damaged"},
		{"plugin error", "restore-fail", false, "fake restore failure after writing pages"},
		{"plugin killed", "restore-kill", false, "stopped unexpectedly"},
		{"host interrupted", "restore-block", false, "interrupted: the restore of snapshot"},
	} {
		for _, existing := range []bool{false, true} {
			name := tc.name + "/new target"
			if existing {
				name = tc.name + "/empty target"
			}
			t.Run(name, func(t *testing.T) {
				dir, cfg := setup(t)
				if r := runCLI(t, bin, "backup", "-c", cfg, "--full"); r.code != 0 {
					t.Fatalf("backup: %+v", r)
				}
				if tc.damage {
					damagePages(t, filepath.Join(dir, "repo"))
				}
				pidFile := filepath.Join(dir, "plugin.pid")
				t.Setenv("FAKEPLUGIN_MODE", tc.mode)
				t.Setenv("FAKEPLUGIN_PIDFILE", pidFile)
				created := filepath.Join(dir, "restored")
				target := filepath.Join(created, "datadir")
				if existing {
					if err := os.MkdirAll(target, 0o700); err != nil {
						t.Fatal(err)
					}
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				stderr := &watchWriter{needle: "fake restore blocking", onMatch: cancel}
				var stdout bytes.Buffer
				code := pluginhost.Run(ctx, bin, []string{"restore", "-c", cfg, "latest", "--target", target}, &stdout, stderr)
				wantEnd := "restore failed; " + created + " removed (the restore had created it), nothing was left behind"
				if existing {
					wantEnd = "restore failed; " + target + " left empty, as it was before"
				}
				if code != 1 || !strings.Contains(stderr.String(), tc.want) || !strings.Contains(stderr.String(), wantEnd) {
					t.Errorf("exit %d; want the error to say %q and %q:\n%s", code, tc.want, wantEnd, stderr.String())
				}
				if existing {
					if es, err := os.ReadDir(target); err != nil || len(es) != 0 {
						t.Errorf("the target holds %v (%v), want it empty", es, err)
					}
				} else if _, err := os.Lstat(created); !os.IsNotExist(err) {
					t.Errorf("%s is left behind (%v)", created, err)
				}
				data, err := os.ReadFile(pidFile)
				if err != nil {
					t.Fatal(err)
				}
				pid, _ := strconv.Atoi(string(data))
				assertGone(t, []int{pid})
				assertNoLocks(t, dir)
				if es, _ := os.ReadDir(filepath.Join(dir, "repo", "snapshots")); len(es) != 1 {
					t.Errorf("the repository holds %d snapshots, want the 1 taken", len(es))
				}
			})
		}
	}
}
