// Package mysqlsrc is pagetrack's MySQL implementation of shared.Source: hot physical backups
// of InnoDB taken page by page from a running server, and restores that a stock mysqld
// recovers by its own crash recovery.
//
// A backup holds LOCK INSTANCE FOR BACKUP (DDL blocked, DML running), reads the checkpoint C
// from performance_schema.log_status, follows the redo log from C while it copies pages
// (validating checksums, re-reading torn pages), then reads the end point E, the binlog
// position and the GTID set from one log_status row, waits until the captured redo reaches E,
// and unlocks. The copied pages are fuzzy; the redo from C to E makes them consistent. Restore
// writes the pages back and builds one redo file whose checkpoint is C and whose last block
// ends at E, so that InnoDB's crash recovery replays exactly C..E.
//
// An incremental reads only the pages page tracking (component_mysqlbackup) lists as changed
// between the base's checkpoint and its own, or, when the list cannot be proven complete,
// every page, keeping those newer than the base (the page-LSN scan). Its state for the next
// incremental travels in the trailer, opaque to the host.
//
// The files, one concern each: config.go (attributes), probe.go (server checks),
// coords.go (backup lock and log_status), tablespaces.go (finding the InnoDB files),
// pages.go (copying pages), sparse.go (punching compressed pages' holes on restore), redo.go (following the redo log), tracking.go (the page tracking
// UDFs and purge), incremental.go (what an incremental may trust and reads), restart.go
// (proving the server did not restart since the base), state.go (what a backup remembers),
// backup.go (the procedure), restore.go (writing a datadir), verify.go (starting a server on
// it and checking tables).
//
// Measured on MySQL 9.7.4 by this package's tests, beyond the project's facts reference:
//   - a just-created .ibd has a provisional page 0 on disk (type ALLOCATED, FSP_SIZE 0); its
//     space id and flags come from INNODB_TABLESPACES until the server flushes it;
//   - mysqlbackup_page_track_set(true) on active tracking returns the group start until the
//     checkpoint has passed the previous reset point, and a new reset point after that;
//   - get_changed_pages(start, end) counts from the reset point at or below start, and its end
//     is coarse (a too-early end still returned later pages): only a late start loses pages;
//   - get_changed_pages(C, C) answers 3803, so an incremental whose checkpoint equals its
//     base's takes an empty list (every change since is in the redo it carries);
//   - purge_up_to(floor) answered the floor itself when there was nothing it could drop;
//   - the first binlog a server opens after any start, clean or kill -9, has a non-zero
//     created field in its Format_description event; rotations write 0;
//   - innodb_checksum_algorithm is dynamic: pages flushed after SET GLOBAL carry the new
//     algorithm. innodb writes the fold checksum at 0 and the old fold of bytes 0..25 in the
//     trailer (adler32 from 0 on ROW_FORMAT=COMPRESSED pages); none writes 0xDEADBEEF in both
//     fields (at 0 on compressed pages). A stock server running crc32 starts on, and reads,
//     files written under innodb (innodb/testdata/pages, TestStorageLayouts);
//   - transparent page compression writes FIL_PAGE_COMPRESSED pages with header version 2,
//     algorithm 1 (zlib) or 2 (lz4), original size 16346 (16 KiB − 38) and the uncompressed
//     page's checksum left at offset 0; a 300-row root page compressed to 144 (zlib) and 187
//     (lz4) bytes;
//   - on ext4 (4 KiB blocks) a 3000-row COMPRESSION table took 8,892,416 of its 10,485,760
//     bytes (its free extents are allocated zeros, not holes); the restore, punching the tail of
//     each compressed page beyond the payload rounded up to a block, allocated exactly as much,
//     and without punching allocated all 10,485,760;
//   - servers initialized with --innodb-page-size 4, 8, 32 and 64 KiB write that size into every
//     file's FSP flags (ibdata1, mysql.ibd, undo_001, tables); full and page-tracking incremental
//     backups of each restore exactly on a stock mysqld given the same --innodb-page-size
//     (TestInnoDBLayouts). A 3000-row table of ~450-byte rows took 28 pages at 64 KiB;
//   - with innodb_file_per_table=OFF a table's INNODB_TABLES.SPACE is 0 and its rows lie in
//     ibdata1; page tracking lists its changed pages under space 0;
//   - ALTER UNDO TABLESPACE … SET INACTIVE reaches STATE 'empty' asynchronously (polled, well
//     under a second here); DROP UNDO TABLESPACE then removes the .ibu file;
//   - a discarded tablespace keeps its row in INNODB_DATAFILES (path ./db/t.ibd) with no file on
//     disk and INNODB_TABLESPACES.STATE 'discarded'; SELECT on the table fails with 1814. DISCARD
//     keeps the space id; after IMPORT an incremental carries every page of the file;
//   - instant ADD COLUMN and DROP COLUMN each add a row version (INNODB_TABLES.TOTAL_ROW_VERSIONS
//     1 after one ADD, 3 after a further ADD and DROP) and change mysql.ibd pages, not the rows;
//   - REORGANIZE PARTITION writes new t#p#<name>.ibd files (new space ids) and deletes the old;
//   - mysqlbackup_page_track_set(0) makes get_start_lsn 0 ("page tracking was off"), and
//     set(0) then set(1) starts a new group. A clean restart kept the group in some tries and
//     left tracking off (get_start_lsn 0) in others — in 3 of 6 restarts that each followed a
//     set(0)/set(1), with or without writes in between; then set(1) answered the old group's
//     start and left tracking off, until set(0) and set(1) started it (resetTracking does so);
//   - without a keyring component, CREATE TABLE … ENCRYPTION='Y' fails with error 3185 (no
//     master key) and SET GLOBAL innodb_redo_log_encrypt=ON is accepted but leaves it OFF, so
//     the test servers cannot hold encrypted data; the probe's refusal is checked on its message.
package mysqlsrc
