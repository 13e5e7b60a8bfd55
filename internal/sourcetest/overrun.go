package sourcetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/shared"
)

// RunRedoOverrun checks that a backup whose redo follower falls behind the server's redo ring
// fails loudly instead of producing an unrecoverable backup. The server runs with the smallest
// redo capacity (8 MiB) under a write load, and the follower is slowed by the test-only
// PAGETRACK_TEST_REDO_DELAY throttle (one 64 KiB read per 500 ms, 128 KiB/s), so the ring
// is recycled past the follower. The backup starts only once the load has written 16 MiB of
// redo, so the load is known to outpace the follower many times over.
func RunRedoOverrun(t *testing.T, newSource NewSource) {
	srv := StartOverrunServer(t)
	src := newSource(t)
	stop := StartRedoLoad(t, srv)
	stream, err := src.Backup(context.Background(), &shared.BackupRequest{Config: Config(srv)})
	if err == nil {
		_, err = drain(stream)
	}
	stop()
	CheckOverrunError(t, err)
}

// StartOverrunServer starts a server with the smallest redo capacity (8 MiB) and sets the
// follower throttle for the rest of the test (the plugin, in or out of process, reads it).
func StartOverrunServer(t *testing.T) *testmysql.Server {
	srv := testmysql.Start(t, testmysql.Options{RedoCapacity: 8 << 20})
	srv.MustExec("CREATE DATABASE churn")
	srv.MustExec("CREATE TABLE churn.t (id INT PRIMARY KEY, b LONGBLOB)")
	t.Setenv("PAGETRACK_TEST_REDO_DELAY", "500ms")
	return srv
}

// CheckOverrunError asserts that err is the overrun refusal.
func CheckOverrunError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("the backup succeeded although its redo follower was slower than the redo ring")
	}
	for _, want := range []string{"redo log overrun", "innodb_redo_log_capacity is 8388608 bytes", "not usable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// StartRedoLoad runs three clients rewriting large rows and returns once they have written
// 16 MiB of redo, so the load is known to outpace the throttled follower many times over.
// The returned function stops the load and fails the test if the load itself failed.
func StartRedoLoad(t *testing.T, srv *testmysql.Server) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	loadErr := make(chan error, 3)
	for c := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loadErr <- writeLoad(ctx, srv.Root, c)
		}()
	}
	stop = func() {
		cancel()
		wg.Wait()
		close(loadErr)
		for e := range loadErr {
			if e != nil && !errors.Is(e, context.Canceled) {
				t.Errorf("write load failed: %v", e)
			}
		}
	}
	if err := waitForRedo(ctx, srv.Root, 16<<20); err != nil {
		stop()
		t.Fatal(err)
	}
	return stop
}

// waitForRedo waits until the server's LSN has advanced by n bytes.
func waitForRedo(ctx context.Context, db *sql.DB, n uint64) error {
	lsn := func() (uint64, error) {
		var v uint64
		err := db.QueryRowContext(ctx, "SELECT VARIABLE_VALUE FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Innodb_redo_log_current_lsn'").Scan(&v)
		return v, err
	}
	start, err := lsn()
	if err != nil {
		return err
	}
	for {
		now, err := lsn()
		if err != nil {
			return err
		}
		if now-start >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// writeLoad rewrites large rows until ctx ends: several MB of redo per second.
func writeLoad(ctx context.Context, db *sql.DB, client int) error {
	for i := 0; ; i++ {
		_, err := db.ExecContext(ctx, "REPLACE INTO churn.t VALUES (?, REPEAT(?, 200000))", client*1000+i%100, fmt.Sprint(i%10))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return err
		}
	}
}
