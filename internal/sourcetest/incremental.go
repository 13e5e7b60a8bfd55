package sourcetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/shared"
)

// startBackup starts a backup on base (nil: full).
func startBackup(t *testing.T, src shared.Source, cfg shared.Config, base *shared.Trailer) shared.RecordStream {
	t.Helper()
	req := &shared.BackupRequest{Config: cfg}
	if base != nil {
		req.Base = &shared.BaseSnapshot{State: base.SourceState}
	}
	stream, err := src.Backup(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

// BackupOn takes a backup on base (nil: full) and returns its records and trailer.
func BackupOn(t *testing.T, src shared.Source, cfg shared.Config, base *shared.Trailer) ([]*shared.Record, *shared.Trailer) {
	t.Helper()
	recs, err := drain(startBackup(t, src, cfg, base))
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if last.Trailer == nil {
		t.Fatal("stream has no trailer")
	}
	return recs, last.Trailer
}

// TrailerOf takes a backup on base, keeping only its trailer (for backups too large to hold).
func TrailerOf(t *testing.T, src shared.Source, cfg shared.Config, base *shared.Trailer) *shared.Trailer {
	t.Helper()
	stream := startBackup(t, src, cfg, base)
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			t.Fatal("stream ended without a trailer")
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.Trailer != nil {
			return r.Trailer
		}
	}
}

// Checkpoint makes the server flush its dirty pages and waits until the checkpoint has passed
// the LSN of the moment of the call: an idle server otherwise keeps an old checkpoint, and
// only pages flushed under a newer checkpoint are in the tracked list.
func Checkpoint(t *testing.T, srv *testmysql.Server) uint64 {
	t.Helper()
	lsn := func() (cur, ckpt uint64) {
		if err := srv.Root.QueryRow(`SELECT JSON_EXTRACT(STORAGE_ENGINES, '$.InnoDB.LSN'), JSON_EXTRACT(STORAGE_ENGINES, '$.InnoDB.LSN_checkpoint')
			FROM performance_schema.log_status`).Scan(&cur, &ckpt); err != nil {
			t.Fatal(err)
		}
		return cur, ckpt
	}
	var pct float64
	if err := srv.Root.QueryRow("SELECT @@innodb_max_dirty_pages_pct").Scan(&pct); err != nil {
		t.Fatal(err)
	}
	srv.MustExec("SET GLOBAL innodb_max_dirty_pages_pct = 0")
	defer srv.MustExec(fmt.Sprintf("SET GLOBAL innodb_max_dirty_pages_pct = %v", pct))
	target, _ := lsn()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, ckpt := lsn(); ckpt >= target {
			return ckpt
		}
		if time.Now().After(deadline) {
			t.Fatalf("the checkpoint did not reach LSN %d", target)
		}
		time.Sleep(10 * time.Millisecond) // polling the server's state
	}
}

