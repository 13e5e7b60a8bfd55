package mysqlsrc

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"

	"github.com/pagetrack/pagetrack/shared"
)

// openTxn is a transaction whose events are still arriving.
type openTxn struct {
	gtid   string
	start  uint64
	length uint64 // transaction_length from its GTID event: every byte of it, GTID event included
	commit time.Time
	data   []byte
	last   replication.EventType
	sid    uuid.UUID
	tag    string
	gno    int64
}

// assembler turns the raw event stream into segments of whole transactions. It trusts
// nothing: positions must chain, every transaction must end where its GTID event said, and an
// event it does not know stops the archive.
type assembler struct {
	opts     ArchiveOptions
	emit     func(Segment) error
	resume   ResumePoint // where this run started: events before it are already archived
	point    ResumePoint // what has been emitted
	file     string      // the binlog file the stream is in
	fde      []byte      // its format description event
	checksum int         // bytes of checksum after each event's body
	seg      *Segment    // complete transactions not yet emitted
	segSince time.Time
	txn      *openTxn
	// seen is where the server's last heartbeat said the dump is: past everything it skipped.
	seen       binlogCoord
	afterEvent func(eventType byte, inTransaction bool)
	// readSkipped reads a whole binlog file the dump stepped over, proving it holds no
	// transaction (see bridgeSkipped).
	readSkipped func(file string) (Segment, error)
}

func newAssembler(opts ArchiveOptions, from ResumePoint, emit func(Segment) error) *assembler {
	return &assembler{opts: opts, emit: emit, resume: from, point: from}
}

const eventHeaderSize = 19

func (a *assembler) add(ev *replication.BinlogEvent) error {
	h := ev.Header
	switch h.EventType {
	case replication.HEARTBEAT_EVENT, replication.HEARTBEAT_LOG_EVENT_V2:
		if a.txn != nil {
			return nil
		}
		if a.file != "" {
			a.seen = binlogCoord{a.file, uint64(h.LogPos)}
		}
		return a.flush()
	case replication.ROTATE_EVENT:
		if h.LogPos == 0 || h.Flags&replication.LOG_EVENT_ARTIFICIAL_F != 0 {
			return a.enterFile(string(ev.Event.(*replication.RotateEvent).NextLogName))
		}
	case replication.FORMAT_DESCRIPTION_EVENT:
		fd := ev.Event.(*replication.FormatDescriptionEvent)
		a.checksum = 0
		if fd.ChecksumAlgorithm == replication.BINLOG_CHECKSUM_ALG_CRC32 {
			a.checksum = replication.BinlogChecksumLength
		}
		a.fde = append([]byte(nil), ev.RawData...)
		if h.LogPos == 0 {
			return nil // the copy a dump from mid-file sends first; not part of the file there
		}
	}
	if h.LogPos == 0 {
		return fmt.Errorf("the server sent a %s event without a position in %s; pagetrack cannot place it in the archive", h.EventType, a.file)
	}
	if a.file == "" {
		return fmt.Errorf("the server sent a %s event before naming its binlog file", h.EventType)
	}
	end := uint64(h.LogPos)
	if uint64(h.EventSize) > end || uint64(len(ev.RawData)) != uint64(h.EventSize) {
		return fmt.Errorf("%s event at %s:%d has size %d (%d bytes received)", h.EventType, a.file, end, h.EventSize, len(ev.RawData))
	}
	start := end - uint64(h.EventSize)
	if a.archivedAlready(end) {
		if isGTIDEvent(h.EventType) {
			return fmt.Errorf("the server sent the transaction at %s:%d, which lies inside what the archive holds (it ends at %s:%d), although its GTID should have been skipped: the server's binlog differs from the archive", a.file, start, a.resume.File, a.resume.Pos)
		}
		return a.followRotate(h.EventType, ev)
	}
	if a.afterEvent != nil {
		a.afterEvent(byte(h.EventType), a.txn != nil || isGTIDEvent(h.EventType))
	}
	if err := a.checkChain(start, h.EventType); err != nil {
		return err
	}
	if a.txn != nil {
		return a.continueTxn(h.EventType, ev.RawData)
	}
	return a.betweenTxns(h.EventType, start, ev)
}

// archivedAlready reports an event the archive this run resumed holds (the server resends a
// file's header events from the file's start).
func (a *assembler) archivedAlready(end uint64) bool {
	r := a.resume
	if r.File == "" {
		return false
	}
	if a.file == r.File {
		return end <= r.Pos
	}
	return !(binlogCoord{a.file, 0}).after(binlogCoord{r.File, 0})
}

