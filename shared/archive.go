package shared

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Archiver is an optional capability of a Source: following the server's transaction log
// (MySQL's binary log) continuously, so that a host can keep it next to its snapshots for
// point-in-time recovery. Find it with a type assertion on the Source; the gRPC client always
// has it and returns ErrUnsupported when the plugin does not serve it (gRPC Unimplemented).
type Archiver interface {
	// Archive follows the log from req.From and yields segments, each continuing the one
	// before (ArchivePoint.Next). The stream ends (io.EOF) when ctx ends or, with UntilNow,
	// at the log's end as it was when Archive started. An error before the first segment
	// (invalid configuration, a resume point the server contradicts) comes from Archive
	// itself. A transaction still open when the stream ends is not sent: the next Archive
	// from the last point a host stored fetches it whole.
	Archive(ctx context.Context, req *ArchiveRequest) (ArchiveStream, error)
	// ArchiveLag measures how far an archive ending at req.From trails the server.
	ArchiveLag(ctx context.Context, req *ArchiveRequest) (*ArchiveLag, error)
}

// ArchiveFormat is the version of the archive stream: what a segment's bytes are (raw events
// of one binary log file, as the server wrote them) and what its fields mean. A host refuses a
// segment of another format.
const ArchiveFormat = 1

// ArchiveRequest asks for an archive stream (or its lag).
type ArchiveRequest struct {
	Config Config
	// From is where the host's archive ends. Its zero value with GTIDs set starts an archive
	// at the first transaction not in GTIDs (a snapshot's GTID set, say).
	From ArchivePoint
	// UntilNow ends the stream at the server's log end as it was when Archive started.
	UntilNow bool
}

// ArchiveStream yields segments; Recv returns io.EOF, unwrapped, at the end.
type ArchiveStream interface {
	Recv() (*ArchiveSegment, error)
}

// ArchiveSegment is a piece of the archive: the bytes [Start, End) of one binlog file exactly
// as the server's binlog holds them, whole transactions and the file's own non-transaction
// events. Over gRPC it travels as ArchiveChunk messages of at most MaxPayloadBytes of data
// each; the last chunk of a segment says so (see source.proto). A file a resumed dump stepped
// over (one holding no transaction) comes whole as a segment without transactions, so that an
// archive's records name every file.
type ArchiveSegment struct {
	// Format is ArchiveFormat.
	Format     uint32
	File       string
	Start, End uint64
	Data       []byte
	// FormatDescription is File's format description event, raw, so that a segment can be
	// replayed on its own (after the binlog magic, before Data).
	FormatDescription []byte
	// GTIDs are the transactions in Data (MySQL's GTID set syntax; empty for none).
	GTIDs        string
	Transactions uint64
	// FirstCommit and LastCommit are the immediate_commit_timestamp of the first and last
	// transaction (zero without transactions), not the events' statement start times.
	FirstCommit, LastCommit time.Time
	// FileEnd says Data ends with File's rotate or stop event: nothing follows in File.
	FileEnd bool
	// Last is the last transaction in Data (nil without transactions).
	Last *ArchiveTransaction
}

// ArchiveTransaction names one archived transaction and proves its content; a resumed
// archive checks it against the server (which may have lost it after a crash and re-issued
// its GTID).
type ArchiveTransaction struct {
	GTID       string
	File       string
	Start, End uint64
	Commit     time.Time
	// Digest is the SHA-256 of the transaction's bytes.
	Digest [32]byte
}

// ArchivePoint is where an archive ends: what the next Archive starts from.
type ArchivePoint struct {
	// GTIDs are all transactions the archive holds or deliberately starts after.
	GTIDs string
	// File and Pos are the end of the last segment (empty before the first).
	File string
	Pos  uint64
	// FileEnded says the last segment ended File (rotate or stop).
	FileEnded bool
	// Last is the archive's last transaction.
	Last *ArchiveTransaction
}

// ArchiveLag is how far an archive trails its server.
type ArchiveLag struct {
	// ServerFile and ServerPos are the end of the server's binlog.
	ServerFile string
	ServerPos  uint64
	// Bytes is the binlog the archive lacks (0 when caught up).
	Bytes uint64
	// Seconds is how long ago the archive's last transaction committed when it lacks some
	// binlog; 0 when caught up.
	Seconds float64
	// ExpireSeconds is the server's binlog expiry (0: never purged by age).
	ExpireSeconds int64
	// OldestFile is the oldest binlog the server still has.
	OldestFile string
	// ResumeFileOnServer says the file the archive continues in is still on the server.
	ResumeFileOnServer bool
	// ExpiryHeadroom is ExpireSeconds minus the age of the archive's last commit: roughly how
	// long archiving may stay stopped before the server purges binlog not yet archived.
	ExpiryHeadroom time.Duration
}

// Next checks that s continues the archive ending at p (Continue) and that its bytes are what
// its head says (CheckData), and returns the point after s. It is the one rule of an
// archive's contiguity: the source applies it to what it sends, a host to what it stores.
func (p ArchivePoint) Next(s *ArchiveSegment) (ArchivePoint, error) {
	if err := s.CheckData(); err != nil {
		return p, err
	}
	return p.Continue(s)
}

