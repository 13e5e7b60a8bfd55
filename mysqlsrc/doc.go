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
// pages.go (copying pages), sparse.go (punching compressed pages' holes on restore), redo.go (following the redo log), tracking.go (the page tracking
// UDFs and purge), incremental.go (what an incremental may trust and reads), restart.go
// (proving the server did not restart since the base), redolog.go (proving redo logging
// stayed on), state.go (what a backup remembers),
// backup.go (the procedure), restore.go (writing a datadir), verify.go (starting a server on
// it and checking tables); archive.go (the binlog archiver: following the binlog as a
// replica), archiveevents.go (cutting the event stream into whole transactions),
// archiveseg.go (segments and the one contiguity rule, ResumePoint.Next), archivecheck.go
// (server_id collisions, the resume check against the server, lag).
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
//   - rows updated while redo logging was off and committed before it was switched back on
//     are all in a full copy taken after (the page-tracking incremental would have held none).
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
//   - TestArchive (one server, 64 KiB binlogs, 12 subtests) takes 35-50 s on this machine,
//     including the second server the relay-log replay starts and restarts.
package mysqlsrc
