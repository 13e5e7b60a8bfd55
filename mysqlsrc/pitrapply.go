package mysqlsrc

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/pagetrack/pagetrack/mysqlsrc/mysqld"
	"github.com/pagetrack/pagetrack/shared"
)

// relayName is the relay log a replay writes into the restored datadir; RESET REPLICA ALL
// removes it, and whatever is left of it is removed after.
const relayName = "pagetrack-pitr-relay"

// replayTimeout bounds one replay (the applier runs at thousands of transactions a second).
const replayTimeout = 6 * time.Hour

// PointInTime resolves req.Target against the chain segs carries and, with Apply, replays the
// chain onto req.TargetDir up to it.
func (s *Source) PointInTime(ctx context.Context, req *shared.PointInTimeRequest, segs shared.ArchiveStream) (*shared.PointInTimeResult, error) {
	if err := req.Target.Check(); err != nil {
		return nil, err
	}
	chain, err := readChain(req.BaseGTIDs, segs)
	if err != nil {
		return nil, err
	}
	txns, err := scanTransactions(chain)
	if err != nil {
		return nil, err
	}
	stop, err := resolvePoint(req.BaseGTIDs, txns, req.Target)
	if err != nil {
		return nil, err
	}
	res := &shared.PointInTimeResult{}
	if stop >= 0 {
		res.LastGTID, res.LastCommit = txns[stop].gtid, txns[stop].commit
	}
	if !req.Apply {
		res.Reached, err = reachedAt(req.BaseGTIDs, txns, stop)
		return res, err
	}
	r := &replay{s: s, req: req, chain: chain, txns: txns[:stop+1], res: res}
	if stop+1 < len(txns) {
		r.after = &txns[stop+1]
	}
	if err := r.run(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

// replay applies archived transactions to a restored datadir: it writes the chain, cut right
// after the last transaction to apply, as the relay log of the datadir, starts a server on it
// with another server_id (the applier skips events of its own id, even with
// replicate_same_server_id: doc.go), lets its applier (one worker) run until that
// transaction, checks @@gtid_executed is exactly what was asked, removes the replication
// metadata and relay log, and shuts the server down cleanly.
type replay struct {
	s     *Source
	req   *shared.PointInTimeRequest
	chain []*shared.ArchiveSegment
	txns  []archivedTxn // through the last to apply
	// after is the transaction that follows the last to apply in the chain, if any. The relay
	// log runs through it, so that the last to apply is never the relay log's end: on
	// CHANGE REPLICATION SOURCE the server's relay log sanitization drops an XA PREPARE that
	// ends the relay log, as a transaction not fully written (measured: doc.go), and the
	// applier would wait for it forever. UNTIL SQL_AFTER_GTIDS with one worker stops before
	// after, and the replay checks gtid_executed is exactly the point.
	after *archivedTxn
	res   *shared.PointInTimeResult
}

func (r *replay) run(ctx context.Context) error {
	snap, err := shared.ParseGTIDSet(r.req.SnapshotGTIDs)
	if err != nil {
		return shared.InvalidConfig("the snapshot's GTID set: " + err.Error())
	}
	expect, err := shared.ParseGTIDSet(r.req.ExpectGTIDs)
	if err != nil || expect.Empty() {
		return shared.InvalidConfig(fmt.Sprintf("a replay needs the GTID set it must reach, got %q", r.req.ExpectGTIDs))
	}
	todo := r.pending()
	if !snap.Union(todo).Equal(expect) {
		return shared.Precondition(fmt.Sprintf("the snapshot (%s) and the archive through %s make %s, not the %s the point resolved to", snap, r.res.LastGTID, snap.Union(todo), expect))
	}
	r.res.Applied = todo.Subtract(snap).Count()
	bin, err := verifyBinaries()
	if err != nil {
		return err
	}
	files, err := r.writeRelayLog(snap)
	if err != nil {
		return err
	}
	defer removeRelayFiles(r.req.TargetDir)
	return r.apply(ctx, bin, files, expect)
}

// pending is the set of transactions through the last to apply.
func (r *replay) pending() shared.GTIDSet {
	var set shared.GTIDSet
	for _, t := range r.txns {
		one, _ := shared.ParseGTIDSet(t.gtid)
		set = set.Union(one)
	}
	return set
}

// writeRelayLog writes the archived binlog files that hold a transaction the snapshot lacks
// as relay.000001…: the magic, the file's format description when the archive starts inside
// it, its archived bytes — the last file cut right after the transaction that follows the
// last to apply (or after the last to apply, where the chain ends with it). It returns their
// names.
func (r *replay) writeRelayLog(snap shared.GTIDSet) ([]string, error) {
	if len(r.txns) == 0 {
		return nil, nil
	}
	last := r.txns[len(r.txns)-1]
	if r.after != nil {
		last = *r.after // the relay log's end: see after
	}
	firstFile := ""
	for _, t := range r.txns {
		one, _ := shared.ParseGTIDSet(t.gtid)
		if !snap.Contains(one) {
			firstFile = t.file
			break
		}
	}
	if firstFile == "" {
		return nil, nil
	}
	var names []string
	var cur *bytes.Buffer
	curFile := ""
	flush := func() error {
		if cur == nil {
			return nil
		}
		name := fmt.Sprintf("%s.%06d", relayName, len(names)+1)
		if err := os.WriteFile(filepath.Join(r.req.TargetDir, name), cur.Bytes(), 0o640); err != nil {
			return err
		}
		names = append(names, name)
		cur = nil
		return nil
	}
	started := false
	for _, seg := range r.chain {
		if seg.File == firstFile {
			started = true
		}
		if !started {
			continue
		}
		if seg.File != curFile {
			if err := flush(); err != nil {
				return nil, err
			}
			cur, curFile = bytes.NewBuffer([]byte{0xfe, 'b', 'i', 'n'}), seg.File
			if seg.Start != 4 {
				cur.Write(seg.FormatDescription)
				pg, err := emptyPreviousGTIDs(seg.FormatDescription, uint64(cur.Len()))
				if err != nil {
					return nil, err
				}
				cur.Write(pg)
			}
		}
		data := seg.Data
		if seg.File == last.file && last.end > seg.Start && last.end <= seg.End {
			cur.Write(data[:last.end-seg.Start])
			break
		}
		cur.Write(data)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	index := make([]string, len(names))
	for i, n := range names {
		index[i] = "./" + n + "\n"
	}
	return names, os.WriteFile(filepath.Join(r.req.TargetDir, relayName+".index"), []byte(strings.Join(index, "")), 0o640)
}

// emptyPreviousGTIDs is a Previous_gtids event with no GTIDs, to follow fde at offset at in a
// relay log file: a relay log whose first transaction comes without one is refused as
// logically corrupted (error 1866, doc.go). It names the previous relay files' GTIDs, which
// the replay does not use: the applier skips what gtid_executed holds by itself.
func emptyPreviousGTIDs(fde []byte, at uint64) ([]byte, error) {
	p := replication.NewBinlogParser()
	ev, err := p.Parse(fde)
	if err != nil {
		return nil, fmt.Errorf("the archive's format description: %v", err)
	}
	crc := ev.Event.(*replication.FormatDescriptionEvent).ChecksumAlgorithm == replication.BINLOG_CHECKSUM_ALG_CRC32
	size := eventHeaderSize + 8
	if crc {
		size += 4
	}
	b := make([]byte, eventHeaderSize+8, size)
	copy(b[0:4], fde[0:4]) // the format description's timestamp
	b[4] = byte(replication.PREVIOUS_GTIDS_EVENT)
	copy(b[5:9], fde[5:9]) // its server_id
	binary.LittleEndian.PutUint32(b[9:13], uint32(size))
	binary.LittleEndian.PutUint32(b[13:17], uint32(at+uint64(size)))
	// flags 0; body: the number of sids, 0.
	if crc {
		b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	}
	return b, nil
}

// replayServerID is a server_id no archived event carries.
func (r *replay) replayServerID() uint32 {
	used := map[uint32]bool{}
	for _, t := range r.txns {
		used[t.serverID] = true
	}
	id := uint32(4294967000)
	for used[id] {
		id--
	}
	return id
}

func (r *replay) apply(ctx context.Context, bin *mysqld.Binaries, files []string, expect shared.GTIDSet) error {
	recorded, err := ReadOptionFile(filepath.Join(r.req.TargetDir, OptionFileName))
	if err != nil {
		return fmt.Errorf("point restore: reading the recorded server options: %w", err)
	}
	runDir, err := os.MkdirTemp("", "ptreplay")
	if err != nil {
		return err
	}
	defer os.RemoveAll(runDir)
	r.res.ReplayServerID = r.replayServerID()
	args := append([]string{
		"--skip-grant-tables", "--skip-replica-start", "--log-error-verbosity=3", "--innodb-buffer-pool-size=128M",
		fmt.Sprintf("--server-id=%d", r.res.ReplayServerID), "--gtid-mode=ON", "--enforce-gtid-consistency=ON",
		"--relay-log=" + relayName, "--relay-log-index=" + relayName + ".index", "--replica-parallel-workers=1",
	}, recorded...)
	r.s.log.Info("starting a server on the restored datadir to replay the archive", "datadir", r.req.TargetDir, "relay_files", len(files), "server_id", fmt.Sprint(r.res.ReplayServerID))
	proc, db, err := startOnRestored(ctx, bin, mysqld.Options{DataDir: r.req.TargetDir, RunDir: runDir, Args: args}, "point restore")
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	applyErr := r.replayOn(ctx, db, files, expect)
	if applyErr == nil && r.req.Verify {
		var n int
		if n, applyErr = CheckAllTables(ctx, db); applyErr == nil {
			r.res.Verified, r.res.TablesChecked = true, int64(n)
		}
	}
	db.Close()
	stopErr := proc.Shutdown(verifyShutdownTimeout)
	if applyErr != nil {
		return fmt.Errorf("point restore: %w; server error log:\n%s", applyErr, proc.ErrorLogTail(15))
	}
	if stopErr != nil {
		return fmt.Errorf("point restore: %w", stopErr)
	}
	return nil
}

// replayOn runs the applier on the written relay log and leaves the server a plain one.
func (r *replay) replayOn(ctx context.Context, db *sql.DB, files []string, expect shared.GTIDSet) error {
	if len(files) > 0 {
		last := r.txns[len(r.txns)-1].gtid
		for _, q := range []string{
			"CHANGE REPLICATION SOURCE TO SOURCE_HOST='pagetrack-archive.invalid', RELAY_LOG_FILE='" + files[0] + "', RELAY_LOG_POS=4",
			"START REPLICA SQL_THREAD UNTIL SQL_AFTER_GTIDS='" + last + "'",
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		if err := waitApplied(ctx, db, expect); err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, "STOP REPLICA SQL_THREAD"); err != nil {
			return fmt.Errorf("STOP REPLICA SQL_THREAD: %w", err)
		}
	}
	var got string
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_executed").Scan(&got); err != nil {
		return err
	}
	have, err := shared.ParseGTIDSet(got)
	if err != nil {
		return fmt.Errorf("the server's gtid_executed %q: %w", got, err)
	}
	if !have.Equal(expect) {
		return fmt.Errorf("after the replay the server's gtid_executed is %s, not the %s the point resolved to", have, expect)
	}
	r.res.Reached = have.String()
	if _, err := db.ExecContext(ctx, "RESET REPLICA ALL"); err != nil {
		return fmt.Errorf("RESET REPLICA ALL: %w", err)
	}
	return nil
}

// waitApplied waits until the server's gtid_executed holds want, by WAIT_FOR_EXECUTED_GTID_SET
// in one-second rounds, between which it reads the applier's state from performance_schema: an
// applier error or a stopped applier short of want fails the replay.
func waitApplied(ctx context.Context, db *sql.DB, want shared.GTIDSet) error {
	ctx, cancel := context.WithTimeout(ctx, replayTimeout)
	defer cancel()
	var stalled stall
	for {
		var timedOut int
		if err := db.QueryRowContext(ctx, "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, 1)", want.String()).Scan(&timedOut); err != nil {
			return fmt.Errorf("waiting for the replay: %w", err)
		}
		if timedOut == 0 {
			return nil
		}
		var state, msg string
		var errno int
		err := db.QueryRowContext(ctx, `SELECT a.SERVICE_STATE, w.LAST_ERROR_NUMBER, w.LAST_ERROR_MESSAGE
			FROM performance_schema.replication_applier_status a JOIN performance_schema.replication_applier_status_by_worker w USING (CHANNEL_NAME)
			ORDER BY w.LAST_ERROR_NUMBER DESC LIMIT 1`).Scan(&state, &errno, &msg)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("reading the applier's state: %w", err)
		}
		if errno != 0 {
			return fmt.Errorf("the applier stopped with error %d: %s", errno, msg)
		}
		if stalled, err = relayExhausted(ctx, db, stalled); err != nil {
			return err
		}
		if stalled.rounds >= 2 {
			return fmt.Errorf("the applier has read the whole relay log and waits for more, at %s, short of %s: the relay log lacks a transaction of the point (the server's relay log sanitization drops an XA PREPARE that ends it); archive further and restore again", stalled.executed, want)
		}
		if state == "OFF" { // stopped by its UNTIL, perhaps after the wait's round ended
			var done bool
			if err := db.QueryRowContext(ctx, "SELECT GTID_SUBSET(?, @@GLOBAL.gtid_executed)", want.String()).Scan(&done); err != nil {
				return fmt.Errorf("waiting for the replay: %w", err)
			}
			if done {
				return nil
			}
			var have string
			db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_executed").Scan(&have)
			return fmt.Errorf("the applier stopped at %s, before reaching %s", strings.ReplaceAll(have, "\n", ""), want)
		}
	}
}

// stall is how many wait rounds in a row found the applier idle at the relay log's end with
// gtid_executed unchanged.
type stall struct {
	rounds   int
	executed string
}

// relayExhausted counts a round in which the applier has read all of the relay log, its worker
// applies nothing and gtid_executed did not move since the last round: then nothing more will
// come, whatever the wait. A round that sees progress starts the count again.
func relayExhausted(ctx context.Context, db *sql.DB, last stall) (stall, error) {
	var sqlState, applying sql.NullString
	var executed string
	err := db.QueryRowContext(ctx, `SELECT
		(SELECT PROCESSLIST_STATE FROM performance_schema.threads WHERE NAME = 'thread/sql/replica_sql' LIMIT 1),
		(SELECT MAX(APPLYING_TRANSACTION) FROM performance_schema.replication_applier_status_by_worker),
		@@GLOBAL.gtid_executed`).Scan(&sqlState, &applying, &executed)
	if err != nil {
		return stall{}, fmt.Errorf("reading the applier's state: %w", err)
	}
	executed = strings.ReplaceAll(executed, "\n", "")
	idle := strings.Contains(sqlState.String, "read all relay log") && applying.String == ""
	if !idle || (last.rounds > 0 && executed != last.executed) {
		return stall{}, nil
	}
	return stall{rounds: last.rounds + 1, executed: executed}, nil
}

// removeRelayFiles removes what is left of the replay's relay log.
func removeRelayFiles(dir string) {
	matches, _ := filepath.Glob(filepath.Join(dir, relayName+".*"))
	for _, m := range matches {
		os.Remove(m)
	}
}
