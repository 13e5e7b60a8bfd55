package repo

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func writeLock(t *testing.T, r *Local, info LockInfo) string {
	t.Helper()
	b, _ := json.Marshal(info)
	path := filepath.Join(r.Location(), locksDir, info.ID+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLockConflicts(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	a, err := r.Lock(ctx, false, "backup")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Lock(ctx, false, "restore")
	if err != nil {
		t.Fatalf("two shared locks: %v", err)
	}
	_, err = r.Lock(ctx, true, "forget --prune")
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.PID != os.Getpid() || le.Holder.Exclusive || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("exclusive under shared locks: %v", err)
	}
	a.Unlock()
	b.Unlock()
	b.Unlock() // twice is fine
	x, err := r.Lock(ctx, true, "forget --prune")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lock(ctx, false, "backup"); !errors.As(err, &le) || !le.Holder.Exclusive || !strings.Contains(err.Error(), `an exclusive lock for "forget --prune"`) {
		t.Errorf("shared under an exclusive lock: %v", err)
	}
	// A backup started under an exclusive lock of another process is refused too.
	other, _ := Open(r.Location())
	if _, err := other.NewStream(ctx); !errors.As(err, &le) {
		t.Errorf("NewStream under an exclusive lock: %v", err)
	}
	x.Unlock()
	if es := dirEntries(t, filepath.Join(r.Location(), locksDir)); len(es) != 0 {
		t.Errorf("locks left: %v", es)
	}
}

func TestStaleLocks(t *testing.T) {
	r := newRepo(t)
	var logs strings.Builder
	r.SetLogger(hclog.New(&hclog.LoggerOptions{Output: &logs}))
	ctx := context.Background()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host := hostname()
	// Same host, process gone: stale.
	gone := writeLock(t, r, LockInfo{ID: "1111111111111111", PID: dead.Process.Pid, Hostname: host, Time: time.Now(), Exclusive: true, Purpose: "forget"})
	// Another host, not refreshed for an hour: stale.
	old := writeLock(t, r, LockInfo{ID: "2222222222222222", PID: 1, Hostname: "elsewhere", Time: time.Now().Add(-time.Hour), Purpose: "backup"})
	lk, err := r.Lock(ctx, true, "prune")
	if err != nil {
		t.Fatal(err)
	}
	lk.Unlock()
	for _, p := range []string{gone, old} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("stale lock %s is still there", p)
		}
		if !strings.Contains(logs.String(), "removed stale lock "+p) {
			t.Errorf("no log line for %s:\n%s", p, logs.String())
		}
	}
	// Another host, fresh: held.
	writeLock(t, r, LockInfo{ID: "3333333333333333", PID: 1, Hostname: "elsewhere", Time: time.Now(), Purpose: "backup"})
	if _, err := r.Lock(ctx, true, "prune"); err == nil || !strings.Contains(err.Error(), "pid 1 on host elsewhere") {
		t.Errorf("a fresh lock of another host: %v", err)
	}
	// A lock file that does not parse is not guessed about.
	os.Remove(filepath.Join(r.Location(), locksDir, "3333333333333333.json"))
	damaged := filepath.Join(r.Location(), locksDir, "4444444444444444.json")
	os.WriteFile(damaged, []byte("{"), 0o600)
	if _, err := r.Lock(ctx, false, "backup"); err == nil || !strings.Contains(err.Error(), "cannot be read") {
		t.Errorf("a damaged lock file: %v", err)
	}
	// Once old, it is stale.
	hourAgo := time.Now().Add(-time.Hour)
	os.Chtimes(damaged, hourAgo, hourAgo)
	lk, err = r.Lock(ctx, false, "backup")
	if err != nil || !strings.Contains(logs.String(), "removed stale lock "+damaged) {
		t.Errorf("an old damaged lock file: %v\n%s", err, logs.String())
	}
	lk.Unlock()
}
