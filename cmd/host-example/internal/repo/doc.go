// Package repo is host-example's repository: where backup streams are stored, deduplicated,
// checked, restored and pruned.
//
// The host sees a Repository: it opens a StreamWriter for a new snapshot, appends the records
// the source sends, and commits them together with the Snapshot metadata, or aborts; later it
// lists snapshots and reads a stream back. Local is the implementation, a directory. Its
// design follows restic's: content-addressed blobs in pack files, an index, snapshot files
// written last, and lock files.
//
// # Terms
//
//   - blob: a piece of content, named by the SHA-256 of its uncompressed bytes (its ID) and
//     stored as one zstd frame (compressed as the repository's compression setting says, or
//     in raw blocks, see "Compression"). Three kinds: a page blob holds one InnoDB page (a PageBatch is
//     split into pages, so an identical page is stored once across snapshots and sources); a
//     data blob holds the payload of a redo segment, binlog chunk or file chunk (sources send
//     at most 1 MiB; longer payloads are cut into 1 MiB blobs); a tree blob holds a chunk of
//     a snapshot's record list.
//   - pack: a file holding many blobs, named by the SHA-256 of its bytes.
//   - index file: which blobs each pack holds, and where.
//   - record list: a snapshot's stream with every payload replaced by the IDs of its blobs.
//   - snapshot file: a snapshot's metadata (Snapshot), naming its record list's tree blobs.
//
// IDs are written as 64 lower-case hex characters. Integers in the binary formats below are
// big-endian; CRC-32C is Castagnoli's.
//
// # Layout
//
//	REPO/config.json             format version (3), repository id, creation time,
//	                             compression (absent: the default, see "Compression")
//	REPO/data/XX/PACKID          pack files; XX = the first two hex characters of PACKID
//	REPO/index/INDEXID           index files; INDEXID = SHA-256 of the file
//	REPO/snapshots/ID.json       one per snapshot: its metadata and its checksum (ID: 16 hex
//	                             characters)
//	REPO/quarantine/             snapshot files set aside by repair snapshots and migrate
//	                             (ID.json as it was, ID.reason.txt), created when first needed
//	REPO/archive/SOURCE/SEQ.json one archive record per stored binlog segment of SOURCE (SEQ:
//	                             12 decimal digits from 000000000001), see "Archive"
//	REPO/locks/LOCKID.json       one per process using the repository
//	REPO/tmp/                    files being written (packs, index files, metadata, locks)
//
// # Pack file
//
//	magic    8 bytes  "PGTKPACK"
//	version  u32      1
//	nonce    16 bytes random, so that no two writers ever write a pack of the same name
//	blobs    each blob one zstd frame with its content checksum, back to back
//	header   count u32, then count entries, then CRC-32C u32 of count and entries
//	entry    type u8 ('p' page, 'd' data, 't' tree), blob ID [32], offset u32 (from the start
//	         of the file), length u32 (compressed), raw length u32 (uncompressed)
//	hlen     u32      length of header
//	end      8 bytes  "PGTKPEND"
//
// A pack is closed once it holds 16 MiB (and at the end of a backup). Its header lets a pack
// be read without the index; the index is what readers use.
//
// # Index file
//
//	magic    8 bytes  "PGTKINDX"
//	version  u32      1
//	packs    u32      number of packs
//	pack     pack ID [32], pack size u64, count u32, count entries (as in the pack header)
//	crc      u32      CRC-32C of everything before it
//
// A backup writes one index file for the packs it wrote; prune replaces all of them with one.
// The index of a pack lists exactly the blobs of its header. The in-memory index is the union
// of every index file; a blob listed twice (two backups that ran at once stored it, or a
// prune stopped between writing its index and deleting the old ones) is read from the first.
//
// # Record list
//
// A snapshot's stream, record by record, without Progress records:
//
//	item     head length u32, head, then, for PageBatch, RedoSegment, BinlogChunk and
//	         FileChunk records only: payload length u64, piece length u32, n blob IDs [32]
//	head     the record's encoding by shared.AppendRecord, its payload emptied
//
// n = ceil(payload length / piece length) (0 for an empty payload). The pieces of a page
// batch are its pages (piece length = the file's physical page size, from its Tablespace
// record); any other payload is one piece, or 1 MiB pieces when longer. Replacing every ID
// by its blob's content gives back each record exactly as it arrived, so the stream digest
// (shared.Digester) of a stored stream is checked again on restore.
//
// The list is cut into tree blobs at item boundaries: after an item whose FNV-1a hash is 0
// modulo 16 once the blob holds 8 KiB, and always at 1 MiB. A cut depends on the item alone,
// so the record lists of two backups of unchanged data share every tree blob but the first
// and the last (header and trailer differ).
//
// # Snapshot file
//
// REPO/snapshots/ID.json is an envelope (format 3, see snapfile.go):
//
//	{"format": 3, "sha256": "<hex>", "snapshot": <the Snapshot's JSON form>}
//
// where sha256 is the SHA-256 of the bytes of the snapshot value exactly as they stand in the
// file. The checksum covers every field (parent, kind, time, source, tree, and the rest): a
// flipped byte, a truncated file or an edit makes the file unverifiable (a BadSnapshot), and
// such a file is named and left out of every listing (ScanSnapshots); it never hides the
// others. The fields that come from the stream (Snapshot.SetStreamFields: end_lsn,
// binlog_file, binlog_pos, gtid_executed, checkpoint_lsn, base_checkpoint_lsn, stream_digest,
// method, the counts) are in addition compared with the header and trailer of the record list
// (VerifyStreamFields), whose blobs are content-addressed: Commit refuses metadata that
// disagrees, and every read of a record list (restore, planning, check, prune, forget) treats
// a disagreement as damage to the snapshot. The checksum is not a signature: it catches
// damage and careless edits; the record list is what a forged coordinate cannot get past.
//
// The snapshot's JSON form (see Snapshot for the fields): tree lists
// the record list's blob IDs in order; stored_bytes is the compressed size of every blob the
// record list refers to, each reference counted (what storing it alone would take);
// added_bytes the compressed size of the blobs this backup stored because the repository
// lacked them; logical_bytes the stream's uncompressed size (payloads and record list).
//
// # Writing a snapshot, and crashes
//
// A backup reads the index first (under a shared lock). For each blob it checks the index and
// its own new blobs, and stores only what neither has. Packs are written in tmp/ and, when
// full, synced, renamed into data/XX/ and the directory synced. Commit then:
//
//  1. stores the last record-list blob and closes the last pack (synced, renamed, dir synced);
//  2. writes the index file of the backup's packs: tmp/, sync, rename into index/, dir sync;
//  3. writes the snapshot file: tmp/, sync, rename into snapshots/, dir sync.
//
// The snapshot file is written last and appears atomically, and everything it refers to is
// durable before it. A crash (or SIGKILL, or power loss) at any instant therefore leaves
// either no snapshot file (the repository as it was, plus packs and perhaps an index file no
// snapshot refers to, and files in tmp/) or the complete snapshot. What is left over is
// harmless: check reports it as information, the next backup may even reuse its blobs (only
// when its index file made it to disk), and prune removes it. A backup that fails or is
// interrupted (Abort) removes its packs itself, unless its index file may already be on disk:
// then another backup may have read that index and refer to those blobs, so they stay for
// prune to judge.
//
// # Store pipeline
//
// A StreamWriter stores through a pipeline (storepipeline.go): Append maps the record, copies
// its payload into a pooled buffer and returns; worker goroutines (as many as cores, at most
// 4) hash each piece (SHA-256, the ID) and compress those the index lacks, each new blob once
// (the first worker to claim its ID in the writer's map of new blobs); one committer goroutine then adds the stored forms to the
// pack and the items to the record list strictly in Append order, so the record list, the
// pack layout and the stored statistics are what a serial writer makes. At most 16 records
// are in flight (with 1 MiB records about 16 MiB of payload copies and as much of stored
// forms). The first error stops the pipeline: nothing more is stored, Append or Commit returns
// it, and Commit records nothing (Abort removes the packs, as before).
//
// # Compression
//
// config.json's "compression" (set by `host-example init --compression`): off, fast
// (run-length frames, the default), default (zstd's default level) or better (zstd's better
// level). Every setting writes a zstd frame with its content checksum, so a reader needs to
// know nothing of the setting, and a repository can hold blobs of several: off, and any blob
// a zstd level does not shrink by 1/16, is written as a frame of raw blocks (RFC 8878, block
// type 0; no compression work, only the frame's XXH64 checksum), which any zstd decoder
// reads at memory speed. fast writes the same frame but with every run of at least 64 equal
// bytes as an RLE block (block type 1: the byte and its count; runframe.go): no entropy
// coding, one pass over 8-byte words to find the runs, and still a frame the library's
// decoder reads and checks (TestRunFrameDecodes, FuzzRunFrame).
//
// What shrinks in InnoDB pages is their free space. Measured on the pages of a workload
// server (BenchmarkCompressInnoDB over 220 MiB of .ibd files of internal/workload's tables,
// rows of random bytes, on this 2-core machine under load): stored/raw 1.00 (off), 0.763
// (run-length frames), 0.722 (zstd fastest), 0.720 (default), 0.717 (better), at 0.5, 0.2-0.6,
// 2.8-3.1, 2.7-4.6 and 9.5 CPU seconds per GiB. Run-length frames keep 85 % of zstd's saving
// for a fifth to a tenth of its CPU: they are fast and the default (zstd's fastest level is
// no longer a setting; repositories that named "fast" simply write run-length frames from
// now on, and every blob stored before reads as it did). Text rows compress further at the
// zstd levels: choose default for them.
//
// # Memory
//
// The in-memory index (Index) is one 52-byte entry per blob location (ID, pack, offset,
// lengths, type) sorted by ID, plus a 256 KiB table of the IDs' first 16 bits: no map. With
// one page blob per 16 KiB page that is 3.3 GiB per TiB of distinct pages (BenchmarkIndexMemory:
// 52.5 heap bytes per blob; the map it replaced took 145, 9.1 GiB per TiB). Deduplication
// keeps identical pages to one entry (a second full of an unchanged server adds none; one with
// 1 % of its pages changed adds 1 % of them: BenchmarkStoreInnoDB). Below this needs the full
// IDs off the heap (a hash-prefix table in memory, the entries on disk); it is not done yet.
// A running backup holds in addition, per blob it adds, its map entry of new blobs and its
// pack entry until the index file is written at Commit (about 100 bytes; a first full of
// 1 TiB of distinct pages adds 64 Mi blobs), and at most 16 records in its pipeline.
//
// Measured on the same 220 MiB of workload pages (BenchmarkStoreInnoDB, a full into a fresh
// repository, CPU of the whole store path per GiB, the machine under load): 8.1 s before the
// pipeline and the setting (zstd default level, serial hashing), 4.9 s at zstd's fastest
// level, 2.4 s at off (there SHA-256 of blob IDs and pack names is most of what is left);
// 2.1 s at fast (run-length frames), stored/raw 0.765 with deduplication. A whole backup
// through the stream kernel (BenchmarkStoreStreamInnoDB in cli: check, digest, hash,
// compress, store, format 3): 5.4 s per GiB at zstd fastest and 3.9 s at off while the kernel
// hashed every page a second time for the digest; 4.8 s and 2.4 s once it checks the digest
// from the store path's page hashes (shared.PagesSum); 1.8 s at fast with run-length frames.
//
// # Reading a snapshot
//
// Every blob read is checked: zstd's frame checksum, its length, and its SHA-256 against its
// ID. A damaged or missing blob is a *DamageError naming the snapshot whose record list refers
// to it and the data ("shop/orders.ibd page 3", "redo at LSN 1234", "its record list").
//
// A full snapshot is read back as stored (OpenStream): its record list, each payload read from
// its blobs. An incremental T is restored from the merge of its chain, whose rules and
// stream package shared/chain owns: the repository hands its planner the chain's record lists
// (Plan; each checked by the stream kernel on the way) and reads what the plan names
// (OpenPlan): only the chosen page blobs, older copies of a page never read, 4 readers at a
// time, reading blobs that lie back to back in a pack at once. The merged stream is T's
// header, T's files, every page file by file (zeros where no snapshot holds one), T's redo,
// binlog and file records, T's trailer with its counts and digest recomputed.
//
// # Archive
//
// `host-example archive` stores a source's binary log (shared.Archiver segments: bytes
// [start, end) of one binlog file, whole transactions) next to its snapshots. A segment's bytes
// are data blobs like any other (1 MiB pieces, deduplicated, in packs listed by an index file),
// and its format description event one more data blob. Each segment gets an archive record,
// REPO/archive/SOURCE/SEQ.json, an envelope checksummed like a snapshot file:
//
//	{"format": 1, "sha256": "<SHA-256 of the record value as it stands>", "record": {…}}
//
// The record (ArchiveRecord): source, seq, restart (this record begins a chain), before (the
// archive's end before this segment: gtids, file, pos, file_ended, last transaction),
// archive_format (shared.ArchiveFormat), file, start, end, file_end, gtids, transactions,
// first_commit and last_commit (immediate_commit_timestamp, UTC), last (the last transaction:
// gtid, file, start, end, commit, sha256 of its bytes), format_description (blob ID), data
// (blob IDs in order), data_sha256 (of all the segment's bytes), stored_at.
//
// Writing (AppendArchive, under a shared lock taken per segment, so forget and prune can run
// between two segments): the segment is checked to continue the stored archive by the one rule
// (shared.ArchivePoint.Next); its blobs are stored and their pack and index file made durable;
// then the record is written to tmp/, synced, and hard-linked to its final name, which fails
// if the name exists: a record is never overwritten, and a second archiver of the same source
// fails instead of forking the archive. A crash at any instant leaves either no record (the
// segment is fetched again: the resume point comes from the records alone) or the whole one.
//
// Reading (ArchiveRecords, ArchiveChains): every record file is checked against its checksum
// (a BadArchiveRecord otherwise, never hiding the others); the verified records are folded in
// sequence order with shared.ArchivePoint.Continue: a record must carry the next sequence
// number and a before equal to the previous records' end, and its segment must continue that
// end (same file at exactly its position, or the next file from position 4; only transactions
// the archive does not hold; counts that agree with its GTID set). A record marked restart, or
// the first present, starts a chain at its before. Anything else is a problem: archive refuses
// to continue, check reports it, forget and prune refuse to act. Reading a segment back
// (ReadArchiveSegment) checks each blob, data_sha256 and the last transaction's digest.
//
// A snapshot's window (BuildTimeline) runs from its consistency point (binlog_file, binlog_pos,
// gtid_executed) through the end of a chain that covers it: the chain starts at or before it
// (its base GTID set ⊆ the snapshot's) and reaches it (the snapshot's set ⊆ the chain's end).
// Between two chains the transactions in the later one's base and not in the earlier one's end
// are a gap, named by the timeline.
//
// Retention (PlanArchiveForget, keep_binlog_within): only a prefix of a source's record
// sequence goes, so what stays has no hole (its first record's before is its base); a record
// goes when its newest commit (stored_at without transactions) is older than the span and
// every kept snapshot the chain covers holds all transactions up to and including it (a kept
// snapshot's window needs every record after its point). The last record always stays: it
// is where archiving resumes. Prune counts every archive record's blobs as used and refuses
// while a record file does not verify.
//
// # Locks
//
// REPO/locks/LOCKID.json holds {id, pid, hostname, time, exclusive, purpose}. backup,
// restore, check and stats take shared locks; forget (and prune) an exclusive one, refused
// while any other lock exists, and any lock is refused while an exclusive one exists; the
// refusal names the holder's pid, host, purpose and time. A process writes its lock before it
// looks at the others, so two that lock at once both see each other (and at worst both are
// refused). A lock is rewritten every 5 minutes; a lock is stale, and removed with a log
// line, when its host is this host and its pid no longer runs, or when it is another host's
// and was not refreshed for 30 minutes.
//
// # Format versions
//
// Format 2 had plain snapshot files, without checksum. Open refuses it and names `host-example
// migrate`; Migrate (under an exclusive lock) checks each snapshot file against its record
// list's header and trailer, rewrites it as a format-3 envelope, sets aside into quarantine/
// one that disagrees (it never gets a checksum it does not deserve), and writes config.json
// last, so an interrupted migration is run again. Nothing else differs between 2 and 3.
//
// # Check
//
// Check makes, for every snapshot, every check a restore makes before it reads a page: the
// snapshot file's checksum, the metadata against its record list, the chain (ResolveChain:
// parents there and verified, same source, base checkpoints, no loop), the plan, and every
// needed blob in the index and its pack there with its size. So a snapshot Check lists as
// unaffected restores. A damaged index file is left out by Check and by Local.Index alike (a
// blob read is checked against its SHA-256 anyway): the snapshots whose blobs only it listed
// are damaged for both.
//
// Check reads every index file (damaged ones are errors), compares the packs the index lists
// with the pack files (missing, or of the wrong size: damage to every blob in them), reads
// every snapshot's record list and checks that every blob it refers to is in the index. With
// read-data it reads every pack whole: its header against the index, each blob's
// decompression and SHA-256, and for page blobs the source's page check (shared.PageChecker:
// the plugin checks them as the database does on read, in batches of one page size, zip for
// files with a ZipSize); without one the report says the pages were not checked. Then, for
// each snapshot, it works out what its restore would read (a full: every blob its record list
// refers to; an incremental: its plan) and reports the damaged pieces by file and page
// number, with the snapshot that stored them when that is an ancestor, and lists the
// snapshots that are not affected. With read-data it also reads every snapshot's stored stream
// again and recomputes its digest (shared.Digester) against its trailer. Packs no index lists,
// blobs no snapshot refers to and files in tmp/ are information, not damage.
//
// # Forget and prune
//
// Retention acts on every snapshot's parent, kind, time and checkpoint, so it runs only on a
// repository where all of them verify: VerifySnapshots checks every snapshot file, its
// metadata against its record list's ends and every chain, and forget refuses (before
// deciding anything, dry run too) naming each BadSnapshot and `repair snapshots`; Prune
// refuses while any snapshot file or index file is damaged. CheckKeepsChains checks the plan
// once more before a file is deleted. SetAside (`repair snapshots`) is the way out: it moves
// the bad snapshot files, and those of incrementals that build on them, into quarantine/ with
// a reason file; nothing is deleted, and moving a file back undoes it.
//
// Forget (PlanForget, RemoveSnapshots) decides per source which snapshots a policy keeps
// (keep-last, keep-daily), keeps the whole chain of every kept incremental, and deletes the
// other snapshot files, newest first, so that an interruption never leaves an incremental
// whose parent is gone. The retention floor of a source is the smallest checkpoint LSN among
// the tips of its kept chains (kept snapshots no kept snapshot builds on).
//
// Prune (under the exclusive lock) reads every record list to find the blobs in use, then:
//
//  1. copies the used blobs of packs that are partly used into new packs (each blob read and
//     checked on the way; compressed bytes copied as they are);
//  2. writes one new index file listing every pack that stays (kept and new ones);
//  3. deletes the old index files;
//  4. deletes the packs no index lists any more (unused, rewritten, and packs of interrupted
//     backups), then the files in tmp/.
//
// A crash between any two steps leaves every snapshot whole: before 3 the old and new index
// files both list the used blobs (the old packs are still there); after 3 the packs that are
// about to be deleted are listed nowhere. The next prune finishes the job.
package repo
