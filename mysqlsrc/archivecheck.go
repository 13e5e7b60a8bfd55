package mysqlsrc

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/pagetrack/pagetrack/shared"
)

// checkServerIDFree refuses a server_id another replica uses: the server keeps one dump
// thread per replica identity, and two clients sharing one can end each other's dumps. A
// dump thread under our own id and host name is a previous run of this archive whose
// connection died; the heartbeat ends it within a period or two, so it is waited for.
func (a *Archiver) checkServerIDFree(ctx context.Context) error {
	deadline := time.Now().Add(3*a.opts.HeartbeatPeriod + 2*time.Second)
	for {
		host, found, err := a.replicaWithID(ctx)
		if err != nil {
			return err
		}
		switch {
		case !found:
			return nil
		case host != archiveHostPrefix+a.opts.Name:
			return shared.InvalidConfig(fmt.Sprintf("server_id %d is already used by a replica of this server (SHOW REPLICAS: host %q); give the archive another server_id", a.serverID, host))
		case time.Now().After(deadline):
			return shared.Precondition(fmt.Sprintf("another archiver of %q is connected to the server as server_id %d; only one may follow an archive at a time", a.opts.Name, a.serverID))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// replicaWithID looks our server_id up in SHOW REPLICAS.
func (a *Archiver) replicaWithID(ctx context.Context) (host string, found bool, err error) {
	rows, err := a.db.QueryContext(ctx, "SHOW REPLICAS")
	if err != nil {
		if isAccessDenied(err) {
			return "", false, shared.Precondition(fmt.Sprintf("the archive user cannot run SHOW REPLICAS (%v); as an administrator run: GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO the archive user", err))
		}
		return "", false, fmt.Errorf("SHOW REPLICAS: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", false, err
	}
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", false, err
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c] = vals[i].String
		}
		if row["Server_Id"] == fmt.Sprint(a.serverID) {
			return row["Host"], true, nil
		}
	}
	return "", false, rows.Err()
}

// verifyResume checks the archive still agrees with the server before it is continued. After
// a crash with sync_binlog ≠ 1 (or a restore of the server) the server can lack transactions
// the archive holds and give their GTIDs to new ones: continuing would mix two histories.
func verifyResume(ctx context.Context, a *Archiver, from ResumePoint) error {
	if from.GTIDs == "" {
		return nil
	}
	var executed string
	if err := a.db.QueryRowContext(ctx, "SELECT @@global.gtid_executed").Scan(&executed); err != nil {
		return fmt.Errorf("reading gtid_executed: %w", err)
	}
	archived, err := parseGTIDSet(from.GTIDs)
	if err != nil {
		return fmt.Errorf("resume point: %w", err)
	}
	server, err := parseGTIDSet(executed)
	if err != nil {
		return fmt.Errorf("the server's gtid_executed: %w", err)
	}
	if missing := gtidMinus(archived, server); missing != "" {
		return shared.Precondition(fmt.Sprintf("the archive holds transactions the server no longer has (%s): the server lost them (a crash with sync_binlog or innodb_flush_log_at_trx_commit ≠ 1, or a restore) and may give their GTIDs to new transactions; this archive cannot be continued — start a new archive from a new snapshot", missing))
	}
	if from.File != "" {
		size, onServer, err := binlogFileSize(ctx, a.db, from.File)
		if err != nil {
			return err
		}
		if onServer && size < from.Pos {
			return shared.Precondition(fmt.Sprintf("the server's %s is %d bytes long but the archive holds it up to %d: the server lost binlog the archive holds; this archive cannot be continued — start a new archive from a new snapshot", from.File, size, from.Pos))
		}
	}
	if from.Last == nil {
		return nil
	}
	size, onServer, err := binlogFileSize(ctx, a.db, from.Last.File)
	if err != nil {
		return err
	}
	if !onServer {
		a.log.Warn("the binlog holding the archive's last transaction was purged; resume checked by GTID only", "file", from.Last.File, "gtid", from.Last.GTID)
		return nil
	}
	if size < from.Last.End {
		return shared.Precondition(fmt.Sprintf("the server's %s is %d bytes long but the archive's last transaction %s ends at %d in it: the server lost binlog the archive holds; this archive cannot be continued — start a new archive from a new snapshot", from.Last.File, size, from.Last.GTID, from.Last.End))
	}
	got, err := a.readTransaction(ctx, from.Last)
	if err != nil {
		return err
	}
	if sha256.Sum256(got) != from.Last.Digest {
		return shared.Precondition(fmt.Sprintf("the server's binlog at %s:%d no longer holds the archive's last transaction %s (different bytes): the server lost it and reused its place; this archive cannot be continued — start a new archive from a new snapshot", from.Last.File, from.Last.Start, from.Last.GTID))
	}
	return nil
}

// readTransaction fetches the bytes [t.Start, t.End) of t.File from the server.
func (a *Archiver) readTransaction(ctx context.Context, t *TransactionRef) ([]byte, error) {
	syncer := replication.NewBinlogSyncer(a.syncerConfig())
	defer syncer.Close()
	stream, err := syncer.StartSync(gomysql.Position{Name: t.File, Pos: uint32(t.Start)})
	if err != nil {
		return nil, a.dumpError(err)
	}
	want := t.End - t.Start
	var got []byte
	for uint64(len(got)) < want {
		ev, err := stream.GetEvent(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading %s at %s:%d back from the server: %w", t.GTID, t.File, t.Start, err)
		}
		h := ev.Header
		if h.LogPos == 0 || h.Flags&replication.LOG_EVENT_ARTIFICIAL_F != 0 || h.EventType == replication.HEARTBEAT_LOG_EVENT_V2 {
			continue
		}
		got = append(got, ev.RawData...)
	}
	return got, nil
}

// binlogFileSize looks a binlog file up in SHOW BINARY LOGS.
func binlogFileSize(ctx context.Context, db *sql.DB, file string) (uint64, bool, error) {
	logs, err := binaryLogs(ctx, db)
	if err != nil {
		return 0, false, err
	}
	for _, l := range logs {
		if l.File == file {
			return l.Pos, true, nil
		}
	}
	return 0, false, nil
}

// binaryLogs lists the server's binlog files and their sizes, oldest first.
func binaryLogs(ctx context.Context, db *sql.DB) ([]binlogCoord, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("SHOW BINARY LOGS (needs REPLICATION CLIENT): %w", err)
	}
	defer rows.Close()
	var logs []binlogCoord
	for rows.Next() {
		var name, encrypted string
		var size uint64
		if err := rows.Scan(&name, &size, &encrypted); err != nil {
			return nil, err
		}
		logs = append(logs, binlogCoord{name, size})
	}
	return logs, rows.Err()
}