func testIncremental(t *testing.T, src shared.Source, srv *testmysql.Server) {
	cfg := Config(srv)
	_, full := BackupOn(t, src, cfg, nil)
	if full.Kind != shared.KindFull || full.Method != shared.MethodFull || len(full.SourceState) == 0 {
		t.Fatalf("full backup trailer: kind %q method %q, %d bytes of state", full.Kind, full.Method, len(full.SourceState))
	}
	write := func(n int) {
		for i := range n {
			srv.MustExec("UPDATE suite.t SET v = CONCAT(v, '+') WHERE id = ?", i*7%500)
		}
	}

	t.Run("page tracking", func(t *testing.T) {
		write(50)
		Checkpoint(t, srv)
		recs, inc := BackupOn(t, src, cfg, full)
		if inc.Kind != shared.KindIncremental || inc.Method != shared.MethodPageTracking || inc.FallbackReason != "" {
			t.Fatalf("kind %q method %q reason %q, want an incremental by page tracking", inc.Kind, inc.Method, inc.FallbackReason)
		}
		if inc.BaseCheckpointLSN != full.CheckpointLSN || inc.CheckpointLSN <= full.CheckpointLSN {
			t.Fatalf("LSNs: base %d (full's C %d), incremental C %d", inc.BaseCheckpointLSN, full.CheckpointLSN, inc.CheckpointLSN)
		}
		if inc.PagesInSet == 0 || inc.Pages == 0 || inc.Pages*4 > full.Pages {
			t.Fatalf("incremental sent %d pages (set %d) against the full's %d", inc.Pages, inc.PagesInSet, full.Pages)
		}
		if inc.BytesRead > full.BytesRead/2 {
			t.Fatalf("incremental read %d bytes, the full %d", inc.BytesRead, full.BytesRead)
		}
		incremental := 0
		for _, r := range recs {
			if r.Tablespace != nil && r.Tablespace.Incremental {
				incremental++
			}
		}
		if incremental == 0 {
			t.Fatal("no tablespace is marked incremental")
		}
		// The plugin's restore takes merged chains only; an incremental's own records are refused.
		_, err := src.Restore(context.Background(), &shared.RestoreRequest{TargetDir: filepath.Join(t.TempDir(), "t")}, &sliceStream{recs: recs})
		if err == nil || !strings.Contains(err.Error(), "merge of its chain") {
			t.Fatalf("restoring an unmerged incremental: %v", err)
		}
	})

	t.Run("tracking off falls back, and the next one tracks again", func(t *testing.T) {
		srv.MustExec("DO mysqlbackup_page_track_set(false)")
		write(20)
		_, inc := BackupOn(t, src, cfg, full)
		if inc.Method != shared.MethodLSNScan || !strings.Contains(inc.FallbackReason, "page tracking was off") {
			t.Fatalf("method %q reason %q, want lsn-scan because tracking was off", inc.Method, inc.FallbackReason)
		}
		if inc.PagesRead < full.Pages/2 {
			t.Fatalf("the page-LSN scan read %d pages; the full had %d", inc.PagesRead, full.Pages)
		}
		write(20)
		Checkpoint(t, srv)
		_, next := BackupOn(t, src, cfg, inc)
		if next.Method != shared.MethodPageTracking {
			t.Fatalf("after the fallback, method %q (%s), want page tracking again", next.Method, next.FallbackReason)
		}
	})

	t.Run("require_page_tracking refuses a fallback", func(t *testing.T) {
		_, base := BackupOn(t, src, cfg, nil)
		srv.MustExec("DO mysqlbackup_page_track_set(false)")
		strict := shared.Config{"require_page_tracking": true}
		for k, v := range cfg {
			strict[k] = v
		}
		stream, err := src.Backup(context.Background(), &shared.BackupRequest{Config: strict, Base: &shared.BaseSnapshot{State: base.SourceState}})
		if err == nil {
			_, err = drain(stream)
		}
		if !errors.Is(err, shared.ErrPrecondition) || !strings.Contains(err.Error(), "require_page_tracking") {
			t.Fatalf("error = %v, want a refusal naming require_page_tracking", err)
		}
		srv.MustExec("DO mysqlbackup_page_track_set(true)")
	})

	t.Run("damaged base state", func(t *testing.T) {
		stream, err := src.Backup(context.Background(), &shared.BackupRequest{Config: cfg, Base: &shared.BaseSnapshot{State: []byte("not a state")}})
		if err == nil {
			_, err = drain(stream)
		}
		if !errors.Is(err, shared.ErrInvalidConfig) || !strings.Contains(err.Error(), "source state is damaged") {
			t.Fatalf("error = %v", err)
		}
	})

	t.Run("purge", func(t *testing.T) {
		res, err := src.Purge(context.Background(), &shared.PurgeRequest{Config: cfg, FloorLSN: full.CheckpointLSN})
		if err != nil {
			t.Fatal(err)
		}
		// The server reports how far tracking data is gone: never past the floor.
		if res.PurgedUpTo > full.CheckpointLSN || res.Message == "" {
			t.Fatalf("purge result %+v for floor %d", res, full.CheckpointLSN)
		}
		if _, err := src.Purge(context.Background(), &shared.PurgeRequest{Config: cfg}); !errors.Is(err, shared.ErrInvalidConfig) {
			t.Fatalf("purge without a floor: %v", err)
		}
	})
}
