package mysqlsrc

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"

	"github.com/pagetrack/pagetrack/shared"
)

// The shared.PointInTimeRestorer capability: resolving a point against archive segments
// (this file) and replaying them onto a restored datadir with the server's own applier
// (pitrapply.go).

var _ shared.PointInTimeRestorer = (*Source)(nil)

// archivedTxn is one transaction of the archive, as its GTID event describes it.
type archivedTxn struct {
	gtid       string
	commit     time.Time // immediate_commit_timestamp
	file       string
	start, end uint64 // in file
	serverID   uint32 // the event header's: the server that wrote it
}

// readChain reads a request's segments and checks they are one contiguous chain from base by
// the shared rule (ArchivePoint.Next).
func readChain(base string, segs shared.ArchiveStream) ([]*shared.ArchiveSegment, error) {
	p := shared.ArchivePoint{GTIDs: base}
	var out []*shared.ArchiveSegment
	for {
		seg, err := segs.Recv()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if p, err = p.Next(seg); err != nil {
			return nil, shared.InvalidConfig("the archive sent for a point restore is not contiguous: " + err.Error())
		}
		out = append(out, seg)
	}
}

// scanTransactions lists the transactions of a chain's segments in log order, reading each
// GTID event (CRC32 checked) and stepping over the transaction by its transaction_length.
func scanTransactions(segs []*shared.ArchiveSegment) ([]archivedTxn, error) {
	var txns []archivedTxn
	for _, seg := range segs {
		p := replication.NewBinlogParser()
		p.SetVerifyChecksum(true)
		if _, err := p.Parse(seg.FormatDescription); err != nil {
			return nil, fmt.Errorf("archive segment %s [%d, %d): its format description: %v", seg.File, seg.Start, seg.End, err)
		}
		for off := uint64(0); off < uint64(len(seg.Data)); {
			at := seg.Start + off
			rest := seg.Data[off:]
			if len(rest) < eventHeaderSize {
				return nil, fmt.Errorf("archive segment %s ends inside an event header at %d", seg.File, at)
			}
			typ := replication.EventType(rest[4])
			size := uint64(binary.LittleEndian.Uint32(rest[9:]))
			if size < eventHeaderSize || size > uint64(len(rest)) {
				return nil, fmt.Errorf("archive segment %s: the %s event at %d claims %d bytes, %d remain", seg.File, typ, at, size, len(rest))
			}
			if !isGTIDEvent(typ) {
				off += size
				continue
			}
			t, length, err := decodeTxnStart(p, seg.File, at, rest[:size])
			if err != nil {
				return nil, err
			}
			if length < size || length > uint64(len(rest)) {
				return nil, fmt.Errorf("archive segment %s: transaction %s at %d claims %d bytes, %d remain", seg.File, t.gtid, at, length, len(rest))
			}
			t.end = at + length
			txns = append(txns, t)
			off += length
		}
	}
	return txns, nil
}

func decodeTxnStart(p *replication.BinlogParser, file string, at uint64, raw []byte) (archivedTxn, uint64, error) {
	ev, err := p.Parse(raw)
	if err != nil {
		return archivedTxn{}, 0, fmt.Errorf("archive %s: the GTID event at %d: %v", file, at, err)
	}
	var g *replication.GTIDEvent
	switch e := ev.Event.(type) {
	case *replication.GTIDEvent:
		g = e
	case *replication.GtidTaggedLogEvent:
		g = &e.GTIDEvent
	default:
		return archivedTxn{}, 0, fmt.Errorf("archive %s: the GTID event at %d decoded as %T", file, at, ev.Event)
	}
	sid, err := uuid.FromBytes(g.SID)
	if err != nil {
		return archivedTxn{}, 0, fmt.Errorf("archive %s: the GTID event at %d: %v", file, at, err)
	}
	gtid := fmt.Sprintf("%s:%d", sid, g.GNO)
	if tag := g.Tag.String(); tag != "" {
		gtid = fmt.Sprintf("%s:%s:%d", sid, tag, g.GNO)
	}
	if g.ImmediateCommitTimestamp == 0 || g.TransactionLength == 0 {
		return archivedTxn{}, 0, fmt.Errorf("archive %s: the GTID event of %s at %d has no commit timestamp or transaction length", file, gtid, at)
	}
	t := archivedTxn{gtid: gtid, commit: time.UnixMicro(int64(g.ImmediateCommitTimestamp)).UTC(), file: file, start: at, serverID: ev.Header.ServerID}
	return t, g.TransactionLength, nil
}

// resolvePoint finds where target ends in a chain starting from base: stop is the index of
// the last transaction to apply (-1: none, the point is base itself). A target the archive
// cannot prove — a GTID it lacks, a time outside its transactions — is refused, naming what the
// archive holds.
func resolvePoint(base string, txns []archivedTxn, target shared.PointTarget) (stop int, err error) {
	if len(txns) == 0 {
		return 0, shared.Precondition("the archive chain holds no transactions to restore to a point in")
	}
	first, last := txns[0], txns[len(txns)-1]
	span := fmt.Sprintf("the archive chain holds %s (committed %s) through %s (committed %s)", first.gtid, stamp(first.commit), last.gtid, stamp(last.commit))
	switch {
	case !target.ToTime.IsZero():
		t := target.ToTime
		if t.Before(first.commit) {
			return 0, shared.Precondition(fmt.Sprintf("%s is before the first transaction of the archive chain; %s", stamp(t), span))
		}
		latest := last.commit
		for _, x := range txns {
			if x.commit.After(latest) {
				latest = x.commit
			}
		}
		if t.After(latest) {
			return 0, shared.Precondition(fmt.Sprintf("%s is after the last transaction archived, so what committed by then is not known; %s (archive more, or pick an earlier time)", stamp(t), span))
		}
		for i, x := range txns {
			if x.commit.After(t) {
				return i - 1, nil
			}
		}
		return len(txns) - 1, nil
	case target.BeforeGTID != "":
		for i, x := range txns {
			if sameGTID(x.gtid, target.BeforeGTID) {
				return i - 1, nil
			}
		}
		return 0, shared.Precondition(fmt.Sprintf("transaction %s is not in the archive chain (an applier told to stop before a transaction it never sees never stops); %s", target.BeforeGTID, span))
	default:
		want, _ := shared.ParseGTIDSet(target.ToGTIDs)
		have, _ := shared.ParseGTIDSet(base)
		stop := -1
		for i, x := range txns {
			one, _ := shared.ParseGTIDSet(x.gtid)
			if want.Contains(one) {
				stop = i
				have = have.Union(one)
			}
		}
		if missing := want.Subtract(have); !missing.Empty() {
			return 0, shared.Precondition(fmt.Sprintf("the GTID set names transactions the archive chain does not hold: %s; %s", missing, span))
		}
		return stop, nil
	}
}

// reachedAt is base and every transaction through stop.
func reachedAt(base string, txns []archivedTxn, stop int) (string, error) {
	set, err := shared.ParseGTIDSet(base)
	if err != nil {
		return "", fmt.Errorf("archive base GTID set: %w", err)
	}
	for _, x := range txns[:stop+1] {
		one, err := shared.ParseGTIDSet(x.gtid)
		if err != nil {
			return "", err
		}
		set = set.Union(one)
	}
	return set.String(), nil
}

func sameGTID(a, b string) bool {
	x, err1 := shared.ParseGTIDSet(a)
	y, err2 := shared.ParseGTIDSet(b)
	return err1 == nil && err2 == nil && x.Equal(y)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }
