package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/internal/sourcetest"
	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/pagemap"
	"github.com/pagetrack/pagetrack/shared"
)

// trackProc is a running `host-example track --json` process.
type trackProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan trackStatusLine // every status it printed
	last   trackStatusLine
	stderr *lockedBuffer
	exited chan error
}

type trackStatusLine struct {
	TrackedLSN uint64   `json:"tracked_lsn"`
	FirstLSN   uint64   `json:"first_lsn"`
	MaxAge     uint64   `json:"max_tracked_lsn_age"`
	Gaps       []any    `json:"gaps"`
	Files      []string `json:"files"`
}

func startTrack(t *testing.T, config string) *trackProc {
	t.Helper()
	cmd := exec.Command(hostBinary, "track", "-c", config, "--json", "--interval", "50ms")
	p := &trackProc{t: t, cmd: cmd, lines: make(chan trackStatusLine, 1<<16), stderr: &lockedBuffer{b: &bytes.Buffer{}}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var l trackStatusLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				l.Gaps = []any{"unparsable line: " + sc.Text()}
			}
			p.lines <- l
		}
		close(p.lines)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return p
}

func (p *trackProc) log() string {
	p.stderr.mu.Lock()
	defer p.stderr.mu.Unlock()
	return p.stderr.b.String()
}

// wait reads statuses until ok says yes, failing the test after a minute or at the end of
// the output.
func (p *trackProc) wait(what string, ok func(trackStatusLine) bool) trackStatusLine {
	p.t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case l, open := <-p.lines:
			if !open {
				p.t.Fatalf("track ended before %s; last status %+v\n%s", what, p.last, p.log())
			}
			p.last = l
			if ok(l) {
				return l
			}
		case <-deadline:
			p.t.Fatalf("track did not report %s within a minute; last status %+v\n%s", what, p.last, p.log())
		}
	}
}

// terminate sends SIGTERM and checks that track exits 0 after printing its last status.
func (p *trackProc) terminate() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	for l := range p.lines {
		p.last = l
	}
	select {
	case err := <-p.exited:
		if err != nil {
			p.t.Fatalf("track after SIGTERM: %v\n%s", err, p.log())
		}
	case <-time.After(time.Minute):
		p.t.Fatalf("track did not exit within a minute of SIGTERM\n%s", p.log())
	}
	if p.last.TrackedLSN == 0 || strings.Contains(p.log(), "[ERROR]") {
		p.t.Fatalf("track after SIGTERM: last status %+v\n%s", p.last, p.log())
	}
}

