package mysqlsrc_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/internal/testmysql"
	"github.com/pagetrack/pagetrack/mysqlsrc"
)

// archive is what a test has received: the segments, each checked to continue the previous
// one by ResumePoint.Next (contiguity asserted from the segments themselves).
type archive struct {
	t     *testing.T
	point mysqlsrc.ResumePoint
	segs  []mysqlsrc.Segment
}

// run follows the binlog until stop is called; segments are checked as they arrive.
type run struct {
	cancel context.CancelFunc
	segs   chan mysqlsrc.Segment
	done   chan error
}

func (arc *archive) start(a *mysqlsrc.Archiver) *run {
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{cancel: cancel, segs: make(chan mysqlsrc.Segment), done: make(chan error, 1)}
	from := arc.point
	go func() {
		r.done <- a.Run(ctx, from, func(s mysqlsrc.Segment) error {
			r.segs <- s // stop and the kill test drain the channel until it closes
			return nil
		})
		close(r.segs)
	}()
	return r
}

func (arc *archive) take(s mysqlsrc.Segment) {
	arc.t.Helper()
	next, err := arc.point.Next(s)
	if err != nil {
		arc.t.Fatalf("segment does not continue the archive: %v", err)
	}
	arc.point = next
	arc.segs = append(arc.segs, s)
}

// waitFor takes segments until the archive holds every GTID in want.
func (arc *archive) waitFor(r *run, want string) {
	arc.t.Helper()
	timeout := time.After(2 * time.Minute)
	for !gtidContains(arc.t, arc.point.GTIDs, want) {
		select {
		case s, ok := <-r.segs:
			if !ok {
				arc.t.Fatalf("archiver stopped before archiving %s: %v (archive has %s)", want, <-r.done, arc.point.GTIDs)
			}
			arc.take(s)
		case <-timeout:
			arc.t.Fatalf("archive did not reach %s in 2 minutes (has %s)", want, arc.point.GTIDs)
		}
	}
}

// stop cancels the run, takes what it flushed on the way out and returns its error.
func (arc *archive) stop(r *run) error {
	r.cancel()
	for s := range r.segs {
		arc.take(s)
	}
	return <-r.done
}