// checkChain refuses an event that does not start where the archive's bytes end. Before the
// archive's first transaction (a run starting from a GTID set alone) the server skips the
// transactions in that set, so nothing can be chained yet.
func (a *assembler) checkChain(start uint64, t replication.EventType) error {
	want, known := a.expectedStart()
	if !known || start == want {
		return nil
	}
	return fmt.Errorf("the binlog stream jumped: a %s event starts at %s:%d, but the archive ends at %s:%d (a %s); the server's binlog no longer matches the archive",
		t, a.file, start, a.file, want, gapOrOverlap(start, want))
}

func (a *assembler) expectedStart() (uint64, bool) {
	switch {
	case a.txn != nil:
		return a.txn.start + uint64(len(a.txn.data)), true
	case a.seg != nil:
		return a.seg.End, true
	case a.point.File == "":
		return 0, false
	case a.file == a.point.File:
		return a.point.Pos, true
	}
	return 4, true
}

func (a *assembler) betweenTxns(t replication.EventType, start uint64, ev *replication.BinlogEvent) error {
	switch t {
	case replication.GTID_EVENT, replication.GTID_TAGGED_LOG_EVENT:
		return a.beginTxn(t, start, ev.RawData)
	case replication.ANONYMOUS_GTID_EVENT:
		return fmt.Errorf("the binlog holds an anonymous transaction at %s:%d: archiving needs gtid_mode=ON", a.file, start)
	case replication.INCIDENT_EVENT:
		return fmt.Errorf("the server logged an incident at %s:%d (its binary log lost events there); the archive cannot continue across it: take a new snapshot and start archiving from it", a.file, start)
	case replication.FORMAT_DESCRIPTION_EVENT, replication.PREVIOUS_GTIDS_EVENT, replication.ROTATE_EVENT, replication.STOP_EVENT:
	default:
		return fmt.Errorf("the binlog holds a %s event at %s:%d outside any transaction; pagetrack does not know what it means and stops rather than skip it", t, a.file, start)
	}
	if a.point.File == "" { // before the archive's first transaction: nothing to chain onto
		return a.followRotate(t, ev)
	}
	a.appendToSegment(start, ev.RawData)
	switch t {
	case replication.ROTATE_EVENT:
		a.seg.FileEnd = true
		if err := a.flush(); err != nil {
			return err
		}
		return a.enterFile(string(ev.Event.(*replication.RotateEvent).NextLogName))
	case replication.STOP_EVENT:
		a.seg.FileEnd = true
		return a.flush()
	}
	return nil
}

func (a *assembler) beginTxn(t replication.EventType, start uint64, raw []byte) error {
	body := raw[eventHeaderSize : len(raw)-a.checksum]
	var g replication.GTIDEvent
	if t == replication.GTID_TAGGED_LOG_EVENT {
		var tagged replication.GtidTaggedLogEvent
		if err := tagged.Decode(body); err != nil {
			return fmt.Errorf("decoding the tagged GTID event at %s:%d: %v", a.file, start, err)
		}
		g = tagged.GTIDEvent
	} else if err := g.Decode(body); err != nil {
		return fmt.Errorf("decoding the GTID event at %s:%d: %v", a.file, start, err)
	}
	sid, err := uuid.FromBytes(g.SID)
	if err != nil {
		return fmt.Errorf("GTID event at %s:%d: %v", a.file, start, err)
	}
	gtid := fmt.Sprintf("%s:%d", sid, g.GNO)
	if tag := g.Tag.String(); tag != "" {
		gtid = fmt.Sprintf("%s:%s:%d", sid, tag, g.GNO)
	}
	if g.TransactionLength == 0 || g.ImmediateCommitTimestamp == 0 {
		return fmt.Errorf("the GTID event of %s at %s:%d carries no transaction length or commit timestamp (a server older than 8.0.2?); pagetrack cannot find the transaction's end", gtid, a.file, start)
	}
	a.txn = &openTxn{gtid: gtid, start: start, length: g.TransactionLength, sid: sid, tag: g.Tag.String(), gno: g.GNO,
		commit: time.UnixMicro(int64(g.ImmediateCommitTimestamp)).UTC(), data: append([]byte(nil), raw...), last: t}
	return a.checkTxnEnd()
}

