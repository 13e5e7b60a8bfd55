package shared

import (
	"context"
	"time"
)

// Source is what a pagetrack plugin implements and what a host calls. The host schedules and
// stores; the source reads a database server's files and writes them back on restore.
//
// Implementations: mysqlsrc.Source (in process) and the gRPC client returned by dispensing
// PluginName from a go-plugin client (out of process). Both satisfy the same behavioural suite.
type Source interface {
	// Schema declares the configuration attributes the source accepts. A host decodes its
	// config block with it, so that errors point at the host's own file and line.
	Schema(ctx context.Context) (*Schema, error)

	// ValidateConfig checks a decoded configuration without contacting any server: unknown
	// attributes, missing required ones, wrong types and values out of range. Errors wrap
	// ErrInvalidConfig.
	ValidateConfig(ctx context.Context, cfg Config) error

	// Backup takes one backup and streams it as records: a Header first, a Trailer last. A
	// stream that ends without a Trailer whose digest matches is a failed backup; the host must
	// not record it. Recv returns io.EOF after the Trailer. The backup holds the server's
	// backup lock until the stream ends: a caller that stops reading early must cancel ctx.
	Backup(ctx context.Context, req *BackupRequest) (RecordStream, error)

	// Restore consumes a stored stream (Header .. Trailer, in the order Backup produced it)
	// and writes a datadir into req.TargetDir, which must be empty or absent. To restore an
	// incremental, the host merges its chain into one stream first: the newest version of
	// every page, the target snapshot's tablespace list, redo, binlog and files, no
	// Tablespace marked Incremental, and a trailer whose digest covers what was sent.
	Restore(ctx context.Context, req *RestoreRequest, records RecordStream) (*RestoreResult, error)

	// Purge tells the source that no kept backup needs change tracking older than
	// req.FloorLSN (the oldest checkpoint any kept chain still builds on), so the server may
	// drop it. Call it only after the snapshots that move the floor are durably stored.
	Purge(ctx context.Context, req *PurgeRequest) (*PurgeResult, error)
}

// RecordStream yields records one at a time; Recv returns io.EOF, unwrapped, at the end.
// A record and the bytes it holds belong to the consumer once Recv returns it: the producer
// never changes or reuses them (the frames wire reads the next record while it still sends
// the previous one, and a host may keep a record past the next Recv).
type RecordStream interface {
	Recv() (*Record, error)
}

// Config holds decoded configuration values keyed by attribute name. Values are string, int64
// or bool, matching the attribute's AttrType.
type Config map[string]any

// AttrType is the type of a configuration attribute.
type AttrType int

const (
	TypeString AttrType = iota + 1
	TypeInt
	TypeBool
)

func (t AttrType) String() string {
	switch t {
	case TypeString:
		return "string"
	case TypeInt:
		return "number"
	case TypeBool:
		return "bool"
	}
	return "unknown"
}

// Attribute describes one configuration attribute.
type Attribute struct {
	Name        string
	Type        AttrType
	Required    bool
	Sensitive   bool // never logged, never echoed in errors or metadata
	Description string
}

// Schema is the set of attributes a source accepts.
type Schema struct {
	Attributes []Attribute
}

// BackupRequest asks for one backup.
type BackupRequest struct {
	Config Config
	// Base is the snapshot an incremental builds on; nil asks for a full backup.
	Base *BaseSnapshot
}

// BaseSnapshot identifies the base of an incremental to the source.
type BaseSnapshot struct {
	// State is the SourceState of the base's Trailer, handed back unchanged.
	State []byte
}

// PurgeRequest carries the retention floor for change tracking.
type PurgeRequest struct {
	Config   Config
	FloorLSN uint64
}

// PurgeResult says what the server purged.
type PurgeResult struct {
	// PurgedUpTo is the LSN up to which tracking data is gone (0: nothing was purged).
	PurgedUpTo uint64
	Message    string
}

// RestoreRequest asks for a datadir to be written from a stream.
type RestoreRequest struct {
	// TargetDir must be absent or empty; a non-empty target is refused.
	TargetDir string
	// Verify starts a temporary server on the restored datadir once it is written, waits for
	// crash recovery, checks every table and shuts the server down cleanly.
	Verify bool
	// Relocations write the files of a Location elsewhere than inside TargetDir (the
	// default): each names a Location by its OriginalPath and the absolute directory, absent
	// or empty, to write its files into.
	Relocations []Relocation
	// KeyringFile is the keyring data file that holds the keys the stream's Header.MasterKeys
	// lists (for MySQL: a component_keyring_file data file), read on the plugin's machine.
	// Empty: the stream must need no keys.
	KeyringFile string
}

// Relocation moves a Location's files on restore: From is the Location's OriginalPath, To the
// directory the restore writes them into.
type Relocation struct {
	From string
	To   string
}

// RestoreResult reports what a restore wrote and, with Verify, what the check found.
type RestoreResult struct {
	Files         int
	Pages         uint64
	Bytes         uint64
	Verified      bool
	TablesChecked int
	// RecoveredTo is the LSN the verifying server's crash recovery reported reaching (0 if
	// not verified or not reported).
	RecoveredTo uint64
	// ServerOptions are the options ("name=value") a server needs to start on the restored
	// datadir (where its files outside the datadir now are, the page size, …), also written
	// to OptionFile, an option file (a [mysqld] group) inside the target.
	ServerOptions []string
	OptionFile    string
}

// Record is one message of a backup stream. Exactly one field is set.
type Record struct {
	Header     *Header
	Tablespace *Tablespace
	Pages      *PageBatch
	Redo       *RedoSegment
	Binlog     *BinlogChunk
	File       *FileChunk
	Progress   *Progress
	Trailer    *Trailer
}

// StreamFormat is the version of the record stream this package writes. Format 2 added the
// Header's Locations and DataFilePath, format 3 the per-record digest and page batches with
// a page-number list (PageBatch.PageNumbers), see the package documentation; formats 1 and 2
// stay readable. The encryption fields (MasterKeys, RedoEncryption, BinlogHeaderBytes) are an
// optional tail in every format.
const StreamFormat = 3

// Header opens a stream.
type Header struct {
	StreamFormat  uint32
	ServerVersion string
	ServerUUID    string
	// PageSize is the server's logical page size (innodb_page_size).
	PageSize uint32
	// CheckpointLSN is C: the checkpoint read under the backup lock. Crash recovery of the
	// restored datadir starts here.
	CheckpointLSN uint64
	StartedAt     time.Time
	// BinlogBasename is the base name of the server's binary logs ("binlog"), empty when
	// binary logging is off.
	BinlogBasename      string
	GTIDMode            string
	LowerCaseTableNames int64
	// Locations are the directories outside the datadir the server keeps files in (format
	// 2). A file of one has the stream path ExternalPath(ID, path below OriginalPath); the
	// binary log lies in the Location of role RoleBinlogDir, if any.
	Locations []Location
	// DataFilePath is the server's innodb_data_file_path (format 2; empty in format 1, where
	// the server's default applies).
	DataFilePath string
	// MasterKeys are the keyring data_ids of every key the restored datadir needs to be
	// opened: the InnoDB master keys that seal the tablespace keys on page 0 of the encrypted
	// tablespaces and the redo key, and the binary log's key. Sorted, no repeats; empty for a
	// server without encryption. A restore refuses, before writing anything, a keyring that
	// lacks one of them (CheckMasterKeys). The three encryption fields are the codec's
	// optional Header tail, in every format.
	MasterKeys []string
	// RedoEncryption is the redo log's encryption header block (RedoBlockSize bytes: the
	// sealed redo key) when the redo the stream carries is encrypted, else empty. A restore
	// writes it into the redo file it creates.
	RedoEncryption []byte
	// BinlogHeaderBytes are the bytes at the start of the binlog file that binlog positions
	// (the Trailer's BinlogPos and BinlogFrom) do not count: 0, or EncryptedBinlogHeaderBytes
	// for an encrypted binlog (MySQL's binlog_encryption).
	BinlogHeaderBytes uint32
}