func gtidContains(t *testing.T, have, want string) bool {
	h, err := gomysql.ParseMysqlGTIDSet(strings.ReplaceAll(have, "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	w, err := gomysql.ParseMysqlGTIDSet(strings.ReplaceAll(want, "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	return h.Contain(w)
}

func executed(t *testing.T, s *testmysql.Server) string {
	var g string
	if err := s.Root.QueryRow("SELECT @@global.gtid_executed").Scan(&g); err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(g, "\n", "")
}

func newArchiver(t *testing.T, dsn, name string, id uint32) *mysqlsrc.Archiver {
	a, err := mysqlsrc.NewArchiver(hclog.New(&hclog.LoggerOptions{Name: "archive", Level: hclog.Warn}), mysqlsrc.ArchiveOptions{
		DSN: dsn, Name: name, ServerID: id, SegmentBytes: 16 << 10, HeartbeatPeriod: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// TestArchive follows one server's binlog through stops, a mid-transaction stop, a server
// kill -9, XA, tagged GTIDs, compressed payloads and a transaction larger than
// max_binlog_size, and checks the archive chains, equals the server's binlog bytes, carries
// the commit timestamps mysqlbinlog reads, and replays on a second server.
func TestArchive(t *testing.T) {
	s := testmysql.Start(t, testmysql.Options{NoComponent: true, Args: []string{"--max-binlog-size=65536"}})
	s.MustExec("FLUSH PRIVILEGES") // empties caching_sha2_password's cache: the archiver's login takes the full path
	a := newArchiver(t, s.DSN, "test", 0)
	arc := &archive{t: t, point: mysqlsrc.ResumePoint{GTIDs: executed(t, s)}}
	base := arc.point.GTIDs
	testServerForGTIDs = s
	s.MustExec("CREATE DATABASE arc")
	s.MustExec("CREATE TABLE arc.t (id INT PRIMARY KEY, v VARCHAR(64), pad LONGBLOB)")

	t.Run("stop and resume across rotations", func(t *testing.T) {
		r := arc.start(a)
		s.Fill("arc.t", 1, 200, 600) // ~120 KiB: rotates the 64 KiB binlog
		arc.waitFor(r, executed(t, s))
		if err := arc.stop(r); err != nil {
			t.Fatalf("stopped run returned %v", err)
		}
		s.Fill("arc.t", 201, 100, 600)
		s.MustExec("FLUSH BINARY LOGS")
		r = arc.start(a)
		s.Fill("arc.t", 301, 50, 100)
		arc.waitFor(r, executed(t, s))
		if err := arc.stop(r); err != nil {
			t.Fatal(err)
		}
		if files := archivedFiles(arc); len(files) < 3 {
			t.Fatalf("archive spans %d binlog files, want a rotation or more: %v", len(files), files)
		}
	})

	t.Run("server_id collisions are refused", func(t *testing.T) {
		r := arc.start(a)
		s.MustExec("INSERT INTO arc.t VALUES (1000, 'id', '')")
		arc.waitFor(r, executed(t, s))
		var id uint32 = a.ServerID()
		other := newArchiver(t, s.DSN, "other", id)
		err := other.Run(context.Background(), arc.point, func(mysqlsrc.Segment) error { return errors.New("must not run") })
		if err == nil || !strings.Contains(err.Error(), "already used by a replica") {
			t.Fatalf("a second archive with server_id %d: got %v, want the collision refused", id, err)
		}
		twin := newArchiver(t, s.DSN, "test", 0)
		err = twin.Run(context.Background(), arc.point, func(mysqlsrc.Segment) error { return errors.New("must not run") })
		if err == nil || !strings.Contains(err.Error(), "another archiver") {
			t.Fatalf("a second archiver of the same archive: got %v, want it refused", err)
		}
		if err := arc.stop(r); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("XA, tagged GTIDs, compressed payloads, a transaction larger than max_binlog_size", func(t *testing.T) {
		r := arc.start(a)
		conn, err := s.Root.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, q := range []string{
			"XA START 'x1'", "INSERT INTO arc.t VALUES (2001, 'xa', '')", "XA END 'x1'", "XA PREPARE 'x1'",
			"SET gtid_next = 'AUTOMATIC:audit'", "INSERT INTO arc.t VALUES (2002, 'tagged', '')",
			"INSERT INTO arc.t VALUES (2003, 'tagged', '')", "SET gtid_next = 'AUTOMATIC'",
			"SET SESSION binlog_transaction_compression = ON",
			"INSERT INTO arc.t SELECT id + 3000, v, pad FROM arc.t WHERE id <= 100",
			"SET SESSION binlog_transaction_compression = OFF",
			"XA COMMIT 'x1'",
			"INSERT INTO arc.t SELECT id + 4000, v, CONCAT(pad, pad, pad) FROM arc.t WHERE id <= 150", // ~270 KiB > 64 KiB
		} {
			if _, err := conn.ExecContext(context.Background(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		want := executed(t, s)
		var big uint64
		if err := s.Root.QueryRow("SELECT SUM(LENGTH(pad)) FROM arc.t WHERE id > 4000").Scan(&big); err != nil || big < 65536 {
			t.Fatalf("the large transaction wrote %d bytes of pad (%v), want more than max_binlog_size", big, err)
		}
		if !strings.Contains(want, ":audit:") {
			t.Fatalf("gtid_executed %s has no tagged GTIDs", want)
		}
		arc.waitFor(r, want)
		biggest := arc.point.Last.End - arc.point.Last.Start
		if err := arc.stop(r); err != nil {
			t.Fatal(err)
		}
		if biggest <= 65536 {
			t.Fatalf("largest archived transaction is %d bytes, want one larger than max_binlog_size", biggest)
		}
		if payload := countEvents(t, s, arc, "Transaction_payload"); payload == 0 {
			t.Fatal("no compressed transaction payload in the archive")
		}
		if xa := countEvents(t, s, arc, "XA PREPARE"); xa == 0 {
			t.Fatal("no XA PREPARE in the archive")
		}
	})

	t.Run("stop inside a transaction drops it and resume fetches it whole", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		mysqlsrc.SetArchiveEventHook(a, func(eventType byte, inTxn bool) {
			if inTxn && eventType == 30 { // WRITE_ROWS_EVENTv2: the middle of the transaction
				cancel()
			}
		})
		before := arc.point
		s.MustExec("INSERT INTO arc.t SELECT id + 5000, v, pad FROM arc.t WHERE id <= 120")
		err := a.Run(ctx, arc.point, func(seg mysqlsrc.Segment) error { arc.take(seg); return nil })
		mysqlsrc.SetArchiveEventHook(a, nil)
		if err != nil {
			t.Fatal(err)
		}
		if arc.point.GTIDs != before.GTIDs || (arc.point.Last != nil && *arc.point.Last != *before.Last) {
			t.Fatalf("a run stopped inside a transaction emitted it: archive went from %s to %s", before.GTIDs, arc.point.GTIDs)
		}
		r := arc.start(a)
		arc.waitFor(r, executed(t, s))
		if err := arc.stop(r); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("archiver process kill -9 inside a transaction", func(t *testing.T) {
		s.Fill("arc.t", 5501, 10, 600) // a segment of its own (SegmentBytes 4 KiB in the child)
		s.MustExec("INSERT INTO arc.t SELECT id + 5600, v, pad FROM arc.t WHERE id <= 120")
		from, err := json.Marshal(arc.point)
		if err != nil {
			t.Fatal(err)
		}
		child := exec.Command(os.Args[0], "-test.run=^TestArchiveChildProcess$")
		child.Env = append(os.Environ(), "PAGETRACK_ARCHIVE_CHILD_DSN="+s.DSN, "PAGETRACK_ARCHIVE_CHILD_FROM="+string(from))
		out, err := child.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		child.Stderr = os.Stderr
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		killed := false
		lines := bufio.NewScanner(out)
		lines.Buffer(nil, 64<<20)
		for lines.Scan() {
			line := lines.Text()
			if seg, ok := strings.CutPrefix(line, "SEGMENT "); ok {
				var sg mysqlsrc.Segment
				if err := json.Unmarshal([]byte(seg), &sg); err != nil {
					t.Fatal(err)
				}
				arc.take(sg)
			}
			if line == "INSIDE TRANSACTION" {
				child.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
		child.Wait()
		if !killed {
			t.Fatal("the child archiver ended without reaching the large transaction")
		}
		if gtidContains(t, arc.point.GTIDs, executed(t, s)) {
			t.Fatal("the child archived the transaction it was killed inside")
		}
		began := time.Now()
		r := arc.start(a) // the dead child's dump thread may linger: the server_id check waits it out
		arc.waitFor(r, executed(t, s))
		t.Logf("resumed after the kill in %v", time.Since(began))
		if err := arc.stop(r); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("server kill -9 and restart", func(t *testing.T) {
		r := arc.start(a)
		s.Fill("arc.t", 6001, 50, 200)
		arc.waitFor(r, executed(t, s))
		s.Kill()
		for seg := range r.segs {
			arc.take(seg)
		}
		if err := <-r.done; err == nil {
			t.Fatal("the archiver did not notice the server's death")
		}
		s.Restart()
		r = arc.start(a)
		s.Fill("arc.t", 6101, 50, 200)
		arc.waitFor(r, executed(t, s))
		if err := arc.stop(r); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("resume refuses an archive the server contradicts", func(t *testing.T) {
		lost := arc.point
		lost.GTIDs += "," + "00000000-0000-0000-0000-00000000abcd:1-3"
		err := a.Run(context.Background(), lost, func(mysqlsrc.Segment) error { return errors.New("must not run") })
		if err == nil || !strings.Contains(err.Error(), "no longer has (00000000-0000-0000-0000-00000000abcd:1-3)") {
			t.Fatalf("resume with GTIDs the server lacks: got %v", err)
		}
		changed := arc.point
		last := *changed.Last
		last.Digest[0] ^= 1
		changed.Last = &last
		err = a.Run(context.Background(), changed, func(mysqlsrc.Segment) error { return errors.New("must not run") })
		if err == nil || !strings.Contains(err.Error(), "different bytes") {
			t.Fatalf("resume whose last transaction differs from the server's: got %v", err)
		}
	})

	t.Run("lag, and a run until now", func(t *testing.T) {
		s.Fill("arc.t", 7001, 20, 100)
		lag, err := a.Lag(context.Background(), arc.point)
		if err != nil {
			t.Fatal(err)
		}
		if lag.Bytes == 0 || lag.Seconds <= 0 || lag.ExpireSeconds != 30*24*3600 || !lag.ResumeFileOnServer ||
			lag.OldestFile != "binlog.000001" || lag.ExpiryHeadroom <= 0 || lag.ExpiryHeadroom > 30*24*time.Hour {
			t.Fatalf("lag behind 20 unarchived transactions: %+v", lag)
		}
		until, err := mysqlsrc.NewArchiver(hclog.NewNullLogger(), mysqlsrc.ArchiveOptions{DSN: s.DSN, Name: "test", UntilNow: true, HeartbeatPeriod: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer until.Close()
		want := executed(t, s)
		if err := until.Run(context.Background(), arc.point, func(seg mysqlsrc.Segment) error { arc.take(seg); return nil }); err != nil {
			t.Fatal(err)
		}
		if !gtidContains(t, arc.point.GTIDs, want) {
			t.Fatalf("a run until now stopped at %s, before %s", arc.point.GTIDs, want)
		}
		nothingNew := mysqlsrc.ResumePoint{GTIDs: executed(t, s)}
		if err := until.Run(context.Background(), nothingNew, func(seg mysqlsrc.Segment) error {
			return fmt.Errorf("a run from the server's whole GTID set emitted %s [%d, %d)", seg.File, seg.Start, seg.End)
		}); err != nil {
			t.Fatal(err)
		}
		short := arc.point
		short.Pos += 1 << 20
		err = a.Run(context.Background(), short, func(mysqlsrc.Segment) error { return errors.New("must not run") })
		if err == nil || !strings.Contains(err.Error(), "lost binlog the archive holds") {
			t.Fatalf("resume past the end of the server's file: got %v", err)
		}
		lag, err = a.Lag(context.Background(), arc.point)
		if err != nil {
			t.Fatal(err)
		}
		if lag.Bytes != 0 || lag.Seconds != 0 || lag.ServerFile != arc.point.File || lag.ServerPos != arc.point.Pos {
			t.Fatalf("lag after catching up: %+v (archive ends at %s:%d)", lag, arc.point.File, arc.point.Pos)
		}
	})

	t.Run("segments are the server's binlog bytes with its commit timestamps", func(t *testing.T) {
		for _, seg := range arc.segs {
			disk, err := os.ReadFile(filepath.Join(s.DataDir, seg.File))
			if err != nil {
				t.Fatal(err)
			}
			if len(disk) > 22 {
				disk[4+17] &^= 1 // the dump sends the format description without LOG_EVENT_BINLOG_IN_USE_F
			}
			if uint64(len(disk)) < seg.End || !bytes.Equal(disk[seg.Start:seg.End], seg.Data) {
				at := -1
				for i := range seg.Data {
					if uint64(len(disk)) <= seg.Start+uint64(i) || disk[seg.Start+uint64(i)] != seg.Data[i] {
						at = i
						break
					}
				}
				t.Fatalf("segment %s [%d, %d) differs from the server's file (%d bytes) at offset %d: %x vs %x", seg.File, seg.Start, seg.End, len(disk), at, seg.Data[max(at-8, 0):min(at+8, len(seg.Data))], disk[seg.Start+uint64(max(at-8, 0)):min(seg.Start+uint64(at+8), uint64(len(disk)))])
			}
			if seg.Transactions == 0 {
				continue
			}
			stamps := commitStamps(t, s, seg)
			if len(stamps) != seg.Transactions || !stamps[0].Equal(seg.FirstCommit) || !stamps[len(stamps)-1].Equal(seg.LastCommit) {
				t.Fatalf("segment %s [%d, %d): %d transactions %v..%v, mysqlbinlog reads %d: %v", seg.File, seg.Start, seg.End,
					seg.Transactions, seg.FirstCommit, seg.LastCommit, len(stamps), stamps)
			}
		}
		all := gtidSubtract(t, executed(t, s), base)
		if !gtidContains(t, arc.point.GTIDs, all) {
			t.Fatalf("archive %s lacks some of %s", arc.point.GTIDs, all)
		}
	})

	t.Run("the archive replays through another server's relay log", func(t *testing.T) {
		// As a restore will: the archived files become the relay log of a server with another
		// server_id, and its own applier (one worker) runs them.
		replica := testmysql.Start(t, testmysql.Options{NoComponent: true, Args: []string{"--server-id=2", "--relay-log=relay", "--skip-replica-start"}})
		replica.Stop()
		var index []string
		for i, f := range archivedFiles(arc) {
			name := fmt.Sprintf("relay.%06d", i+1)
			writeBinlog(t, replica.DataDir, arc, f, name)
			index = append(index, "./"+name)
		}
		if err := os.WriteFile(filepath.Join(replica.DataDir, "relay.index"), []byte(strings.Join(index, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		replica.Restart()
		replica.MustExec("CHANGE REPLICATION SOURCE TO SOURCE_HOST='archive.invalid', RELAY_LOG_FILE='relay.000001', RELAY_LOG_POS=4")
		replica.MustExec("SET GLOBAL replica_parallel_workers = 1")
		replica.MustExec("START REPLICA SQL_THREAD")
		want := gtidSubtract(t, executed(t, s), base)
		var timedOut int
		if err := replica.Root.QueryRow("SELECT WAIT_FOR_EXECUTED_GTID_SET(?, 120)", want).Scan(&timedOut); err != nil || timedOut != 0 {
			var state, errText string
			replica.Root.QueryRow("SELECT SERVICE_STATE, LAST_ERROR_MESSAGE FROM performance_schema.replication_applier_status_by_worker LIMIT 1").Scan(&state, &errText)
			t.Fatalf("the applier did not reach %s (%v, timed out %d): %s %s; replica has %s", want, err, timedOut, state, errText, executed(t, replica))
		}
		if got, w := checksum(t, replica), checksum(t, s); got != w {
			t.Fatalf("CHECKSUM TABLE arc.t: source %d, replayed %d", w, got)
		}
		var rows int
		if err := replica.Root.QueryRow("SELECT COUNT(*) FROM arc.t").Scan(&rows); err != nil || rows == 0 {
			t.Fatalf("replayed table has %d rows (%v)", rows, err)
		}
	})

	t.Run("a start the server purged is refused", func(t *testing.T) {
		s.MustExec("FLUSH BINARY LOGS")
		var file string
		var pos int64
		if err := s.Root.QueryRow("SHOW BINARY LOG STATUS").Scan(&file, &pos, new(string), new(string), new(string)); err != nil {
			t.Fatal(err)
		}
		s.MustExec("PURGE BINARY LOGS TO '" + file + "'")
		err := a.Run(context.Background(), mysqlsrc.ResumePoint{GTIDs: base}, func(mysqlsrc.Segment) error { return errors.New("must not run") })
		if err == nil || !strings.Contains(err.Error(), "error 1236") || !strings.Contains(err.Error(), "purged") {
			t.Fatalf("archiving from GTIDs in purged binlogs: got %v", err)
		}
	})
}

func checksum(t *testing.T, s *testmysql.Server) int64 {
	var name string
	var sum int64
	if err := s.Root.QueryRow("CHECKSUM TABLE arc.t").Scan(&name, &sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

func archivedFiles(arc *archive) []string {
	seen := map[string]bool{}
	var files []string
	for _, s := range arc.segs {
		if !seen[s.File] {
			seen[s.File] = true
			files = append(files, s.File)
		}
	}
	sort.Strings(files)
	return files
}

// writeBinlog writes file's archived bytes as a binlog file: the magic, the format description
// when the archive starts inside the file, then the segments (contiguous by Next).
func writeBinlog(t *testing.T, dir string, arc *archive, file, name string) string {
	var b bytes.Buffer
	b.Write([]byte{0xfe, 'b', 'i', 'n'})
	first := true
	for _, s := range arc.segs {
		if s.File != file {
			continue
		}
		if first && s.Start != 4 {
			b.Write(s.FormatDescription)
		}
		first = false
		b.Write(s.Data)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testServerForGTIDs does GTID set arithmetic (the server owns it).
var testServerForGTIDs *testmysql.Server

var immediateCommit = regexp.MustCompile(`(?m)^# immediate_commit_timestamp=(\d+)`)

// commitStamps runs mysqlbinlog on a segment written as a binlog of its own and returns the
// immediate_commit_timestamp of each GTID event, in order.
func commitStamps(t *testing.T, s *testmysql.Server, seg mysqlsrc.Segment) []time.Time {
	out := segmentText(t, s, seg)
	var stamps []time.Time
	for _, m := range immediateCommit.FindAllStringSubmatch(out, -1) {
		us, _ := strconv.ParseInt(m[1], 10, 64)
		stamps = append(stamps, time.UnixMicro(us).UTC())
	}
	return stamps
}

func segmentText(t *testing.T, s *testmysql.Server, seg mysqlsrc.Segment) string {
	path := filepath.Join(t.TempDir(), "seg.000001")
	data := append([]byte{0xfe, 'b', 'i', 'n'}, seg.FormatDescription...)
	if seg.Start == 4 {
		data = data[:4]
	}
	if err := os.WriteFile(path, append(data, seg.Data...), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := s.Bin.Command(context.Background(), filepath.Join(filepath.Dir(s.Bin.Mysql), "mysqlbinlog"), "-vv", path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mysqlbinlog on segment %s [%d, %d): %v: %s", seg.File, seg.Start, seg.End, err, out)
	}
	return string(out)
}

// countEvents counts mysqlbinlog's lines naming what in the archive.
func countEvents(t *testing.T, s *testmysql.Server, arc *archive, what string) int {
	n := 0
	for _, seg := range arc.segs {
		n += strings.Count(strings.ToLower(segmentText(t, s, seg)), strings.ToLower(what))
	}
	return n
}

func gtidSubtract(t *testing.T, a, b string) string {
	var out string
	if err := testServerForGTIDs.Root.QueryRow("SELECT GTID_SUBTRACT(?, ?)", a, b).Scan(&out); err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(out, "\n", "")
}

// TestArchiveChildProcess is the archiver process that the kill -9 subtest runs and kills: it
// prints each segment as JSON and, at the first rows event inside a transaction after it has
// emitted a segment, says so and waits to be killed. Run on its own it has nothing to do.
func TestArchiveChildProcess(t *testing.T) {
	dsn := os.Getenv("PAGETRACK_ARCHIVE_CHILD_DSN")
	if dsn == "" {
		return
	}
	var from mysqlsrc.ResumePoint
	if err := json.Unmarshal([]byte(os.Getenv("PAGETRACK_ARCHIVE_CHILD_FROM")), &from); err != nil {
		t.Fatal(err)
	}
	a, err := mysqlsrc.NewArchiver(hclog.NewNullLogger(), mysqlsrc.ArchiveOptions{DSN: dsn, Name: "test", SegmentBytes: 4096, HeartbeatPeriod: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	emitted := false
	mysqlsrc.SetArchiveEventHook(a, func(eventType byte, inTxn bool) {
		if emitted && inTxn && eventType == 30 { // WRITE_ROWS_EVENTv2
			fmt.Println("INSIDE TRANSACTION")
			select {} // until SIGKILL
		}
	})
	err = a.Run(context.Background(), from, func(s mysqlsrc.Segment) error {
		line, err := json.Marshal(s)
		if err != nil {
			return err
		}
		fmt.Printf("SEGMENT %s\n", line)
		emitted = true
		return nil
	})
	t.Fatalf("the child archiver returned %v before it was killed", err)
}
