// Package shared is the contract between a pagetrack host (the backup tool that schedules
// backups and stores their streams) and a pagetrack source plugin (the process that reads a
// database server's files and writes them back on restore).
//
// The contract is the Source interface and the Go types in source.go. A host calls a Source
// either in process or, through hashicorp/go-plugin, in a plugin process over gRPC; the adapters
// in grpc.go make the two indistinguishable: the same values arrive, the same errors come back
// (errors.Is with ErrInvalidConfig, ErrPrecondition and ErrPluginShutdown works on both sides),
// and io.EOF ends every RecordStream. Protobuf types never leave this package's adapters; the
// wire form lives in shared/proto and is regenerated with `make proto`.
//
// Optional capabilities are interfaces of their own, found by a type assertion on the Source:
// PageChecker (check stored pages as the database does on read) and Archiver (follow the
// server's binary log continuously, for point-in-time recovery: archive.go; a segment's wire
// form is ArchiveChunk messages of at most MaxPayloadBytes of data, see source.proto; the one
// contiguity rule of an archive is ArchivePoint.Next / Continue, and GTIDSet is the GTID set
// arithmetic both sides use), PointInTimeRestorer (bring a restored datadir forward to a
// point by replaying archive segments: pointintime.go) and Tracker (run a change tracker
// beside the server as a long-lived service, streaming its status, and list the pages it
// recorded as changed, as XtraDB's INNODB_CHANGED_PAGES rows: track.go; incrementals from it
// have MethodRedoBitmap). The gRPC client always has
// them and returns ErrUnsupported when the plugin does not serve one (gRPC Unimplemented), so
// a host goes on without it and says what it did not check.
//
// A point restore is split so that the point is checked before anything is written: the host
// owns the choice (which archive chain holds the point, by its records; which snapshot is the
// newest at or before it; the restore of that snapshot through Restore), the source owns the
// reading of the archive's bytes (its database's log: commit times, GTIDs, where a transaction
// ends) and the replay. PointInTime is therefore its own call on its own stream (the request,
// then the chain's segments framed as in Archive) rather than fields of a RestoreRequest: the
// host calls it once without Apply, in a plugin session that writes nothing, to resolve the
// target to a GTID set, then Restore, then PointInTime with Apply on the restored datadir,
// which must end at exactly the set the first call reported.
//
// A plugin's main serves an implementation:
//
//	shared.Serve(impl, logger)
//
// A host launches the plugin binary and dispenses PluginName:
//
//	client := plugin.NewClient(&plugin.ClientConfig{
//		HandshakeConfig:  shared.Handshake,
//		VersionedPlugins: shared.ClientPlugins(),
//		Cmd:              exec.Command(path),
//		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
//		GRPCDialOptions:  shared.GRPCDialOptions(),
//	})
//	rpc, _ := client.Client()
//	raw, _ := rpc.Dispense(shared.PluginName)
//	src := raw.(shared.Source)
//
// Records on the wire are bounded: see MaxRecordBytes and MaxPayloadBytes. The server sends a
// record as it is, without copying its Data: an implementation must not modify a record after
// its RecordStream has returned it.
//
// # The record stream
//
// A backup is a stream of Records (source.go), encoded for storage and digests by the record
// codec (codec.go). Its rules have one owner, StreamChecker, which every consumer runs record
// by record before it stores or writes anything: the host when it stores a backup, merges a
// chain or restores from a stream, the plugin when it restores (NewRestoreChecker, which also
// refuses files marked Incremental). CheckStream wraps it for a whole stream; Summarize turns
// a verified Header and Trailer into the StreamSummary a host records. NewListChecker applies
// the same rules, the digest excepted, to a stored stream's record list (records without
// payloads, CheckListed), which is what a chain merge plans from: package shared/chain, the
// merge of an incremental chain into the one stream a source restores, for every host. A stream that breaks a
// rule is refused with a *StreamError wrapping ErrBadStream, naming the record (its 1-based
// position, Progress records counted) and the rule, so every consumer refuses a forged
// stream with the same text; a stream that ends before its Trailer with ErrNoTrailer. Over
// gRPC both travel as codes.DataLoss and come back as the same kinds.
//
// The rules:
//
//   - Order: exactly one field set per record; the Header first (only Progress may precede
//     it) and once; nothing after the Trailer; the stream ends with a verified Trailer.
//   - Header: StreamFormat one this package reads; PageSize one InnoDB allows (4, 8, 16, 32
//     or 64 KiB); BinlogBasename empty or a bare file name.
//   - Locations (format 2; a format 1 Header has none and no DataFilePath): each a unique
//     ID ≥ 1, a known Role (data_home_dir, undo_dir and binlog_dir at most once each,
//     binlog_dir only with a BinlogBasename) and an absolute, clean OriginalPath other than
//     /; every file of DataFilePath a bare file name.
//   - Encryption (the Header's optional tail, any format): MasterKeys at most MaxMasterKeys
//     printable keyring ids, sorted without repeats; RedoEncryption empty or one
//     RedoBlockSize block; BinlogHeaderBytes 0 or EncryptedBinlogHeaderBytes, and 0 without
//     a BinlogBasename. A restore writes nothing unless its keyring holds every MasterKeys id
//     (CheckMasterKeys, which names the missing ones).
//   - Paths (Tablespace.Path, FileChunk.Path; CheckStreamPath, TargetPath): relative,
//     slash-separated, clean, no NUL or backslash, never escaping the datadir, not under
//     #innodb_redo nor the binlog index, each path named by one file only. A file outside
//     the datadir has the path ExternalPath(id, path below the Location's OriginalPath):
//     a path under ExternalDir (#pagetrack-external) must be ExternalDir/<id>/<path> with
//     the id of a declared Location. The binlog file and index lie in the binlog_dir
//     Location when there is one (BinlogPath), which counts for these rules.
//   - Tablespaces: announced before their pages; a later record for the same FileIndex may
//     only grow SizePages (path, space id, page sizes and Incremental stay); SizePages at most
//     MaxTablespacePages (2^32-1); the physical PageSize is the Header's page size, or for a
//     compressed file its ZipSize (1..16 KiB, at most the logical size).
//   - Pages: a whole, non-zero number of the file's pages, inside the declared size
//     (FirstPage+count ≤ SizePages), no page twice; a whole file's batch (Incremental false)
//     ends at most MaxReorderBytes past the bytes of that file that arrived; at the Trailer a
//     whole file has every one of its SizePages pages. A consumer may therefore size a whole
//     file by SizePages; it sizes its own state by what arrived, never by a claimed size.
//   - Redo: RedoSegments contiguous from the block holding the Header's CheckpointLSN
//     (StartLSN multiple of RedoBlockSize, whole non-zero blocks), ending exactly with the
//     block holding the Trailer's EndLSN.
//   - Binlog: only with a BinlogBasename; one file, a bare name, chunks contiguous from the
//     Trailer's BinlogFrom, which is 0 (the whole file) except in an incremental, where it may
//     be its base's BinlogPos in the same file (a binlog delta: the chain holds the bytes
//     before it; no chunk at all when BinlogPos = BinlogFrom); the Trailer's BinlogFile is
//     that file and BinlogPos where the chunks end (no BinlogFile: no chunks, position and
//     BinlogFrom 0). BinlogPos and BinlogFrom are server positions, which do not count the
//     Header's BinlogHeaderBytes: chunk offsets are positions + BinlogHeaderBytes, except
//     that a whole file starts at offset 0. The delta's start is a claim only its chain can back: the restore
//     checker refuses it (a restore takes whole files), and shared/chain joins a delta only
//     onto a parent that ended in the same file at exactly BinlogFrom.
//   - Files: FileChunks contiguous per path from offset 0 (every file has at least one chunk).
//   - Payloads: at most MaxPayloadBytes each. No offset can exceed the bytes that arrived, so
//     no consumer creates or allocates anything for a size or offset a record merely claims.
//   - Trailer: CheckpointLSN is the Header's; CheckpointLSN ≤ EndLSN and MaxPageLSN ≤ EndLSN;
//     Kind "full" or "incremental", a full holding no Incremental file;
//     its counts equal what arrived (StreamCounts: Tablespaces = distinct FileIndex values,
//     Pages and PageBytes in PageBatches, RedoBytes, BinlogBytes, Files = distinct FileChunk
//     paths); Records counts the digested records; Digest is SHA-256 over the codec encoding
//     of every record but Progress and the Trailer (Digester).
//
// # Versions
//
// Header.StreamFormat versions the codec and the digest together. The Trailer's BinlogFrom
// and BinlogWritten are an optional tail of the Trailer in every format (encoded only when
// either is non-zero, after the digest; the Trailer is outside the digest), so every stored
// stream encodes and reads as before and no format bump was needed. A second optional tail
// follows it (CheckpointWaitMicros, PagesBeforeBase, PagesBeforeBaseSkipped: encoded only
// when one is non-zero, the first tail then encoded too, zeros or not); a present tail of
// only zeros is refused, so the encoding stays canonical. The Header's encryption
// fields (MasterKeys, RedoEncryption, BinlogHeaderBytes) are likewise an optional tail of the
// Header in every format, encoded only when one is non-empty (codec.go): a Header without
// encryption encodes and digests as before; testdata/stream-v2-encrypted.golden pins one with
// the tail. testdata/stream-vN.golden
// pins format N (TestStreamFormatKnownAnswer, refreshed with -update only when a new format
// is introduced; format 2 added the Header's Locations and DataFilePath): a change of either bumps StreamFormat, adds a golden file, and keeps the
// old format in readableFormats with its decoder, so stored streams stay restorable.
package shared
