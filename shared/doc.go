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
// # The wires
//
// Records cross in one of two forms (Wire, grpcframes.go). The records wire (Backup, Restore)
// converts each Record field by field to one protobuf message, which gRPC copies into its
// HTTP/2 frames on one side and out of them, into a fresh buffer per record, on the other. The
// frames wire (BackupFrames, RestoreFrames, issue 11) carries each record as a frame: a u32
// length and the record's codec encoding (frames.go). The codec is the one encoding of a
// record, so no field is converted, a new stream format crosses without a proto change, and
// the receiver decodes with DecodeRecord, whose payloads alias what it read. For a backup the
// host listens on a unix socket in a directory of its own (mode 0700) and names it and a
// random 32-byte token in the request (fields 40-41); the plugin connects, presents the
// token, waits for the host's one-byte answer, then writes the frames — a large payload by
// writev straight from the source's buffer, small records gathered into 256 KiB writes
// whenever the source has no record ready — and closes the socket. The gRPC call carries no
// message, only the outcome: the host reads the socket to its end and then the call's status,
// so every error crosses as before (DataLoss for ErrBadStream, the plugin's exit as
// ErrPluginShutdown, secrets stripped). When the host cannot make a socket the frames travel
// in FrameBatch messages of the call; restores always do (their records come from a
// repository at the pace of its reads). A plugin without the frames calls answers
// UNIMPLEMENTED and the host uses the records wire from then on; every plugin still serves it.
// A forged frame (an empty or over-MaxRecordBytes length, a cut, an encoding DecodeRecord
// refuses) is ErrBadStream naming the record, and no buffer larger than max(4 MiB, one frame)
// is allocated for any claim (FuzzFrames).
//
// Why a socket and not only batched messages: measured with BenchmarkWire (the transport
// alone, 1 GiB of pre-built page batches from memory, both ends in one process over
// go-plugin's unix socket) on this 2-core machine while other work kept its load average at
// 16-27, so wall rates are low and vary; the CPU both ends spend per GiB is the comparable
// figure, cleanest with GOMAXPROCS=1 (-cpu 1: no runtime spinning between the two ends):
//
//	record size  wire     CPU per GiB, -cpu 1  rate, -cpu 1  rate, -cpu 2 (3 runs)
//	960 KiB      records  0.95 s               379 MB/s      305-406 MB/s
//	960 KiB      frames   0.95 s               297 MB/s      365-545 MB/s
//	960 KiB      bulk     0.47 s               498 MB/s      640-751 MB/s
//	16 KiB       records  2.11 s                89 MB/s      243-246 MB/s
//	16 KiB       frames   1.63 s               119 MB/s      205-360 MB/s
//	16 KiB       bulk     0.79 s               337 MB/s      323-436 MB/s
//
// Frames in gRPC messages save the per-field conversion but keep gRPC's copies (marshal, HTTP/2
// framing in 16 KiB frames with flow control, a fresh buffer per received message); the socket
// leaves one kernel copy each way and a few large syscalls: half the CPU of either gRPC form
// for page batches, a third for single pages. Of the socket's remaining CPU, a profile shows about a third in the read and write
// syscalls and a third in zeroing fresh receive buffers (memclr, madvise): the receiver never
// reuses a buffer, because a consumer may keep records past the next Recv. A consumer that
// handed buffers back could save that third; the contract does not offer it yet. go-plugin's
// broker was not used: it dials a second gRPC connection, so it keeps gRPC's copies.
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
//     (FirstPage+count ≤ SizePages), no page twice; a batch with PageNumbers (format 3 only)
//     lists one page number per page, strictly increasing, the last below SizePages, the
//     first equal to FirstPage (PageBatch.Each and Runs give every consumer the pages with
//     their numbers); a whole file's batch (Incremental false)
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
//     paths); Records counts the digested records; Digest is, over every record but Progress
//     and the Trailer, SHA-256 over their codec encodings (formats 1, 2) or over their
//     RecordSums (format 3) (Digester).
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
//
// # Format 3: a digest that parallelises, page batches with page lists
//
// Up to format 2 the digest was one SHA-256 over every byte of the stream, in stream order:
// whoever produces or checks a stream spends a core on it (53 % of the plugin's CPU, all on
// the goroutine that sends records, capping a backup at one core's SHA-256 rate) and a host
// hashes every page twice (once for the digest, once to store it by content). Format 3
// keeps one end-to-end SHA-256 digest but makes it a two-level hash list:
//
//	RecordSum(record) = SHA-256(encoding)                                 every kind but PageBatch
//	RecordSum(batch)  = SHA-256(encoding without Data ‖ SHA-256(page₁) ‖ … ‖ SHA-256(pageₙ))
//	Digest            = SHA-256(RecordSum(r₁) ‖ … ‖ RecordSum(rₖ))        in stream order
//
// with each page cut at its Tablespace's PageSize (the Tablespace precedes its pages, so the
// Digester knows it). A source computes each RecordSum where it reads the pages, on every
// reader goroutine, and folds 32 bytes per record in order (Digester.AddSum); a host that
// hashes pages with SHA-256 to store them (host-example does) gets the batch's RecordSum from
// those hashes (PagesSum) and checks the digest for 32 bytes per page (CheckSummed). Every
// leaf has a fixed length and a fixed position, so the list is as collision resistant as
// SHA-256 itself; SHA-256 stays the hash because this machine's CPUs have SHA-NI (crypto/
// sha256 uses it, ~2 GB/s a core) and hosts already use it for content addresses — a faster
// hash would need a dependency and still a second pass on the host.
//
// Format 3 also lets a PageBatch carry scattered pages: PageNumbers lists them (codec kind
// 'S'), so an incremental sends ~1 MiB records instead of one record per changed page. Only
// a format 3 stream may carry such a batch, so every older stream and consumer is unchanged;
// a format 1 or 2 stream still reads, checks and restores (stream-v1/v2.golden).
package shared
