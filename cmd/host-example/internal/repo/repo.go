package repo

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// Repository is where backups are kept.
type Repository interface {
	// Location names the repository in messages (a path, a URL).
	Location() string
	// NewStream starts storing the stream of a new snapshot under a fresh id.
	NewStream(ctx context.Context) (StreamWriter, error)
	// Snapshots lists the recorded snapshots, oldest first.
	Snapshots(ctx context.Context) ([]*Snapshot, error)
	// OpenStream reads back the stream of the snapshot id, exactly as it was stored.
	OpenStream(ctx context.Context, id string) (StreamReader, error)
	// PageMap returns the file list of the snapshot id and the pages its stream holds of
	// each file, from its record list (no page is read). An error wrapping ErrCorrupt means
	// the record list is missing or damaged.
	PageMap(ctx context.Context, id string) (*PageMap, error)
}

// StreamWriter stores one stream. Nothing it writes is visible until Commit succeeds.
type StreamWriter interface {
	// ID is the id the snapshot will have.
	ID() string
	// Append stores one record (Progress records are ignored). The writer does not keep rec
	// after it returns. Storing goes on behind it (Local stores through a pipeline): an error
	// storing one record is returned by a later Append or by Commit, which then records
	// nothing. The caller passes only records a shared.StreamChecker accepted: the
	// stream's rules are the kernel's, the writer only stores (and adds the record to the
	// stream's page map, whose size follows the pages that arrived).
	Append(rec *shared.Record) error
	// Commit makes the stream durable and then records snap (whose ID must be ID()),
	// filling in snap.Tree, StoredBytes, AddedBytes and LogicalBytes. On error nothing is
	// recorded.
	Commit(snap *Snapshot) error
	// Abort discards the stream. It is a no-op after a successful Commit, so it can be deferred.
	Abort() error
}

// SummedAppender is a StreamWriter that takes a PageBatch's page sums from the caller, who
// computed them to check the stream digest (shared.StreamChecker.CheckSummed), so that the
// host hashes every page byte once. Local's writer is one.
type SummedAppender interface {
	AppendSummed(rec *shared.Record, sums [][sha256.Size]byte) error
}

// StreamReader yields the records of one stream; Next returns io.EOF at the end. Every blob
// is checked against its SHA-256 as it is read; a mismatch, or a blob or pack that is
// missing, is a *DamageError wrapping ErrCorrupt.
type StreamReader interface {
	Next() (*shared.Record, error)
	// Stats says what the reader has read so far.
	Stats() ReadStats
	Close() error
}

// ReadStats counts what a reader read from the repository.
type ReadStats struct {
	// TreeBlobs are the record-list blobs read; PageBlobs and DataBlobs the page and
	// other payload blobs read. A blob needed twice by one record is read once.
	TreeBlobs, PageBlobs, DataBlobs uint64
	// PackBytes is what was read from pack files (compressed); RawBytes its size
	// decompressed.
	PackBytes, RawBytes uint64
	// PackReads is the number of reads from pack files (adjacent blobs are read at once).
	PackReads uint64
}

// Add adds o to s.
func (s *ReadStats) Add(o ReadStats) {
	s.TreeBlobs += o.TreeBlobs
	s.PageBlobs += o.PageBlobs
	s.DataBlobs += o.DataBlobs
	s.PackBytes += o.PackBytes
	s.RawBytes += o.RawBytes
	s.PackReads += o.PackReads
}

// ErrCorrupt marks stored data that fails its checks.
var ErrCorrupt = errors.New("stored data is corrupt")

// DamageError says what stored data of which snapshot failed a check while it was read.
type DamageError struct {
	// Snapshot is the snapshot whose record list refers to the data.
	Snapshot string
	// What the data is: "shop/orders.ibd page 3", "its record list", "redo at LSN 1234".
	What string
	// Err says what is wrong; it wraps ErrCorrupt.
	Err error
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("snapshot %s is damaged: %s: %v", e.Snapshot, e.What, e.Err)
}

