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
// every page, keeping those newer than the base (the page-LSN scan). When nothing on disk can
// show what changed — redo logging was switched off since the base, or the server restarted
// (which empties the error log that records such a switch) — it copies every page of every
// file (kind "incremental" on its base, method "full", no tablespace marked incremental, so
// its restore takes nothing from the base). A backup refuses while redo logging is off. Its
// state for the next incremental travels in the trailer, opaque to the host.
//
// The files, one concern each: config.go (attributes), probe.go (server checks),
// coords.go (backup lock and log_status), tablespaces.go (finding the InnoDB files),
// pages.go (copying pages: ranges grouped into ~1 MiB records, page lists for scattered
// pages, reads in flight, readahead advice), throttle.go (max_read_rate and nice), sparse.go (punching compressed pages' holes on restore), redo.go (following the redo log), tracking.go (the page tracking
// UDFs and purge), incremental.go (what an incremental may trust and reads), restart.go
// (proving the server did not restart since the base), redolog.go (proving redo logging
// stayed on), errlogfile.go (the error log file as that proof across a restart), tracker.go, trackredo.go and trackstate.go (the redo tracker that writes XtraDB
// changed-page bitmaps, its redo reading and its persisted state with gaps), bitmaps.go
// (incrementals by redo-bitmap, and when they may span a server restart), state.go (what a
// backup remembers),
// stayed on), state.go (what a backup remembers), binlog.go (the binary log a backup sends:
// cut at P, in-use flag kept, only what follows the base's position in the same file),
// backup.go (the procedure), restore.go (writing a datadir), verify.go (starting a server on
// it and checking tables); archive.go (the binlog archiver: following the binlog as a
// replica), archiveevents.go (cutting the event stream into whole transactions),
// archiveseg.go (segments and the one contiguity rule, ResumePoint.Next), archivecheck.go
// (server_id collisions, the resume check against the server, lag); pointintime.go (a
// point's resolution against archived transactions) and pitrapply.go (its replay through the
// restored server's own applier).
//
// Measured on MySQL 9.7.4 by this package's tests, beyond the project's facts reference:
//   - (this machine's disk, issue 11) random 16 KiB reads: ~22 k/s at 2 in flight, ~45 k/s
//     at 32, so a worker keeps up to readDepth (16) reads of a group of scattered pages in
//     flight; a 128-byte read of page 0 without advice makes the kernel read ahead 128 KiB
//     of the file, so discovery advises FADV_RANDOM and reads page 0 as one page, and reads
//     of scattered pages are advised random, record-sized ranges sequential.
//   - a throttled backup (max_read_rate) takes longer with the server writing all the while:
//     the redo follower is never throttled, and innodb_redo_log_capacity must hold the redo
//     of the longer copy, or the backup fails with the overrun error.
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
//   - the tracked list from the base's checkpoint holds many pages changed only before the
//     base (FIL_PAGE_LSN at or below its checkpoint): the server lists a page when it flushes
//     it, and the flushes that carried the checkpoint to the base's C ran while the LSN was
//     past C. After 4000 rows loaded and left dirty, a full, 40 single-row updates and a
//     checkpoint, 539 of the incremental's 671 tracked pages were such pages (TestPagesBeforeBase);
//     the incremental counts them and, where redo logging stayed on, skips them (preBase);
//   - mysqlbackup_page_track_set(0) makes get_start_lsn 0 ("page tracking was off"), and
//     set(0) then set(1) starts a new group. A clean restart kept the group in some tries and
//     left tracking off (get_start_lsn 0) in others — in 3 of 6 restarts that each followed a
//     set(0)/set(1), with or without writes in between; then set(1) answered the old group's
//     start and left tracking off, until set(0) and set(1) started it (resetTracking does so);
//   - without a keyring component, CREATE TABLE … ENCRYPTION='Y' fails with error 3185 (no
//     master key) and SET GLOBAL innodb_redo_log_encrypt=ON is accepted but leaves it OFF, so
//     the test servers cannot hold encrypted data; the probe's refusal is checked on its message.
//   - ALTER INSTANCE DISABLE (or ENABLE) INNODB REDO_LOG waits for the backup lock: while a
//     backup holds LOCK INSTANCE FOR BACKUP it shows "Waiting for backup lock" and fails with
//     error 1205 at lock_wait_timeout, and runs once the lock is released; LOCK INSTANCE FOR
//     BACKUP itself succeeds while logging is off, so Innodb_redo_log_enabled (global status,
//     "ON"/"OFF") must be read under the lock;
//   - the switches are logged as Warnings of subsystem InnoDB: MY-014088 "InnoDB redo logging
//     is disabled. All data could be lost in case of a server crash. Current lsn is N." and
//     MY-013601 "InnoDB redo logging is enabled. Data is now safe and can be recovered in case
//     of a server crash."; with log_error_verbosity = 1 neither reaches
//     performance_schema.error_log (defaults: verbosity 2, log_error_services
//     "log_filter_internal; log_sink_internal", performance_schema_error_size 5814 entries);
//   - reading performance_schema.error_log needs SELECT on it (error 1142 without);
//   - the error log file (@@log_error; internal/testmysql's servers, through mysqld.Options,
//     write <RunDir>/error.log, and a restart appends to it) has one line per entry,
//     "<time> <thread> [<priority>] [<code>] [<subsystem>] <message>", the time in UTC with
//     microseconds under the default log_timestamps = UTC, e.g.
//     "2026-12-05T03:13:20.520227Z 12 [Warning] [MY-014088] [InnoDB] InnoDB redo logging is
//     disabled. All data could be lost in case of a server crash. Current lsn is 491640016.";
//     its first line is "… 0 [System] [MY-015015] [Server] MySQL Server - start.", and the
//     times match the server's NOW(6) clock that RedoLoggingOnAt records;
//   - rows updated while redo logging was off and committed before it was switched back on
//     are all in a full copy taken after (the page-tracking incremental would have held none).
//   - MySQL 9.7.4 writes redo format 6 (the header's format field, Log_format::VERSION_8_0_30),
//     creator "MySQL 9.7.4"; its page records use the 8.0.30+ type numbers (67..76 for the index
//     records) with index log version 1, never the _8027 types. TestRedoParserRealServer's
//     workload (DDL of every kind, compressed, redundant and spatial tables, BLOBs, a general
//     tablespace, CREATE UNDO TABLESPACE and its truncation) wrote 2.9 MB in ~5,900 groups:
//     MLOG_4BYTES 281,641 (~276,500 of them from CREATE UNDO TABLESPACE and its truncation,
//     which set every undo slot of the rollback segments), REC_INSERT 3,216, 2BYTES 4,895, 8BYTES 2,059, REC_DELETE 1,425,
//     MULTI_REC_END 1,312, UNDO_INSERT 1,328, 1BYTE 723, REC_SEC_DELETE_MARK 381,
//     INIT_FILE_PAGE2 364, TABLE_DYNAMIC_META 251 (AUTO_INCREMENT), REC_CLUST_DELETE_MARK 239,
//     REC_UPDATE_IN_PLACE 160, WRITE_STRING 90, ZIP_WRITE_HEADER 49, UNDO_INIT 49,
//     UNDO_HDR_CREATE 57, UNDO_HDR_REUSE 57, ZIP_PAGE_COMPRESS 40, COMP_PAGE_CREATE 16,
//     FILE_EXTEND 14, IBUF_BITMAP_INIT 8, FILE_CREATE 7, ZIP_WRITE_BLOB_PTR 7,
//     COMP_PAGE_CREATE_SDI 4, PAGE_REORGANIZE 4, LIST_END_DELETE 4, FILE_DELETE 3,
//     FILE_RENAME 2, LIST_END_COPY_CREATED 2, PAGE_CREATE 2 (redundant table), INDEX_LOAD 1
//     (ALTER TABLE ADD INDEX), COMP_PAGE_CREATE_RTREE 1, ZIP_WRITE_NODE_PTR 1; no unknown
//     type, no MLOG_DUMMY_RECORD, and every block's first_rec_group matched the parse;
//   - a mini-transaction stamps every page it holds X-latched with its end LSN when it
//     commits, changed or not: of 413 pages whose FIL_PAGE_LSN fell in that range after a clean
//     shutdown, 336 carried the end LSN of a group that changed them and 77 (B-tree siblings,
//     roots and page 0 of mysql.ibd around a REC_DELETE, undo log pages while purge edited the
//     rollback segment's history list) the end LSN of a group that changed only other pages of
//     the same tablespace. Crash recovery needs every change in the redo, so those pages
//     differ from their previous version in FIL_PAGE_LSN and checksum only; a page-LSN scan
//     counts them, a redo-derived page set does not.
//   - component_keyring_file.so ships in the provisioned prefix's plugin dir. mysqld (also
//     under --initialize) opens its global manifest at argv[0] + ".my" without resolving links:
//     through the prefix's loader that is the mysqld path given to the loader, so a symlink to
//     mysqld in a private directory with its own mysqld.my (`{"components":
//     "file://component_keyring_file"}`) loads the component for that server only; the component
//     reads component_keyring_file.cnf (`{"path": …, "read_only": false}`) from --plugin-dir, so
//     a private plugin dir of symlinks carries it (mysqld.WithKeyringFile, testmysql
//     Options.Keyring). Running as root the manifest draws warning MY-013711 (not read-only)
//     even at mode 0444; harmless;
//   - with it, --initialize with innodb_redo_log_encrypt, innodb_undo_log_encrypt and
//     binlog_encryption ON already writes master key INNODBKey-<server_uuid>-1 and binlog key
//     MySQLReplicationKey_<server_uuid>_1 (plus MySQLReplicationKey_<server_uuid>, the key
//     index, 16 bytes: 1) into the data file, JSON version "1.0", keys as upper-case hex;
//     ALTER INSTANCE ROTATE INNODB MASTER KEY adds -2 and re-seals page 0 of every encrypted
//     tablespace and the redo record with it (the tablespace key itself is unchanged);
//   - encrypted file-per-table, general (FSP flags 0x6021, 0x6800) and undo (0x2000) tablespaces
//     keep a version 3 record ("lCC") at 10390 on page 0; every other written page is type 15
//     (original type at 28), or 16 for COMPRESSION='zlib' tables, whose encrypted region ends
//     at 38 + the compressed size (the rest of the page stays zero: nothing is padded to a block).
//     Decrypted, they pass the ordinary crc32 checks; ENCRYPTION='Y' with COMPRESSION works.
//     ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8 with ENCRYPTION='Y': flags 0x6029, the record at
//     5270 of the 8 KiB page 0, 8 KiB pages of type 15 that check as zip pages once decrypted;
//   - CBC with each tablespace's fixed IV: a page rewritten with the same bytes up to some
//     offset keeps the same ciphertext up to there (a root page rewritten at a new LSN differed
//     only in its checksum, LSN and last 16 bytes), so torn-read checks run on the decrypted page;
//   - with innodb_redo_log_encrypt=ON every written redo data block has bit 15 of data_len set
//     and bytes 12..511 encrypted (its crc32c covers the plaintext with the bit clear); the redo
//     record sits 48 bytes into the block at file offset 1024, and that block has no checksum
//     (508..511 are zero);
//   - INNODB_DATAFILES names system tablespace files by bare name ("ibdata1", "ibdata2",
//     relative to innodb_data_home_dir), undo tablespaces created with a bare name ("u3.ibu")
//     relative to innodb_undo_directory, the default undo tablespaces, DATA DIRECTORY tables and
//     general tablespaces outside the datadir by absolute path, others "./db/t.ibd";
//     INNODB_TABLESPACES has no row for space 0. Page 0 of ibdata2 is an ordinary page of space
//     0 (its FIL_PAGE_OFFSET is ibdata1's size in pages);
//   - a server started with the files of those directories moved finds them by space id and
//     records the new path ("./#pagetrack-external/3/x/dd.ibd"): the datadir is scanned
//     recursively, and innodb_directories entries below it are ignored (warning MY-012191);
//     a general tablespace file below a subdirectory of the datadir is refused ("A general
//     tablespace cannot be located under the datadir", MY-012213) and the server falls back to
//     the dictionary's path (which may be the original file), so restores put general
//     tablespace files into the datadir itself, where they are found;
//   - ALTER INSTANCE DISABLE INNODB REDO_LOG sets the header flags of the redo file in use to 3
//     (NO_LOGGING | CRASH_UNSAFE) and ENABLE sets them back to 0; while off the LSN stood still
//     (200 INSERTs left it at 19387060), and ENABLE wrote a checkpoint at the current LSN into
//     both slots (19387264, then 19387664). The redo written around the switches holds only
//     ordinary records (undo, TRX_SYS, mysql.ibd rows): only the header flag shows the switch,
//     and only while logging is off. Innodb_redo_log_flushed_to_disk_lsn is a global status;
//   - the checkpoint can jump far and the redo below it vanish at once: a clean shutdown moved
//     it from ~19.9 MB to 24.7 MB of LSN on an otherwise lazily checkpointing server, and the
//     restarted server had dropped every file below 22,931,456 before the redo tracker's next
//     poll; so the tracker reads the redo as it is written and parses it at checkpoints;
//   - the redo-derived page set is complete and no larger than the component's: over an
//     incremental's range with the 4-client workload and DDL (CREATE, INSERT … SELECT, in-place
//     ADD INDEX, instant ADD COLUMN, ENGINE=InnoDB rebuild, RENAME, CREATE … SELECT, DROP,
//     TRUNCATE), 1,808 pages on disk had a FIL_PAGE_LSN in (C_base, C]: 1,792 in the redo set,
//     16 byte-identical to the base's copy apart from checksum and LSN (latch-only stamps), none
//     missed; the redo set held 1,824 pages, the component's list 1,824 (another run: 1,546,
//     1,531, 15; 1,563 against 1,562) (TestRedoTrackerChain/completeness);
//   - the redo continues across a clean restart and a kill -9 at the LSNs where it stopped, with
//     the same log uuid: the redo tracker walked across both without a gap, and chains whose
//     incrementals spanned them restored to exactly the server's rows (TestRedoTrackerChain);
//   - an encrypted binary log starts with "\xfdbin", version 1, then the key id
//     "MySQLReplicationKey_<server_uuid>_<n>" as a TLV; SHOW BINARY LOGS says Encrypted = Yes.
//   - the redo encryption record is kept in the file holding the checkpoint: ALTER INSTANCE
//     ROTATE INNODB MASTER KEY re-seals it there at once (measured: key 1→2→3→4 visible in the
//     file right after each statement), and when the checkpoint enters the next file the server
//     writes the record, sealed with the current key, into that file; consumed files keep the
//     record of their time until recycled, and the others have none (after a restart 1 of 32
//     #ib_redo files carried it). Every record seals the same redo key, so a backup ships the
//     one sealed with the newest master key (its restore needs only that key);
//   - after a rotation, page 0 of every encrypted tablespace is re-sealed through the buffer
//     pool (redo-logged, so page tracking lists it) and reaches disk by the page cleaner within
//     a few seconds under load; a page-tracking incremental taken after it carries every new
//     page 0, and the chain's merged datadir opened with a keyring holding only the new master
//     key (and the binlog key): TestEncryptedServer restores each incremental that way;
//   - binlog positions of an encrypted binary log (SHOW BINARY LOG STATUS, log_status) do not
//     count its 512-byte encryption header: the file is position + 512 bytes long, so the
//     backup cuts it there, and a binlog delta starts at the base's position + 512 (the
//     merged chain restores the server's bytes: TestEncryptedBinlogDelta). Its body is the plain binlog from its magic on, AES-256-CTR with key
//     and IV from SHA-512 of the file password (the IV's last 8 bytes replaced by the block
//     counter); reading the Format_description event's "created" that way tells a binlog
//     rotation from a restart (both incrementals after FLUSH BINARY LOGS and ROTATE BINLOG
//     MASTER KEY used page tracking in TestEncryptedServer);
//   - ALTER INSTANCE ROTATE BINLOG MASTER KEY re-encrypts the header of every binlog file with
//     key MySQLReplicationKey_<uuid>_<n+1>, opens a new binlog file, and deletes key _<n> from
//     the keyring: a snapshot taken before it restores only with a copy of the keyring from
//     before. ROTATE INNODB MASTER KEY keeps the old INNODBKey entries;
//   - with default_table_encryption=ON, CREATE DATABASE, CREATE TABLE and CREATE TABLESPACE
//     without an ENCRYPTION clause encrypt (the workload's tables, partitions and general
//     tablespace all do); ALTER TABLESPACE mysql ENCRYPTION='Y' encrypts mysql.ibd.
//   - binlog archiving uses go-mysql-org/go-mysql v1.16.0 (the newest the module proxy serves;
//     v1.17.0 and later are refused), replication package in raw mode with CRC32 verification;
//     the archiver decodes only GTID (plain and tagged), query, rotate and format description
//     events with the library's decoders and carries every event's bytes unchanged;
//   - caching_sha2_password over TCP without TLS works with an empty authentication cache (after
//     FLUSH PRIVILEGES): the library then always asks the server for its RSA public key, which
//     trusts whatever key the network hands it; with the dsn's TLS config it sends the password
//     over TLS instead (the server's auto-generated certificate needs tls=skip-verify or a CA),
//     and over a unix socket in clear; nothing on the server was weakened;
//   - COM_BINLOG_DUMP_GTID with a GTID set sends an artificial ROTATE (log_pos 0, flags 0x20)
//     naming a file, then that file from position 4 (format description, previous GTIDs) and
//     leaves out the transactions in the set, sending one HEARTBEAT_EVENT whose log_pos is the
//     end of the skipped span instead; a resumed dump therefore chains exactly at the archive's
//     end position (checked on every event); a start inside purged binlogs fails with error 1236;
//   - the server clears LOG_EVENT_BINLOG_IN_USE_F (byte 4+17 of the file) in place when it
//     rotates away from a file; a backup's copy sets it back (binlog.go), and the restored server
//     then runs binlog crash recovery: an XA PREPAREd transaction open across the end point comes
//     back prepared, listed by XA RECOVER, and XA COMMIT resolves it (TestBinlogDeltas, for a
//     full and for an incremental restored from a binlog delta);
//   - the dump sends the format description with LOG_EVENT_BINLOG_IN_USE_F cleared while the file
//     on disk of an active (or crashed) binlog has it set; the CRC32 is valid either way; apart from
//     that flag the archived segments equal the server's binlog bytes (TestArchive);
//   - GTID events (type 33 and tagged type 42, 8.3+) carry transaction_length counting every byte
//     of the transaction as the binlog holds it (checksums included) and immediate_commit_timestamp
//     in microseconds; these equal mysqlbinlog's "# immediate_commit_timestamp=" per transaction;
//     the archiver ends a transaction by that length and checks the last event ends transactions
//     (XID, XA_PREPARE, TRANSACTION_PAYLOAD, or a query other than BEGIN / XA START / XA END);
//   - SET gtid_next='AUTOMATIC:audit' writes type-42 events and gtid_executed "uuid:1-n:audit:1-m";
//     the library's GTID sets parse, print and encode tags (COM_BINLOG_DUMP_GTID with tagged sets
//     resumed correctly);
//   - binlog_transaction_compression=ON (session) writes GTID + one TRANSACTION_PAYLOAD event
//     (ZSTD) holding the rest of the transaction; archived as is, mysqlbinlog and the applier read it;
//   - XA: XA PREPARE is its own GTID transaction ending in an XA_PREPARE event; XA COMMIT 'x' is a
//     second GTID transaction of one query event; both replay through mysqlbinlog | mysql;
//   - a transaction larger than max_binlog_size (a ~270 KiB insert, max 64 KiB) stays in one file,
//     which grows past the limit; the rotation follows the transaction;
//   - heartbeats come as HEARTBEAT_EVENT (type 27; the library does not ask for V2) at the
//     period set by @source_heartbeat_period (nanoseconds), only while the binlog is idle;
//   - a dump crossing a rotation sends the file's real ROTATE, then an artificial ROTATE
//     (log_pos 0, flags 0x20) naming the next file, then that file's format description at 4;
//   - two dumps with the same server_id but different replica uuids (the library sets a new random
//     @replica_uuid per connection) both kept streaming on 9.7.4 — the server killed neither — and
//     SHOW REPLICAS listed only one row for the id: duplicates are silently ambiguous, so the
//     archiver derives a stable id in [2^31, 2^32) from the archive name and server uuid,
//     registers its host as "pagetrack-archive:NAME", and refuses an id SHOW REPLICAS shows for
//     another host (and, after waiting out three heartbeats, for its own name);
//   - after kill -9 of an archiver process inside a transaction (TestArchive's child process),
//     a new run under the same server_id started streaming within 0.25 s: the dead dump thread
//     was gone from SHOW REPLICAS by then or within the wait; the open transaction came whole;
//   - after kill -9 of the server the archiver's dump ends with an error; after restart the dump
//     by GTID set continues in the next file at position 4 with no gap or duplicate (TestArchive);
//   - archived files replay as a relay log: written as relay.NNNNNN (magic, the format description
//     when the archive starts inside the file, the segments) with a relay.index, on a server
//     started with --relay-log=relay --skip-replica-start --server-id=2, then CHANGE REPLICATION
//     SOURCE TO SOURCE_HOST='archive.invalid', RELAY_LOG_FILE='relay.000001', RELAY_LOG_POS=4 and
//     START REPLICA SQL_THREAD (one worker): WAIT_FOR_EXECUTED_GTID_SET returned 0 and CHECKSUM
//     TABLE matched the source, XA and compressed and tagged transactions included;
//   - the same relay log on a server with the source's server_id (1) applied nothing (the wait
//     timed out after 5 s, no schema created), and adding --replicate-same-server-id (with the
//     default log_replica_updates=ON) did not change that: a replay needs another server_id;
//   - through the plugin and host-example archive (cmd/host-example TestArchiveCommand, 64 KiB
//     binlogs, one inserting client): after SIGKILL of the host its plugin exited (it watches
//     its parent pid) and the next host run resumed under the same derived server_id without a
//     collision refusal; after SIGKILL of the plugin alone the host's retry started a new one
//     that resumed; after kill -9 of the server (sync_binlog=1, innodb_flush_log_at_trx_commit=1)
//     the stored archive was within the restarted server's gtid_executed and continued in the
//     next file; every stored segment equalled the server's binlog file bytes but for the
//     format description's in-use flag; 7-8 records over 6-8 files, 20-30 s;
//   - a statement whose client gave up (go-sql-driver closes the connection on context
//     cancellation) may still commit after the client returned: a test that reads
//     gtid_executed must stop its load between statements, not by cancelling one;
//   - a point restore's replay (pitrapply.go, cmd/host-example TestPointInTimeRestore): a relay
//     log file whose first transaction is not preceded by a Previous_gtids event is refused by
//     CHANGE REPLICATION SOURCE TO … RELAY_LOG_FILE with error 1866 ("logically corrupted: The
//     first global transaction identifier was read, but no other information regarding
//     identifiers existing on the previous log files was found"); an archive that starts inside
//     a file therefore gets an empty Previous_gtids event (no sids) after its format description,
//     and the applier, with that, skips what gtid_executed already holds and applies the rest;
//   - the replaying server runs with --skip-grant-tables (unix socket only), another server_id,
//     --replica-parallel-workers=1 and START REPLICA SQL_THREAD UNTIL SQL_AFTER_GTIDS=last over a
//     relay log cut right after the transaction that follows the last to apply; the applier can stop by its UNTIL
//     between a WAIT_FOR_EXECUTED_GTID_SET round's end and the read of its state, so a stopped
//     applier is judged by GTID_SUBSET(want, gtid_executed); RESET REPLICA ALL then leaves
//     performance_schema.replication_connection_configuration empty for the stock server;
//   - relay log sanitization (MY-015128, run by CHANGE REPLICATION SOURCE TO … RELAY_LOG_FILE)
//     removed a relay file that held one transaction, an XA PREPARE, at its end ("Removed
//     ./pagetrack-pitr-relay.000014 from index file"), and the applier then waited for it forever
//     in "Replica has read all relay log; waiting for more updates" (make test, a point at the XA
//     PREPARE's commit time): the relay log therefore runs one transaction past the point, and a
//     replay whose applier idles at the relay log's end short of the point fails at once;
//   - the rotation max_binlog_size asks for follows the commit group of the transaction that
//     crossed the limit: 0 to 2 other transactions (four runs) were written after a 256 KiB
//     transaction in the same file (max_binlog_size 64 KiB) before the next file began;
//   - observed once (TestPointInTimeRestore before it waited for the archive to reach the
//     server's binlog end before SIGKILL): the archive ended in binlog.000103, the server was
//     killed with the load stopped, and the resumed COM_BINLOG_DUMP_GTID began in binlog.000105;
//     the archiver refused the jump ("binlog files are missing between them") on every retry.
//     Measured since (TestArchiveSkippedEmptyBinlog): with the archive ending at binlog.000002's
//     rotate (FLUSH BINARY LOGS) and binlog.000003 holding only its format description and
//     Previous_gtids when the server was SIGKILLed (no rotate, no stop), the restarted server
//     opened binlog.000004 and the dump by the archive's GTID set began there, skipping
//     binlog.000003: the server starts a GTID dump in the newest file whose Previous_gtids the
//     set contains, and steps over older files with nothing new. Fixed (archiveevents.go
//     bridgeSkipped): the archiver reads every skipped file whole by file+position dump (up to its SHOW BINARY LOGS size), accepts only
//     format description, Previous_gtids, rotate and stop events, and archives it as a segment of
//     its own so the archive's records chain by ArchivePoint.Next (that second dump under the
//     same server_id, opened while the GTID dump waits, ended neither: the GTID dump went on to
//     archive binlog.000004's transactions); a skipped file holding any
//     other event, purged, or unreadable is refused (the test forges a resume point whose
//     skipped files hold transactions and gets "it is not a file without transactions"; one
//     server, 14-15 s on this machine);
//   - TestArchive (one server, 64 KiB binlogs, 12 subtests) takes 35-50 s on this machine,
//     including the second server the relay-log replay starts and restarts.
package mysqlsrc