// encrypted says whether the Header carries any encryption field (the codec's optional tail).
func (h *Header) encrypted() bool {
	return len(h.MasterKeys) > 0 || len(h.RedoEncryption) > 0 || h.BinlogHeaderBytes != 0
}

// Location is a directory outside the datadir that held files of the backup.
type Location struct {
	ID uint32 // ≥ 1, unique in the stream
	// Role says which server option names the directory (Role* constants).
	Role string
	// OriginalPath is the directory's absolute path on the backed-up server.
	OriginalPath string
}

// Location roles: the server option that named the directory.
const (
	RoleDataHomeDir     = "data_home_dir"    // innodb_data_home_dir
	RoleUndoDir         = "undo_dir"         // innodb_undo_directory
	RoleInnoDBDirectory = "innodb_directory" // an entry of innodb_directories
	RoleBinlogDir       = "binlog_dir"       // the directory of log_bin
)

// Tablespace describes one InnoDB data file. It precedes the file's pages; a later record
// with the same FileIndex updates the size (files grow while they are copied).
type Tablespace struct {
	FileIndex uint32
	// Path is relative to the datadir, slash-separated, never absolute, never escaping; a
	// file outside the datadir has an ExternalPath naming its Location.
	Path    string
	SpaceID uint32
	Flags   uint32
	// PageSize is the physical page size in the file: the zip size for compressed tables,
	// the logical page size otherwise.
	PageSize uint32
	ZipSize  uint32
	// SizePages is the file's length in pages at this backup.
	SizePages uint64
	// Incremental: the stream holds only this file's pages that changed since the base; the
	// others come from the base chain. False: the stream holds every page of the file.
	Incremental bool
}

// PageBatch holds pages of one file: contiguous ones from FirstPage, or (format 3) the pages
// PageNumbers lists, in that order. Read its pages with Each, which knows both forms.
type PageBatch struct {
	FileIndex uint32
	// FirstPage is the first page; with PageNumbers it is PageNumbers[0].
	FirstPage uint64
	Data      []byte // a whole number of pages of the file's PageSize
	// PageNumbers, when set (format 3 only), are the page numbers of Data's pages: strictly
	// increasing, one per page. Nil: the pages are FirstPage, FirstPage+1, ….
	PageNumbers []uint32
}

// PageNo is the page number of the batch's i-th page.
func (p *PageBatch) PageNo(i int) uint64 {
	if p.PageNumbers != nil {
		return uint64(p.PageNumbers[i])
	}
	return p.FirstPage + uint64(i)
}

// Each calls fn with every page of the batch and its page number, in order; pageSize is the
// file's physical page size. A batch the StreamChecker accepted has exactly
// len(Data)/pageSize pages and as many page numbers.
func (p *PageBatch) Each(pageSize int, fn func(pageNo uint64, page []byte) error) error {
	for i := 0; (i+1)*pageSize <= len(p.Data); i++ {
		if err := fn(p.PageNo(i), p.Data[i*pageSize:(i+1)*pageSize:(i+1)*pageSize]); err != nil {
			return err
		}
	}
	return nil
}

