// Package mysqlsrc is pagetrack's MySQL implementation of shared.Source: hot physical backups
// of InnoDB taken page by page from a running server, and restores that a stock mysqld
// recovers by its own crash recovery.
//
// A backup holds LOCK INSTANCE FOR BACKUP (DDL blocked, DML running), reads the checkpoint C
// from performance_schema.log_status, follows the redo log from C while it copies every page of
// every InnoDB file (validating checksums, re-reading torn pages), then reads the end point E,
// the binlog position and the GTID set from one log_status row, waits until the captured redo
// reaches E, and unlocks. The copied pages are fuzzy; the redo from C to E makes them
// consistent. Restore writes the pages back and builds one redo file whose checkpoint is C and
// whose last block ends at E, so that InnoDB's crash recovery replays exactly C..E.
//
// The files, one concern each: config.go (attributes), probe.go (server checks),
// coords.go (backup lock and log_status), tablespaces.go (finding the InnoDB files),
// pages.go (copying pages), redo.go (following the redo log), backup.go (the procedure),
// restore.go (writing a datadir), verify.go (starting a server on it and checking tables).
//
// Measured facts this package relies on are in the project's mysql-hot-backup-facts reference.
package mysqlsrc