// TestTrackCommands drives the tracker through the host: track running as a process across a
// clean restart of the server, an incremental by redo-bitmap, changed-pages listing the page
// an UPDATE changed, SIGTERM ending track cleanly, and forget purging the bitmap file no kept
// chain needs while keeping the one that is.
func TestTrackCommands(t *testing.T) {
	t.Parallel() // its own server and directories
	start := time.Now()
	srv := testmysql.Start(t, testmysql.Options{})
	srv.MustExec("CREATE DATABASE trk")
	srv.MustExec("CREATE TABLE trk.t (id INT PRIMARY KEY, v VARCHAR(100))")
	srv.MustExec("INSERT INTO trk.t SELECT seq, 'before' FROM (WITH RECURSIVE s(seq) AS (SELECT 1 UNION ALL SELECT seq+1 FROM s WHERE seq < 10) SELECT seq FROM s) q")
	srv.MustExec("CREATE TABLE trk.bulk (id INT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(500))")
	bulk := func() {
		srv.MustExec("INSERT INTO trk.bulk (pad) SELECT REPEAT('p', 400) FROM (WITH RECURSIVE s(seq) AS (SELECT 1 UNION ALL SELECT seq+1 FROM s WHERE seq < 1000) SELECT seq FROM s) q")
	}
	var space uint32
	if err := srv.Root.QueryRow("SELECT SPACE FROM information_schema.INNODB_TABLESPACES WHERE NAME = 'trk/t'").Scan(&space); err != nil {
		t.Fatal(err)
	}
	h := newHost(t, srv)
	// Without tracking_dir the plugin refuses to track, before anything starts.
	if _, stderr, code := h.run("track", "-c", h.config); code != 1 || !strings.Contains(stderr, `needs attribute "tracking_dir"`) {
		t.Fatalf("track without tracking_dir: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := h.run("changed-pages", "-c", h.config); code != 2 || !strings.Contains(stderr, "--since") {
		t.Fatalf("changed-pages without --since: exit %d\n%s", code, stderr)
	}
	trackDir := filepath.Join(t.TempDir(), "bitmaps")
	cfg := fmt.Sprintf("repository = %q\n\nsource \"mysql\" \"primary\" {\n  dsn          = %q\n  datadir      = %q\n  tracking_dir = %q\n}\n", h.repo, srv.DSN, srv.DataDir, trackDir)
	if err := os.WriteFile(h.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	a := startTrack(t, h.config)
	a.wait("its first status", func(l trackStatusLine) bool { return l.TrackedLSN > 0 })
	var full, inc1 snapshot
	if err := json.Unmarshal([]byte(h.mustRun("backup", "-c", h.config, "--full", "--json")), &full); err != nil {
		t.Fatal(err)
	}

	// The page an UPDATE changes: the table's clustered index root (page 4), which holds
	// all its ten rows.
	srv.MustExec("UPDATE trk.t SET v = 'after' WHERE id = 5")
	bulk()
	srv.Stop()
	srv.Restart()
	bulk()
	sourcetest.Checkpoint(t, srv)
	if err := json.Unmarshal([]byte(h.mustRun("backup", "-c", h.config, "--json")), &inc1); err != nil {
		t.Fatal(err)
	}
	if inc1.Kind != "incremental" || inc1.Method != shared.MethodRedoBitmap || inc1.FallbackReason != "" {
		t.Fatalf("incremental after a clean restart: kind %q method %q reason %q", inc1.Kind, inc1.Method, inc1.FallbackReason)
	}

	var rows []struct {
		Space, Page      uint32
		StartLSN, EndLSN uint64
	}
	list := h.mustRun("changed-pages", "-c", h.config, "--since", fmt.Sprint(full.CheckpointLSN), "--until", fmt.Sprint(inc1.CheckpointLSN), "--json")
	if err := json.Unmarshal([]byte(strings.NewReplacer(`"space_id"`, `"Space"`, `"page_id"`, `"Page"`, `"start_lsn"`, `"StartLSN"`, `"end_lsn"`, `"EndLSN"`).Replace(list)), &rows); err != nil {
		t.Fatalf("changed-pages --json: %v\n%s", err, list)
	}
	found := false
	for _, r := range rows {
		if r.EndLSN <= r.StartLSN || r.EndLSN <= full.CheckpointLSN || r.StartLSN >= inc1.CheckpointLSN {
			t.Fatalf("row %+v lies outside [%d, %d)", r, full.CheckpointLSN, inc1.CheckpointLSN)
		}
		found = found || r.Space == space && r.Page == 4
	}
	if !found {
		t.Fatalf("changed-pages lists %d rows, none for space %d page 4 (the updated row's page)", len(rows), space)
	}

	a.terminate()
	if len(a.last.Files) != 1 || len(a.last.Gaps) != 0 || a.last.MaxAge == 0 {
		t.Fatalf("first tracker's last status: %+v", a.last)
	}

	// A second tracker run writes a new file; the chain's tip is inc1, so the first file
	// (runs up to where the first tracker stopped, below inc1's checkpoint) is no longer
	// needed, and the second (from there on, past inc1's checkpoint) is.
	b := startTrack(t, h.config)
	bulk()
	ckpt := sourcetest.Checkpoint(t, srv)
	b.wait("a second bitmap file past the new checkpoint", func(l trackStatusLine) bool { return l.TrackedLSN >= ckpt && len(l.Files) == 2 })
	files := b.last.Files
	out := h.mustRun("forget", "-c", h.config, "--keep-last", "1", "--json")
	// The first tracker ran on after inc1 until it was stopped: when the server wrote a
	// checkpoint past inc1's meanwhile, its file reaches past the floor and must stay.
	deleted := 1
	if strings.Contains(out, "0 file(s) wholly below LSN") {
		deleted = 0
	} else if !strings.Contains(out, "1 file(s) wholly below LSN") {
		t.Fatalf("forget's purge: %s", out)
	}
	left, err := pagemap.ListBitmapFiles(trackDir)
	if err != nil || len(left) != 2-deleted || filepath.Base(left[len(left)-1].Path) != files[1] {
		t.Fatalf("bitmap files after forget (%d deleted): %v (%v), want %s of %v kept", deleted, left, err, files[1], files)
	}
	h.mustRun("changed-pages", "-c", h.config, "--since", fmt.Sprint(inc1.CheckpointLSN))
	if deleted == 1 {
		_, stderr, code := h.run("changed-pages", "-c", h.config, "--since", fmt.Sprint(full.CheckpointLSN), "--until", fmt.Sprint(inc1.CheckpointLSN))
		if code != 1 || !strings.Contains(stderr, "not covered") {
			t.Fatalf("changed-pages over the purged range: exit %d\n%s", code, stderr)
		}
	}
	b.terminate()
	t.Logf("wall time %v", time.Since(start).Round(time.Millisecond))
}
