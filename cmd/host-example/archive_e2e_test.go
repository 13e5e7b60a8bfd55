package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/internal/proctest"
	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/shared"
)

// archiveProc is a running `host-example archive` process.
type archiveProc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

func startArchive(t *testing.T, h *host) *archiveProc {
	t.Helper()
	cmd := exec.Command(hostBinary, "archive", "-c", h.config)
	p := &archiveProc{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = &lockedBuffer{b: p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return p
}

type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// archived reads the stored archive of source "primary": its records and their chains.
func archived(t *testing.T, repoDir string) ([]*repo.ArchiveRecord, []*repo.ArchiveChain, []error) {
	t.Helper()
	r, err := repo.Open(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	recs, bad, err := r.ArchiveRecords(context.Background(), "primary")
	if err != nil || len(bad) > 0 {
		t.Fatalf("archive records: %v %v", bad, err)
	}
	chains, problems := repo.ArchiveChains(recs)
	return recs, chains, problems
}

// waitArchived waits until the stored archive holds want (a GTID set), or fails the test
// after timeout with the archiver's log.
func waitArchived(t *testing.T, h *host, p *archiveProc, want string, timeout time.Duration) []*repo.ArchiveRecord {
	t.Helper()
	w, err := shared.ParseGTIDSet(want)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		recs, chains, problems := archived(t, h.repo)
		if len(problems) > 0 {
			t.Fatalf("the stored archive does not chain: %v", problems)
		}
		if len(chains) > 0 {
			end, _ := shared.ParseGTIDSet(chains[len(chains)-1].End.GTIDs)
			if end.Contains(w) {
				return recs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the archive did not reach %s within %s; archiver log:\n%s", want, timeout, p.log())
		}
		time.Sleep(100 * time.Millisecond) // polling the repository for a condition
	}
}

func (p *archiveProc) log() string {
	return p.stderr.String()
}

func gtidExecuted(t *testing.T, db *sql.DB) string {
	t.Helper()
	var s string
	if err := db.QueryRow("SELECT @@GLOBAL.gtid_executed").Scan(&s); err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(s, "\n", "")
}

// pluginChild is the pid of the plugin process the host process pid started.
func pluginChild(t *testing.T, pid int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			c, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c))
			i := bytes.LastIndexByte(stat, ')')
			if i < 0 || !bytes.Contains(stat[:i], []byte("(pagetrack-mysql")) {
				continue
			}
			if f := strings.Fields(string(stat[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(pid) {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("host-example %d has no plugin process", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestArchiveCommand: host-example archive under a small write load, SIGKILLed once, its
// plugin SIGKILLed once, the server kill -9'd and restarted once: the stored archive chains
// by the shared rule from the full snapshot's point with no gap and no duplicate, and covers
// exactly the server's gtid_executed at the end; the timeline shows one window from the full
// snapshot through it; check passes and catches a flipped record; forget with
// keep_binlog_within removes only archive no kept snapshot's window needs, and prune keeps
// the archive's data.
func TestArchiveCommand(t *testing.T) {
	srv := testmysql.Start(t, testmysql.Options{NoComponent: true, Args: []string{"--max-binlog-size=65536"}})
	h := newHost(t, srv)
	srv.MustExec("CREATE DATABASE arc")
	srv.MustExec("CREATE TABLE arc.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(200))")
	srv.MustExec("INSERT INTO arc.t (v) VALUES ('before the snapshot')")
	var full snapshot
	if err := json.Unmarshal([]byte(h.mustRun("backup", "-c", h.config, "--full", "--json")), &full); err != nil {
		t.Fatal(err)
	}

	// The load: one client inserting, reconnecting through the server's restart.
	load, err := sql.Open("mysql", srv.RootDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer load.Close()
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			// Not cancelled by ctx: a cancelled statement may still commit after the test read
			// gtid_executed; the loop stops between statements instead.
			load.Exec("INSERT INTO arc.t (v) VALUES (?)", strings.Repeat(fmt.Sprintf("row %d ", i), 10))
			time.Sleep(2 * time.Millisecond) // pacing the load, not synchronisation
		}
	}()
	defer func() { stopLoad(); wg.Wait() }()

	p := startArchive(t, h)
	waitArchived(t, h, p, gtidExecuted(t, srv.Root), time.Minute)
	p.cmd.Process.Signal(syscall.SIGKILL) // the host, mid-run
	p.cmd.Wait()

	p = startArchive(t, h)
	waitArchived(t, h, p, gtidExecuted(t, srv.Root), time.Minute)
	plugin := pluginChild(t, p.cmd.Process.Pid)
	syscall.Kill(plugin, syscall.SIGKILL) // the plugin: the host starts it again
	proctest.WaitExited(plugin, 10*time.Second)
	waitArchived(t, h, p, gtidExecuted(t, srv.Root), time.Minute)

	srv.Kill() // the server: the archiver retries until it is back
	srv.Restart()
	waitArchived(t, h, p, gtidExecuted(t, srv.Root), 2*time.Minute)
	stopLoad()
	wg.Wait()
	final := gtidExecuted(t, srv.Root)
	waitArchived(t, h, p, final, time.Minute)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("archive after SIGTERM: %v\n%s", err, p.log())
	}
	for _, line := range strings.Split(p.log(), "\n") {
		if strings.Contains(line, "retrying") {
			t.Logf("archiver: %s", line)
		}
	}
	for _, want := range []string{"archive resumes", "retrying"} {
		if !strings.Contains(p.log(), want) {
			t.Errorf("the archiver's log does not say %q:\n%s", want, p.log())
		}
	}

	// A cron-style run with nothing new stores nothing and ends.
	var sum struct {
		Stored int    `json:"records_stored"`
		GTIDs  string `json:"gtids"`
		Lag    *struct {
			Bytes uint64 `json:"bytes"`
		} `json:"lag"`
	}
	if err := json.Unmarshal([]byte(h.mustRun("archive", "-c", h.config, "--until-now", "--json")), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Stored != 0 || sum.Lag == nil || sum.Lag.Bytes != 0 {
		t.Errorf("archive --until-now with nothing new: %+v", sum)
	}

	// The archive, from its own records: one chain from the snapshot's point, exactly the
	// server's transactions after it.
	recs, chains, problems := archived(t, h.repo)
	if len(problems) > 0 || len(chains) != 1 {
		t.Fatalf("%d chains, problems %v", len(chains), problems)
	}
	c := chains[0]
	end, _ := shared.ParseGTIDSet(c.End.GTIDs)
	server, _ := shared.ParseGTIDSet(final)
	base, _ := shared.ParseGTIDSet(c.Base.GTIDs)
	snapSet, _ := shared.ParseGTIDSet(full.GTIDExecuted)
	if !end.Equal(server) || !base.Equal(snapSet) || c.FirstSeq() != 1 || !recs[0].Restart {
		t.Fatalf("archive covers %s from %s; server executed %s, snapshot %s", end, base, server, snapSet)
	}
	files := map[string]bool{}
	for _, r := range recs {
		files[r.File] = true
	}
	t.Logf("%d archive records over %d binlog files, %d transactions after the snapshot", len(recs), len(files), end.Subtract(snapSet).Count())
	if len(files) < 3 {
		t.Errorf("the archive spans %d binlog files; the load should rotate the 64 KiB binlog (and the restart adds one)", len(files))
	}

	// Every segment is the server's binlog bytes (the format description's in-use flag aside,
	// which a dump clears and a file in use or crashed has set).
	r, err := repo.Open(h.repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		seg, err := r.ReadArchiveSegment(rec)
		if err != nil {
			t.Fatal(err)
		}
		disk, err := os.ReadFile(filepath.Join(srv.DataDir, rec.File))
		if err != nil || uint64(len(disk)) < rec.End {
			t.Fatalf("binlog %s: %d bytes, %v; record %d ends at %d", rec.File, len(disk), err, rec.Seq, rec.End)
		}
		want := bytes.Clone(disk[rec.Start:rec.End])
		if rec.Start == 4 && len(want) > 19 {
			want[17] &^= 1 // LOG_EVENT_BINLOG_IN_USE_F
		}
		if !bytes.Equal(seg.Data, want) {
			t.Errorf("record %d (%s [%d, %d)) differs from the server's binlog", rec.Seq, rec.File, rec.Start, rec.End)
		}
	}

	// The timeline: one window, from the full snapshot through the archive's end.
	var tl []*repo.Timeline
	if err := json.Unmarshal([]byte(h.mustRun("timeline", "-c", h.config, "--json")), &tl); err != nil {
		t.Fatal(err)
	}
	if len(tl) != 1 || len(tl[0].Windows) != 1 || tl[0].Windows[0].Snapshot != full.ID || tl[0].Windows[0].Note != "" || len(tl[0].Gaps) != 0 {
		t.Fatalf("timeline %+v", tl)
	}
	if w := tl[0].Windows[0]; w.To.GTIDs != end.String() || w.To.File != c.End.File || w.To.Pos != c.End.Pos || w.To.Commit.IsZero() {
		t.Errorf("window %+v, want it to end at %s:%d", w, c.End.File, c.End.Pos)
	}

	// check reads every segment back; a flipped record is caught.
	h.mustRun("check", "-c", h.config, "--read-data")
	path := filepath.Join(h.repo, "archive", "primary", fmt.Sprintf("%012d.json", recs[1].Seq))
	orig, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(orig, []byte(`"end": `), []byte(`"end": 1`), 1), 0o600)
	if out, _, code := h.run("check", "-c", h.config); code != 1 || !strings.Contains(out, fmt.Sprintf("archive record primary #%d cannot be verified", recs[1].Seq)) {
		t.Errorf("check of a flipped record: exit %d\n%s", code, out)
	}
	if _, errs, code := h.run("forget", "-c", h.config, "--keep-last", "1", "--keep-binlog-within", "1s"); code != 1 || !strings.Contains(errs, "nothing of the archive was removed") {
		t.Errorf("forget over a flipped record: exit %d\n%s", code, errs)
	}
	os.WriteFile(path, orig, 0o600)

	// A second full snapshot; forget keeps it alone, and with it only the archive after it.
	var second snapshot
	if err := json.Unmarshal([]byte(h.mustRun("backup", "-c", h.config, "--full", "--json")), &second); err != nil {
		t.Fatal(err)
	}
	h.mustRun("archive", "-c", h.config, "--until-now")
	recs, _, _ = archived(t, h.repo)
	var newest time.Time
	for _, r := range recs[:len(recs)-1] {
		newest = maxTime(newest, r.LastCommit, r.StoredAt)
	}
	time.Sleep(time.Until(newest.Add(1100 * time.Millisecond))) // keep_binlog_within 1s must see them as old
	var fo struct {
		Archive []struct {
			Remove []uint64 `json:"remove"`
		} `json:"archive"`
	}
	if err := json.Unmarshal([]byte(h.mustRun("forget", "-c", h.config, "--keep-last", "1", "--keep-binlog-within", "1s", "--prune", "--json")), &fo); err != nil {
		t.Fatal(err)
	}
	secondSet, _ := shared.ParseGTIDSet(second.GTIDExecuted)
	kept, chains, problems := archived(t, h.repo)
	if len(problems) > 0 || len(chains) != 1 || len(fo.Archive) != 1 || len(fo.Archive[0].Remove) == 0 {
		t.Fatalf("after forget: %d records kept, %d chains, problems %v, forget said %+v", len(kept), len(chains), problems, fo)
	}
	for _, r := range recs[:len(recs)-len(kept)] {
		set, _ := shared.ParseGTIDSet(r.GTIDs)
		if !secondSet.Contains(set) {
			t.Errorf("forget removed record %d holding %s, after the kept snapshot's point", r.Seq, set.Subtract(secondSet))
		}
	}
	if first := kept[0]; first.Seq != recs[len(recs)-len(kept)].Seq {
		t.Errorf("forget left records from %d, not a suffix", first.Seq)
	}
	b, _ := shared.ParseGTIDSet(chains[0].Base.GTIDs)
	if e, _ := shared.ParseGTIDSet(chains[0].End.GTIDs); !secondSet.Contains(b) || !e.Contains(secondSet) {
		t.Errorf("the archive left does not cover the kept snapshot")
	}
	h.mustRun("check", "-c", h.config, "--read-data")
	if err := json.Unmarshal([]byte(h.mustRun("timeline", "-c", h.config, "--json")), &tl); err != nil {
		t.Fatal(err)
	}
	if len(tl[0].Windows) != 1 || tl[0].Windows[0].Snapshot != second.ID || tl[0].Windows[0].Note != "" {
		t.Errorf("timeline after forget: %+v", tl[0])
	}
}

func maxTime(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}