func (a *assembler) continueTxn(t replication.EventType, raw []byte) error {
	if !knownInTransaction(t) {
		return fmt.Errorf("transaction %s holds a %s event at %s:%d; pagetrack does not know it and stops rather than skip it", a.txn.gtid, t, a.file, a.txn.start+uint64(len(a.txn.data)))
	}
	if len(a.txn.data)+len(raw) > a.opts.MaxTransactionBytes {
		return fmt.Errorf("transaction %s at %s:%d is larger than the archive's limit of %d bytes (it is %d); raise the limit", a.txn.gtid, a.file, a.txn.start, a.opts.MaxTransactionBytes, a.txn.length)
	}
	a.txn.data = append(a.txn.data, raw...)
	a.txn.last = t
	if t == replication.QUERY_EVENT {
		if err := a.noteQuery(raw); err != nil {
			return err
		}
	}
	return a.checkTxnEnd()
}

// noteQuery keeps a query event's kind: BEGIN, XA START and XA END open or continue a
// transaction; any other query (COMMIT, ROLLBACK, XA COMMIT, DDL) ends it.
func (a *assembler) noteQuery(raw []byte) error {
	var q replication.QueryEvent
	if err := q.Decode(raw[eventHeaderSize : len(raw)-a.checksum]); err != nil {
		return fmt.Errorf("decoding a query event of %s: %v", a.txn.gtid, err)
	}
	s := strings.ToUpper(strings.TrimSpace(string(q.Query)))
	if s == "BEGIN" || strings.HasPrefix(s, "XA START") || strings.HasPrefix(s, "XA END") {
		a.txn.last = queryOpens
	}
	return nil
}

// queryOpens marks a query event that does not end a transaction (not a real event type).
const queryOpens replication.EventType = 255

// checkTxnEnd closes the transaction when it has its announced length, after checking its
// last event is one that ends transactions.
func (a *assembler) checkTxnEnd() error {
	n := uint64(len(a.txn.data))
	switch {
	case n < a.txn.length:
		return nil
	case n > a.txn.length:
		return fmt.Errorf("transaction %s at %s:%d runs past the %d bytes its GTID event announced", a.txn.gtid, a.file, a.txn.start, a.txn.length)
	}
	switch a.txn.last {
	case replication.XID_EVENT, replication.XA_PREPARE_LOG_EVENT, replication.TRANSACTION_PAYLOAD_EVENT, replication.QUERY_EVENT:
	default:
		return fmt.Errorf("transaction %s at %s:%d ends, by its announced length, with a %s event, which does not end transactions", a.txn.gtid, a.file, a.txn.start, a.txn.last)
	}
	return a.closeTxn()
}

func (a *assembler) closeTxn() error {
	t := a.txn
	a.txn = nil
	have, err := parseGTIDSet(a.point.GTIDs)
	if err != nil {
		return err
	}
	one, _ := parseGTIDSet(t.gtid)
	if have.Contain(one) {
		return fmt.Errorf("the server sent transaction %s (at %s:%d) that the archive already holds; the server's binlog differs from the archive", t.gtid, a.file, t.start)
	}
	if a.point.File == "" && a.seg == nil {
		a.point.File, a.point.Pos = a.file, t.start // the archive's first transaction anchors it
		a.point.FileEnded = false
	}
	a.appendToSegment(t.start, t.data)
	s := a.seg
	if s.Transactions == 0 {
		s.FirstCommit = t.commit
	}
	s.Transactions++
	s.LastCommit = t.commit
	s.Last = &TransactionRef{GTID: t.gtid, File: a.file, Start: t.start, End: t.start + uint64(len(t.data)), Commit: t.commit, Digest: sha256.Sum256(t.data)}
	set, err := parseGTIDSet(s.GTIDs)
	if err != nil {
		return err
	}
	set.AddGTIDWithTag(t.sid, gomysql.NewTag(t.tag), t.gno)
	s.GTIDs = set.String()
	if len(s.Data) >= a.opts.SegmentBytes || time.Since(a.segSince) >= a.opts.SegmentAge {
		return a.flush()
	}
	return nil
}

func (a *assembler) appendToSegment(start uint64, raw []byte) {
	if a.seg == nil {
		a.seg = &Segment{File: a.file, Start: start, End: start, FormatDescription: a.fde}
		a.segSince = time.Now()
	}
	a.seg.Data = append(a.seg.Data, raw...)
	a.seg.End += uint64(len(raw))
}

// flush emits the pending segment after checking it continues the archive.
func (a *assembler) flush() error {
	s := a.seg
	if s == nil {
		return nil
	}
	if len(s.FormatDescription) == 0 {
		return fmt.Errorf("segment %s [%d, %d) has no format description event (the server sent none for the file)", s.File, s.Start, s.End)
	}
	next, err := a.point.Next(*s)
	if err != nil {
		return fmt.Errorf("the archiver made a segment that does not continue the archive (a bug): %w", err)
	}
	if err := a.emit(*s); err != nil {
		return err
	}
	a.point, a.seg = next, nil
	return nil
}