func (e *DamageError) Unwrap() error { return e.Err }

// Snapshot describes one recorded backup. Its JSON form is both what REPO/snapshots/ID.json
// holds (inside its checksummed envelope, see snapfile.go) and what `host-example snapshots --json` prints, as an array. The field names are
// stable: fields may be added, none is renamed or changes meaning.
//
//	id              16 hex characters
//	time            when the host started the backup (RFC 3339, UTC)
//	finished        when the host recorded it
//	source          name of the source block ("primary")
//	source_type     type of the source block, which names the plugin ("mysql")
//	kind            "full" or "incremental"
//	parent          id of the snapshot an incremental builds on ("" for a full)
//	method          how the source found the pages to send: "full", "page-tracking" or
//	                "lsn-scan" (every page read, those newer than the base kept)
//	fallback_reason why an incremental did not use page tracking ("" when it did)
//	base_checkpoint_lsn  checkpoint_lsn of the parent, as the source saw it (0 for a full)
//	pages_in_set, pages_read, bytes_read, bytes_sent
//	                what the backup cost the source: distinct pages in the changed-page set,
//	                pages and bytes read from the server's files, payload bytes sent
//	source_state    the source's own record of the backup (base64), handed back to it when
//	                an incremental builds on this snapshot
//	config          the source's non-sensitive configuration attributes
//	server_version  server version, as the server reports it
//	server_uuid     server_uuid of the backed-up server
//	page_size       innodb_page_size
//	stream_format   version of the record stream (shared.StreamFormat)
//	checkpoint_lsn  LSN crash recovery of the restored datadir starts from
//	end_lsn         LSN the restored datadir is consistent at
//	max_page_lsn    highest page LSN copied
//	binlog_file     binary log file of the consistent position ("" if binary logging is off)
//	binlog_pos      position in binlog_file
//	gtid_executed   GTID set at end_lsn ("" if none)
//	tablespaces, pages, page_bytes, redo_bytes, binlog_bytes, files, records
//	                counts from the stream's trailer
//	stored_bytes    compressed size of the blobs the stream refers to, each reference
//	                counted: what storing this snapshot alone, without deduplication, takes
//	added_bytes     compressed bytes of the blobs this backup added to the repository (the
//	                others were there already: deduplication)
//	logical_bytes   uncompressed size of the stream: its payloads and its record list
//	stream_digest   SHA-256 stream digest, hex (see shared.Digester)
//	tree            IDs of the blobs holding the snapshot's record list, in order
type Snapshot struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	Finished   time.Time `json:"finished"`
	Source     string    `json:"source"`
	SourceType string    `json:"source_type"`
	Kind       string    `json:"kind"`
	Parent     string    `json:"parent"`
	Method     string    `json:"method"`
	// FallbackReason, BaseCheckpointLSN and the costs come from the stream's trailer.
	FallbackReason    string `json:"fallback_reason"`
	BaseCheckpointLSN uint64 `json:"base_checkpoint_lsn"`
	PagesInSet        uint64 `json:"pages_in_set"`
	PagesRead         uint64 `json:"pages_read"`
	BytesRead         uint64 `json:"bytes_read"`
	BytesSent         uint64 `json:"bytes_sent"`
	// How long the backup waited for the checkpoint, and the tracked pages changed only
	// before the base (those skipped among them), from the trailer's optional tail.
	CheckpointWaitMicros   uint64         `json:"checkpoint_wait_micros,omitempty"`
	PagesBeforeBase        uint64         `json:"pages_before_base,omitempty"`
	PagesBeforeBaseSkipped uint64         `json:"pages_before_base_skipped,omitempty"`
	SourceState            []byte         `json:"source_state"`
	Config                 map[string]any `json:"config"`
	ServerVersion          string         `json:"server_version"`
	ServerUUID             string         `json:"server_uuid"`
	PageSize               uint32         `json:"page_size"`
	StreamFormat           uint32         `json:"stream_format"`
	CheckpointLSN          uint64         `json:"checkpoint_lsn"`
	EndLSN                 uint64         `json:"end_lsn"`
	MaxPageLSN             uint64         `json:"max_page_lsn"`
	BinlogFile             string         `json:"binlog_file"`
	BinlogPos              uint64         `json:"binlog_pos"`
	GTIDExecuted           string         `json:"gtid_executed"`
	Tablespaces            uint64         `json:"tablespaces"`
	Pages                  uint64         `json:"pages"`
	PageBytes              uint64         `json:"page_bytes"`
	RedoBytes              uint64         `json:"redo_bytes"`
	BinlogBytes            uint64         `json:"binlog_bytes"`
	// BinlogFrom is where in BinlogFile the snapshot's binlog starts (0: the whole file; an
	// incremental may carry only what its parent lacks), BinlogWritten the binlog the server
	// wrote since its parent's position. Both 0 in snapshots of older versions.
	BinlogFrom    uint64 `json:"binlog_from"`
	BinlogWritten uint64 `json:"binlog_written"`
	Files         uint64 `json:"files"`
	Records       uint64 `json:"records"`
	StoredBytes   int64  `json:"stored_bytes"`
	AddedBytes    int64  `json:"added_bytes"`
	LogicalBytes  int64  `json:"logical_bytes"`
	StreamDigest  string `json:"stream_digest"`
	Tree          []ID   `json:"tree"`
}

