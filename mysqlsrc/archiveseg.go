package mysqlsrc

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/google/uuid"

	"github.com/pagetrack/pagetrack/shared"
)

// Segment is a piece of the archive: the bytes [Start, End) of one binlog file exactly as the
// server's binlog holds them (events with their checksums), made of whole transactions and
// the file's own non-transaction events (format description, previous GTIDs, rotate, stop).
type Segment struct {
	File       string
	Start, End uint64
	Data       []byte
	// FormatDescription is File's format description event, raw, so that a segment can be
	// replayed on its own (written after the binlog magic, before Data).
	FormatDescription []byte
	// GTIDs are the transactions in Data (MySQL's GTID set syntax; empty for none).
	GTIDs        string
	Transactions int
	// FirstCommit and LastCommit are the immediate_commit_timestamp of the first and last
	// transaction's GTID event (zero without transactions).
	FirstCommit, LastCommit time.Time
	// FileEnd says Data ends with File's rotate or stop event: nothing follows in File.
	FileEnd bool
	// Last is the last transaction in Data (nil without transactions).
	Last *TransactionRef
}

// TransactionRef names one archived transaction and proves its content.
type TransactionRef struct {
	GTID       string
	File       string
	Start, End uint64
	Commit     time.Time
	// Digest is the SHA-256 of the transaction's bytes.
	Digest [32]byte
}

// ResumePoint is where an archive ends: what the next Run starts from. The zero value with
// GTIDs set starts an archive at the first transaction not in GTIDs (e.g. a snapshot's set).
type ResumePoint struct {
	// GTIDs are all transactions the archive holds or deliberately starts after.
	GTIDs string
	// File and Pos are the end of the last segment (empty before the first).
	File string
	Pos  uint64
	// FileEnded says the last segment ended File (rotate or stop).
	FileEnded bool
	// Last is the archive's last transaction, checked against the server on resume.
	Last *TransactionRef
}

// Next checks that s continues the archive ending at p and returns the point after s: the
// contiguity rule shared.ArchivePoint.Next owns (one rule for the archiver, the store and the
// stored archive).
func (p ResumePoint) Next(s Segment) (ResumePoint, error) {
	next, err := p.Shared().Next(s.Shared())
	if err != nil {
		return p, err
	}
	return ResumePointFrom(next), nil
}

// Shared is s in the contract's form.
func (s Segment) Shared() *shared.ArchiveSegment {
	return &shared.ArchiveSegment{
		Format: shared.ArchiveFormat, File: s.File, Start: s.Start, End: s.End, Data: s.Data,
		FormatDescription: s.FormatDescription, GTIDs: s.GTIDs, Transactions: uint64(s.Transactions),
		FirstCommit: s.FirstCommit, LastCommit: s.LastCommit, FileEnd: s.FileEnd, Last: (*shared.ArchiveTransaction)(s.Last),
	}
}

// Shared is p in the contract's form.
func (p ResumePoint) Shared() shared.ArchivePoint {
	return shared.ArchivePoint{GTIDs: p.GTIDs, File: p.File, Pos: p.Pos, FileEnded: p.FileEnded, Last: (*shared.ArchiveTransaction)(p.Last)}
}

// ResumePointFrom is the contract's archive point as a ResumePoint.
func ResumePointFrom(p shared.ArchivePoint) ResumePoint {
	return ResumePoint{GTIDs: p.GTIDs, File: p.File, Pos: p.Pos, FileEnded: p.FileEnded, Last: (*TransactionRef)(p.Last)}
}

// parseGTIDSet reads MySQL's GTID set syntax (tags included; newlines as the server prints).
func parseGTIDSet(s string) (*gomysql.MysqlGTIDSet, error) {
	set, err := gomysql.ParseMysqlGTIDSet(strings.ReplaceAll(strings.TrimSpace(s), "\n", ""))
	if err != nil {
		return nil, fmt.Errorf("GTID set %q: %v", s, err)
	}
	return set.(*gomysql.MysqlGTIDSet), nil
}

// gtidOverlap names the GTIDs in both sets (empty when disjoint).
func gtidOverlap(a, b *gomysql.MysqlGTIDSet) string {
	both := gomysql.NewMysqlGTIDSet()
	for u, tags := range *b {
		for tag, ivs := range tags {
			for _, iv := range ivs {
				for _, have := range (*a)[u][tag] {
					if lo, hi := max(iv.Start, have.Start), min(iv.Stop, have.Stop); lo < hi {
						addInterval(&both, u, tag, gomysql.Interval{Start: lo, Stop: hi})
					}
				}
			}
		}
	}
	return both.String()
}

// gtidSetEqual compares two GTID sets by meaning.
func gtidSetEqual(a, b string) (bool, error) {
	x, err := parseGTIDSet(a)
	if err != nil {
		return false, err
	}
	y, err := parseGTIDSet(b)
	if err != nil {
		return false, err
	}
	return x.Equal(y), nil
}

// binlogIndex is the number after a binlog file name's last dot (-1 when there is none).
func binlogIndex(name string) int64 {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func binlogBase(name string) string {
	base, _, _ := strings.Cut(name, ".")
	return base
}

// binlogCoord is a position in a server's binary log.
type binlogCoord struct {
	File string
	Pos  uint64
}

// after reports c is past o (file order by index, then position).
func (c binlogCoord) after(o binlogCoord) bool {
	ci, oi := binlogIndex(c.File), binlogIndex(o.File)
	if ci != oi {
		return ci > oi
	}
	return c.Pos > o.Pos
}

// addInterval adds the GTIDs of iv (uuid u, tag) to set.
func addInterval(set *gomysql.MysqlGTIDSet, u uuid.UUID, tag gomysql.Tag, iv gomysql.Interval) {
	if (*set)[u] == nil {
		(*set)[u] = map[gomysql.Tag]gomysql.IntervalSlice{}
	}
	(*set)[u][tag] = append((*set)[u][tag], iv).Normalize()
}

func gapOrOverlap(start, end uint64) string {
	if start > end {
		return fmt.Sprintf("gap of %d bytes", start-end)
	}
	return fmt.Sprintf("overlap of %d bytes", end-start)
}