// followRotate moves to the next file after a rotate event the archive does not keep.
func (a *assembler) followRotate(t replication.EventType, ev *replication.BinlogEvent) error {
	if t != replication.ROTATE_EVENT {
		return nil
	}
	return a.enterFile(string(ev.Event.(*replication.RotateEvent).NextLogName))
}

// enterFile follows the stream into another binlog file.
func (a *assembler) enterFile(name string) error {
	if a.txn != nil {
		return fmt.Errorf("the binlog stream moved to %s inside transaction %s (started at %s:%d)", name, a.txn.gtid, a.file, a.txn.start)
	}
	if err := a.flush(); err != nil {
		return err
	}
	if err := a.bridgeSkipped(name); err != nil {
		return err
	}
	if name != a.file {
		a.file, a.fde = name, nil
	}
	return nil
}

// bridgeSkipped archives the files between the archive's last file and name, where a dump by
// GTID set began further on: the server starts such a dump in the newest file whose
// Previous_gtids the set contains, stepping over files that hold no new transaction (an
// empty file a rotation opened before the server was killed, see doc.go). Each stepped-over
// file is read whole from the server and must hold no transaction; it then becomes a segment
// of its own, so that the archive's records stay contiguous by ResumePoint.Next.
func (a *assembler) bridgeSkipped(name string) error {
	from := a.point.File
	if from == "" || name == from || binlogIndex(name) <= binlogIndex(from)+1 {
		return nil
	}
	if binlogBase(name) != binlogBase(from) || binlogIndex(from) < 0 {
		return fmt.Errorf("the binlog dump moved from %s to %s, a file of another name: the archive cannot follow it", from, name)
	}
	for f := shared.NextBinlogFile(from); binlogIndex(f) < binlogIndex(name); f = shared.NextBinlogFile(f) {
		if a.readSkipped == nil {
			return fmt.Errorf("the binlog dump skipped %s (from %s to %s) and this archiver cannot check it", f, from, name)
		}
		seg, err := a.readSkipped(f)
		if err != nil {
			return fmt.Errorf("the server's GTID dump continued the archive (ending in %s) in %s, skipping %s; pagetrack must prove a skipped file holds no transaction and could not: %w", from, name, f, err)
		}
		a.seg = &seg
		if err := a.flush(); err != nil {
			return err
		}
	}
	return nil
}

// stop ends a run: complete transactions are emitted, an open one is dropped (the next run
// fetches it again from the emitted point).
func (a *assembler) stop() error {
	a.txn = nil
	return a.flush()
}

// reached reports that the archive (emitted or pending) has got to c, with no transaction open.
func (a *assembler) reached(c binlogCoord) bool {
	if a.txn != nil {
		return false
	}
	at := binlogCoord{a.point.File, a.point.Pos}
	if a.seg != nil {
		at = binlogCoord{a.seg.File, a.seg.End}
	}
	if at.File != "" && !c.after(at) {
		return true
	}
	return a.seen.File != "" && !c.after(a.seen) // nothing new up to c: the server skipped or had none
}

func isGTIDEvent(t replication.EventType) bool {
	return t == replication.GTID_EVENT || t == replication.GTID_TAGGED_LOG_EVENT || t == replication.ANONYMOUS_GTID_EVENT
}

// knownInTransaction are the event types a transaction may hold in a MySQL 8.0.30+ binlog.
func knownInTransaction(t replication.EventType) bool {
	switch t {
	case replication.QUERY_EVENT, replication.XID_EVENT, replication.TABLE_MAP_EVENT,
		replication.WRITE_ROWS_EVENTv2, replication.UPDATE_ROWS_EVENTv2, replication.DELETE_ROWS_EVENTv2,
		replication.PARTIAL_UPDATE_ROWS_EVENT, replication.ROWS_QUERY_EVENT, replication.INTVAR_EVENT,
		replication.RAND_EVENT, replication.USER_VAR_EVENT, replication.XA_PREPARE_LOG_EVENT,
		replication.TRANSACTION_PAYLOAD_EVENT, replication.TRANSACTION_CONTEXT_EVENT, replication.VIEW_CHANGE_EVENT,
		replication.BEGIN_LOAD_QUERY_EVENT, replication.EXECUTE_LOAD_QUERY_EVENT, replication.APPEND_BLOCK_EVENT:
		return true
	}
	return false
}