// serverBinlogEnd is the server's current binlog file and position.
func serverBinlogEnd(ctx context.Context, db *sql.DB) (binlogCoord, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOG STATUS")
	if err != nil {
		return binlogCoord{}, fmt.Errorf("SHOW BINARY LOG STATUS (needs REPLICATION CLIENT): %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		return binlogCoord{}, shared.Precondition("the server's binary log is off (SHOW BINARY LOG STATUS is empty); archiving needs log_bin")
	}
	var c binlogCoord
	vals := make([]any, len(cols))
	vals[0], vals[1] = &c.File, &c.Pos
	for i := 2; i < len(cols); i++ {
		vals[i] = new(sql.RawBytes)
	}
	if err := rows.Scan(vals...); err != nil {
		return binlogCoord{}, err
	}
	return c, nil
}

// ArchiveLag is how far an archive trails its server.
type ArchiveLag struct {
	// ServerFile and ServerPos are the end of the server's binlog.
	ServerFile string
	ServerPos  uint64
	// Bytes is the binlog the archive lacks (0 when caught up).
	Bytes uint64
	// Seconds is how long ago the archive's last transaction committed when it lacks some
	// binlog (an upper bound of the age of the oldest transaction it lacks); 0 when caught up.
	Seconds float64
	// ExpireSeconds is binlog_expire_logs_seconds (0: the server never purges by age).
	ExpireSeconds int64
	// OldestFile is the oldest binlog the server still has.
	OldestFile string
	// ResumeFileOnServer says the file the archive continues in is still on the server; when
	// false the archive can only continue if the next transactions are in files it has.
	ResumeFileOnServer bool
	// ExpiryHeadroom is ExpireSeconds minus the age of the archive's last commit: roughly how
	// long the archiver may stay stopped before the server purges binlog it has not archived.
	ExpiryHeadroom time.Duration
}

// Lag measures how far the archive ending at p trails the server.
func (a *Archiver) Lag(ctx context.Context, p ResumePoint) (ArchiveLag, error) {
	var l ArchiveLag
	end, err := serverBinlogEnd(ctx, a.db)
	if err != nil {
		return l, err
	}
	l.ServerFile, l.ServerPos = end.File, end.Pos
	if err := a.db.QueryRowContext(ctx, "SELECT @@binlog_expire_logs_seconds").Scan(&l.ExpireSeconds); err != nil {
		return l, fmt.Errorf("reading binlog_expire_logs_seconds: %w", err)
	}
	logs, err := binaryLogs(ctx, a.db)
	if err != nil {
		return l, err
	}
	if len(logs) > 0 {
		l.OldestFile = logs[0].File
	}
	at := binlogCoord{p.File, p.Pos}
	for _, f := range logs {
		switch {
		case f.File == p.File:
			l.ResumeFileOnServer = true
			if f.Pos > p.Pos {
				l.Bytes += f.Pos - p.Pos
			}
		case p.File == "" || f.after(at) && binlogIndex(f.File) > binlogIndex(p.File):
			l.Bytes += f.Pos - 4
		}
	}
	if p.Last != nil {
		age := time.Since(p.Last.Commit)
		if l.Bytes > 0 {
			l.Seconds = age.Seconds()
		}
		if l.ExpireSeconds > 0 {
			l.ExpiryHeadroom = time.Duration(l.ExpireSeconds)*time.Second - age
		}
	}
	return l, nil
}

// gtidMinus names the GTIDs of a that b lacks (empty when a ⊆ b).
func gtidMinus(a, b *gomysql.MysqlGTIDSet) string {
	out := gomysql.NewMysqlGTIDSet()
	for u, tags := range *a {
		for tag, ivs := range tags {
			for _, iv := range ivs {
				for _, rest := range subtractIntervals(iv, (*b)[u][tag]) {
					addInterval(&out, u, tag, rest)
				}
			}
		}
	}
	return out.String()
}

// subtractIntervals is iv minus the (sorted, disjoint) intervals of have.
func subtractIntervals(iv gomysql.Interval, have gomysql.IntervalSlice) []gomysql.Interval {
	var out []gomysql.Interval
	cur := iv.Start
	for _, h := range have {
		if h.Stop <= cur || h.Start >= iv.Stop {
			continue
		}
		if h.Start > cur {
			out = append(out, gomysql.Interval{Start: cur, Stop: h.Start})
		}
		cur = max(cur, h.Stop)
	}
	if cur < iv.Stop {
		out = append(out, gomysql.Interval{Start: cur, Stop: iv.Stop})
	}
	return out
}

// readEmptyFile reads a whole binlog file from the server (SHOW BINARY LOGS gives its size)
// and returns it as a segment, after checking it holds only the events a file has outside
// transactions: format description, Previous_gtids, rotate, stop. Anything else — a
// transaction above all — is refused, as is a file the server no longer has.
func (a *Archiver) readEmptyFile(ctx context.Context, file string) (Segment, error) {
	size, onServer, err := binlogFileSize(ctx, a.db, file)
	if err != nil {
		return Segment{}, err
	}
	if !onServer {
		return Segment{}, shared.Precondition(fmt.Sprintf("%s is no longer on the server (purged), so what it held cannot be checked; the archive has a gap there: start archiving again from a new snapshot", file))
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	syncer := replication.NewBinlogSyncer(a.syncerConfig())
	defer syncer.Close()
	stream, err := syncer.StartSync(gomysql.Position{Name: file, Pos: 4})
	if err != nil {
		return Segment{}, a.dumpError(err)
	}
	seg := Segment{File: file, Start: 4, End: 4}
	for seg.End < size {
		ev, err := stream.GetEvent(ctx)
		if err != nil {
			return Segment{}, fmt.Errorf("reading %s from the server at %d: %w", file, seg.End, err)
		}
		h := ev.Header
		if h.LogPos == 0 || h.Flags&replication.LOG_EVENT_ARTIFICIAL_F != 0 || h.EventType == replication.HEARTBEAT_EVENT || h.EventType == replication.HEARTBEAT_LOG_EVENT_V2 {
			continue
		}
		if start := uint64(h.LogPos) - uint64(h.EventSize); start != seg.End || uint64(len(ev.RawData)) != uint64(h.EventSize) {
			return Segment{}, fmt.Errorf("%s: a %s event at %d (%d bytes) does not follow the bytes read up to %d", file, h.EventType, start, len(ev.RawData), seg.End)
		}
		switch h.EventType {
		case replication.FORMAT_DESCRIPTION_EVENT:
			seg.FormatDescription = append([]byte(nil), ev.RawData...)
		case replication.PREVIOUS_GTIDS_EVENT:
		case replication.ROTATE_EVENT, replication.STOP_EVENT:
			seg.FileEnd = true
		default:
			return Segment{}, fmt.Errorf("%s holds a %s event at %d: it is not a file without transactions", file, h.EventType, seg.End)
		}
		seg.Data = append(seg.Data, ev.RawData...)
		seg.End = uint64(h.LogPos)
	}
	if seg.End != size {
		return Segment{}, fmt.Errorf("%s: its events end at %d, past its size %d in SHOW BINARY LOGS", file, seg.End, size)
	}
	return seg, nil
}