// Runs calls fn with every run of consecutive page numbers of the batch (its first page, its
// page count and the run's bytes of Data), in order: one call for a contiguous batch.
func (p *PageBatch) Runs(pageSize int, fn func(first, count uint64, data []byte) error) error {
	n := len(p.Data) / pageSize
	for i := 0; i < n; {
		j := i + 1
		for j < n && p.PageNo(j) == p.PageNo(j-1)+1 {
			j++
		}
		if err := fn(p.PageNo(i), uint64(j-i), p.Data[i*pageSize:j*pageSize]); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// RedoSegment holds raw 512-byte redo log blocks starting at StartLSN (a multiple of 512).
// Segments arrive in LSN order without gaps; the block holding the Trailer's EndLSN may be
// the live tail block, which restore cuts at EndLSN.
type RedoSegment struct {
	StartLSN uint64
	Data     []byte
}

// BinlogChunk holds bytes of the binary log the trailer's position refers to, from
// Trailer.BinlogFrom on.
type BinlogChunk struct {
	Name   string // file name, e.g. "binlog.000003"
	Offset uint64
	Data   []byte
}

// FileChunk holds bytes of a non-InnoDB file the server needs (CSV log tables, .sdi, …).
// Every file has at least one chunk, so empty files survive.
type FileChunk struct {
	Path   string
	Offset uint64
	Data   []byte
}

// Progress reports how far a backup is. It is advisory: it is not part of the digest and a
// host need not store it.
type Progress struct {
	Phase      string
	PagesDone  uint64
	PagesTotal uint64
	BytesDone  uint64
	BytesTotal uint64
}

// Trailer closes a stream. A host records a snapshot only after it has stored every record
// and checked Digest against the records it stored.
type Trailer struct {
	// EndLSN is E: the LSN the restored datadir is consistent at, read from the same
	// log_status row as the binlog position and the GTID set.
	EndLSN        uint64
	CheckpointLSN uint64
	// MaxPageLSN is the highest FIL_PAGE_LSN among the pages copied; always ≤ EndLSN.
	MaxPageLSN   uint64
	BinlogFile   string
	BinlogPos    uint64
	GTIDExecuted string
	Tablespaces  uint64
	Pages        uint64
	PageBytes    uint64
	RedoBytes    uint64
	BinlogBytes  uint64
	Files        uint64
	// Records counts every digested record before the trailer.
	Records    uint64
	Digest     []byte
	FinishedAt time.Time

	// Kind is "full" or "incremental"; Method how changed pages were found: "full",
	// "page-tracking" or "lsn-scan" (every page read, those newer than the base kept), with
	// FallbackReason saying why page tracking was not used.
	Kind              string
	Method            string
	FallbackReason    string
	BaseCheckpointLSN uint64
	// What the backup cost: distinct pages in the changed-page set, pages and bytes read
	// from the server's files, and payload bytes sent in this stream.
	PagesInSet uint64
	PagesRead  uint64
	BytesRead  uint64
	BytesSent  uint64
	// SourceState is the source's own record of this backup (opaque to the host), handed
	// back as BaseSnapshot.State when an incremental builds on it.
	SourceState []byte

	// BinlogFrom is the offset in BinlogFile the stream's binlog chunks start at: 0 when it
	// carries the file from its start; in an incremental whose base ended in the same file,
	// the base's BinlogPos (a binlog delta: the chain holds the bytes before it).
	BinlogFrom uint64
	// BinlogWritten is the binlog the server wrote between the base's position and this
	// backup's (across rotations); 0 for a full backup.
	BinlogWritten uint64

	// What surrounded an incremental's page-tracking part, an optional tail after BinlogFrom
	// and BinlogWritten (zero when the source does not report it).
	// CheckpointWaitMicros is how long the backup waited for the server's checkpoint to pass
	// the page tracking reset point (the rest of the backup's time is its own).
	CheckpointWaitMicros uint64
	// PagesBeforeBase counts the tracked pages whose FIL_PAGE_LSN was at or below the base's
	// checkpoint: changed only before the base, so the chain already holds them as they are.
	// PagesBeforeBaseSkipped is how many of them were not sent (all of them where the source
	// proved redo logging stayed on since the base, else none).
	PagesBeforeBase        uint64
	PagesBeforeBaseSkipped uint64
}

// Backup kinds and methods.
const (
	KindFull        = "full"
	KindIncremental = "incremental"

	MethodFull         = "full"
	MethodPageTracking = "page-tracking"
	MethodLSNScan      = "lsn-scan"
	// MethodRedoBitmap: the changed pages came from a redo tracker's changed-page bitmaps
	// (the Tracker capability).
	MethodRedoBitmap = "redo-bitmap"
)