// CheckData checks s's bytes against its head: their length, and the digest of its last
// transaction.
func (s *ArchiveSegment) CheckData() error {
	if uint64(len(s.Data)) != s.End-s.Start {
		return fmt.Errorf("segment %s [%d, %d) holds %d bytes", s.File, s.Start, s.End, len(s.Data))
	}
	if l := s.Last; l != nil && l.Start >= s.Start && l.End <= s.End && l.Start < l.End {
		if sha256.Sum256(s.Data[l.Start-s.Start:l.End-s.Start]) != l.Digest {
			return fmt.Errorf("segment %s [%d, %d): its last transaction's bytes do not match its digest", s.File, s.Start, s.End)
		}
	}
	return nil
}

// Continue is Next without the data: it checks, from s's head alone, that s continues the
// archive ending at p — same file at exactly p's position, or the next file from its start (4,
// after the magic) — and that its transactions are new and agree with its counts; a host
// applies it to the records of what it stored.
func (p ArchivePoint) Continue(s *ArchiveSegment) (ArchivePoint, error) {
	if s.Format != ArchiveFormat {
		return p, fmt.Errorf("segment %s [%d, %d) is of archive format %d, this program reads %d", s.File, s.Start, s.End, s.Format, ArchiveFormat)
	}
	if s.End <= s.Start {
		return p, fmt.Errorf("segment %s [%d, %d) is empty or reversed", s.File, s.Start, s.End)
	}
	switch {
	case p.File == "":
	case s.File == p.File:
		if p.FileEnded {
			return p, fmt.Errorf("segment %s at %d follows the end of that file", s.File, s.Start)
		}
		if s.Start != p.Pos {
			return p, fmt.Errorf("segment %s starts at %d but the archive ends at %d: a %s", s.File, s.Start, p.Pos, gapOrOverlap(s.Start, p.Pos))
		}
	default:
		prev, next := BinlogIndex(p.File), BinlogIndex(s.File)
		if prev < 0 || next != prev+1 || binlogBase(p.File) != binlogBase(s.File) {
			return p, fmt.Errorf("segment in %s does not follow %s: binlog files are missing between them", s.File, p.File)
		}
		if s.Start != 4 {
			return p, fmt.Errorf("segment %s starts at %d, not at the file's start: the archive lacks %s [4, %d)", s.File, s.Start, s.File, s.Start)
		}
	}
	have, err := ParseGTIDSet(p.GTIDs)
	if err != nil {
		return p, fmt.Errorf("archive GTID set: %w", err)
	}
	add, err := ParseGTIDSet(s.GTIDs)
	if err != nil {
		return p, fmt.Errorf("segment GTID set: %w", err)
	}
	if both := have.Intersect(add); !both.Empty() {
		return p, fmt.Errorf("segment %s [%d, %d) repeats transactions the archive holds: %s", s.File, s.Start, s.End, both)
	}
	if n := add.Count(); n != s.Transactions {
		return p, fmt.Errorf("segment %s [%d, %d) claims %d transactions but its GTID set holds %d", s.File, s.Start, s.End, s.Transactions, n)
	}
	if (s.Last == nil) != (s.Transactions == 0) {
		return p, fmt.Errorf("segment %s [%d, %d) has %d transactions but %s last transaction", s.File, s.Start, s.End, s.Transactions, map[bool]string{true: "no", false: "a"}[s.Last == nil])
	}
	next := ArchivePoint{GTIDs: have.Union(add).String(), File: s.File, Pos: s.End, FileEnded: s.FileEnd, Last: p.Last}
	if l := s.Last; l != nil {
		one, err := ParseGTIDSet(l.GTID)
		if err != nil || one.Count() != 1 || !add.Contains(one) {
			return p, fmt.Errorf("segment %s [%d, %d): its last transaction %q is not one of its GTIDs", s.File, s.Start, s.End, l.GTID)
		}
		if l.File != s.File || l.Start < s.Start || l.End > s.End || l.End <= l.Start {
			return p, fmt.Errorf("segment %s [%d, %d): its last transaction lies at %s [%d, %d), outside it", s.File, s.Start, s.End, l.File, l.Start, l.End)
		}
		next.Last = l
	}
	return next, nil
}

func gapOrOverlap(start, end uint64) string {
	if start > end {
		return fmt.Sprintf("gap of %d bytes", start-end)
	}
	return fmt.Sprintf("overlap of %d bytes", end-start)
}

// BinlogIndex is the number after a binlog file name's last dot (-1 when there is none).
func BinlogIndex(name string) int64 {
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

// NextBinlogFile is the name of the binlog file the server opens after name (its number plus
// one, of at least the same width); "" when name has no number.
func NextBinlogFile(name string) string {
	i := strings.LastIndexByte(name, '.')
	n := BinlogIndex(name)
	if i < 0 || n < 0 {
		return ""
	}
	return fmt.Sprintf("%s.%0*d", name[:i], len(name)-i-1, n+1)
}