// Kinds of snapshot.
const (
	KindFull        = "full"
	KindIncremental = "incremental"
)

// Incremental reports whether s builds on a parent.
func (s *Snapshot) Incremental() bool { return s.Kind == KindIncremental || s.Parent != "" }

// NewID returns a fresh snapshot id: 16 random hex characters.
func NewID() string { return randomHex(8) }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

func validID(id string) bool {
	if len(id) != 16 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// SortSnapshots orders snapshots oldest first (by time, then id).
func SortSnapshots(snaps []*Snapshot) {
	sort.SliceStable(snaps, func(i, j int) bool {
		if !snaps[i].Time.Equal(snaps[j].Time) {
			return snaps[i].Time.Before(snaps[j].Time)
		}
		return snaps[i].ID < snaps[j].ID
	})
}

// Find picks a snapshot by reference: "latest" (the newest) or a unique prefix of its id.
func Find(ctx context.Context, r Repository, ref string) (*Snapshot, error) {
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	if len(snaps) == 0 {
		return nil, fmt.Errorf("repository %s holds no snapshots yet", r.Location())
	}
	if ref == "latest" {
		return snaps[len(snaps)-1], nil
	}
	if ref == "" {
		return nil, fmt.Errorf("no snapshot given; name one by id (a unique prefix is enough) or \"latest\"")
	}
	var matches []*Snapshot
	for _, s := range snaps {
		if s.ID == ref {
			return s, nil
		}
		if strings.HasPrefix(s.ID, strings.ToLower(ref)) {
			matches = append(matches, s)
		}
	}
	switch len(matches) {
	case 0:
		if l, ok := r.(*Local); ok {
			if _, bad, err := l.ScanSnapshots(ctx); err == nil {
				for _, b := range bad {
					if strings.HasPrefix(b.ID, strings.ToLower(ref)) {
						return nil, fmt.Errorf("%v; `host-example repair snapshots -r %s` sets it aside", b, r.Location())
					}
				}
			}
		}
		return nil, fmt.Errorf("no snapshot %q in %s; `host-example snapshots -r %s` lists them", ref, r.Location(), r.Location())
	case 1:
		return matches[0], nil
	}
	var ids []string
	for _, s := range matches {
		ids = append(ids, s.ID)
	}
	return nil, fmt.Errorf("snapshot prefix %q is ambiguous: it matches %s; give more characters", ref, strings.Join(ids, ", "))
}
