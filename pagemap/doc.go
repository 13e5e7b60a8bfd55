// Package pagemap holds sets of InnoDB page ids and reads the two change-list formats that tell
// an incremental backup which pages changed since an LSN.
//
// A [PageSet] holds (space id, page number) pairs as one compressed (roaring) bitmap of page
// numbers per tablespace. It plans reads with [PageSet.ReadRuns], which merges nearby runs of
// changed pages into larger requests, and it serializes to a stable, versioned format. [ReadIdx]
// streams a MySQL page-tracking .idx file into a set; [ReadBitmaps] reads Percona XtraDB
// changed-page bitmap files for an LSN range and refuses a range they do not fully cover.
//
// The package is pure Go; it knows nothing of MySQL connections or of the rest of pagetrack.
//
// # MySQL page tracking: .idx files
//
// MySQL 8.0 page tracking (component_mysqlbackup) writes the pages changed between two LSNs
// when mysqlbackup_page_track_get_changed_pages(start_lsn, end_lsn) is called, to
// <datadir>/#meb/<mysqlbackup.backupid>.idx. The file is nothing but entries of 8 bytes:
//
//	offset  size  field
//	0       4     space id, big-endian
//	4       4     page number, big-endian
//
// There is no header, count or checksum, and the entries are neither sorted nor unique: the
// server appends the page ids of its page archive blocks as it reads them (one real file held
// 24,783 entries for 8,316 distinct pages). A file whose size is not a multiple of 8 is cut
// short. Checked against mysql/mysql-server: components/mysqlbackup/backup_page_tracker.cc
// (page_track_callback appends page_count × 8 bytes of the buffer InnoDB fills),
// backup_comp_constants.h (page_number_size = 8, scratch directory "#meb", extension ".idx"),
// and storage/innobase/include/arch0page.h with arch/arch0page.cc (ARCH_BLK_SPCE_ID_OFFSET 0,
// ARCH_BLK_PAGE_NO_OFFSET 4, ARCH_BLK_PAGE_ID_SIZE 8, both written with mach_write_to_4, which
// is big-endian).
//
// # Percona XtraDB changed-page bitmaps: .xdb files
//
// Percona Server 5.6 and 5.7 (and 8.0 before the feature was removed), with
// innodb_track_changed_pages=ON, run a thread that parses the redo log up to each new
// checkpoint and appends the pages it saw changed to ib_modified_log_<seq>_<startlsn>.xdb in
// the data directory (or innodb_data_home_dir). <seq> counts files from 1; <startlsn> is the
// start LSN of the first run written to the file, both in decimal. A file is a sequence of
// 4096-byte blocks; all integers are big-endian:
//
//	offset  size  field
//	0       4     is_last_block: 1 in the last block of a run, else 0
//	4       8     start LSN of the run
//	12      8     end LSN of the run
//	20      4     space id
//	24      4     first page id: a multiple of 32,448
//	28      4     unused (0)
//	32      4056  bitmap: bit i is page first_page_id + i, for i < 32,448
//	4088    4     unused (0)
//	4092    4     checksum of bytes 0 to 4091
//
// A run is what one pass of the tracking thread writes: the blocks for one LSN interval, one
// block per (space, 32,448-page slice) with a changed page, in ascending (space, first page)
// order, all with the same LSNs, the last one flagged. A run never spans files: the thread
// starts a new file (on reaching innodb_max_bitmap_file_size) only before writing a run.
//
// Facts checked against percona/percona-server storage/innobase/log/log0online.cc and
// include/log0online.h (the 5.6 and 5.7 trees agree; the 8.0 rewrite of log0online.cc keeps the
// same checksum), and against the independent reader in
// percona/percona-xtrabackup storage/innobase/xtrabackup/src/changed_page_bitmap.cc:
//
//   - The offsets above are the MODIFIED_PAGE_* constants; the bitmap is 4096-8-32 = 4056 bytes,
//     so a block covers MODIFIED_PAGE_BLOCK_ID_COUNT = 32,448 pages (confirmed).
//   - Bit order (confirmed): page p is bit p%8 (least significant first) of bitmap byte
//     (p - first_page_id)/8, where first_page_id = p/32448*32448 (log_online_set_page_bit).
//     XtraBackup reads the bitmap as little-endian 64-bit words, which is the same order.
//   - Checksum (corrected): not ut_fold, but the algorithm of InnoDB's pre-CRC32 redo log block
//     checksum, log_block_calc_checksum, over bytes 0 to 4091 (everything before the checksum,
//     the unused fields included): sum = 1, shift = 0; for each byte b: sum &= 0x7FFFFFFF;
//     sum += b + b<<shift; shift = shift+1, or 0 after 24. The stored value is the sum's low
//     32 bits (it never exceeds them). See [BitmapChecksum].
//   - LSN interval (clarified): the thread parses records while their start LSN is below the
//     end LSN, which is the checkpoint LSN it read, and the next run starts at that LSN. So a
//     run [start, end] records the changes of redo in the half-open [start, end), and adjacent
//     runs share their boundary LSN. ReadBitmaps maps a requested range [from, to) onto runs
//     with that reading: a run is needed when start < to and end > from, and the range is
//     covered when the union of the complete runs' [start, end) contains [from, to). XtraBackup
//     does the same: it skips blocks whose end LSN is <= the incremental start LSN.
//   - Overlapping runs, as written when tracking is redone after a crash, are OR-ed.
//   - A pass that finds no changed page writes no block at all but still advances the tracked
//     LSN, so a hole between two runs can be either "nothing changed" or lost data; the files
//     cannot tell which. ReadBitmaps treats every hole as not covered, so the caller falls back
//     to reading everything rather than trusting a gap.
//   - After a crash the last file can end with a partial block or a run without its last block;
//     the server truncates at the last good block on restart and starts a new file. A run
//     without its last block covers nothing here (its pages are still taken, which is safe).
//
// [BitmapWriter] writes such files (pagetrack's redo tracker uses it): the runs in the layout
// above, one file per writer start and a new one when a file reaches its size limit, every run
// fsync'd. It writes a run in which nothing changed as one block with an empty bitmap (space 0,
// first page 0), where XtraDB writes nothing, so that a hole between runs always means "not
// tracked". The tests check the bytes against this documented layout only: no file written by
// Percona Server was at hand, so compatibility with Percona's own files is unverified.
//
// # Serialized PageSet
//
// [PageSet.MarshalBinary] writes, with all integers little-endian:
//
//	offset  size  field
//	0       4     magic "PTPS"
//	4       2     format version, 1
//	6       2     flags, 0
//	8       4     number of spaces, n
//	12      …     n space records, ascending by space id:
//	                4  space id
//	                4  length of the bitmap, m
//	                m  the space's page numbers, a non-empty roaring bitmap in the portable
//	                   serialization (github.com/RoaringBitmap/RoaringFormatSpec), run-optimized
//	end-4   4     CRC-32C (Castagnoli) of every byte before it
//
// The encoding is canonical (one encoding per set), and [PageSet.UnmarshalBinary] accepts
// only canonical encodings: it checks the checksum, the order of the spaces and that each
// bitmap re-encodes to exactly its bytes.
package pagemap
