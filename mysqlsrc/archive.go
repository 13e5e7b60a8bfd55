package mysqlsrc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/go-sql-driver/mysql"
	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/shared"
)

// ArchiveOptions configure a binlog archiver.
type ArchiveOptions struct {
	// DSN is the Go MySQL DSN of the archiving user (REPLICATION SLAVE, REPLICATION CLIENT).
	// A unix socket is used as is; over TCP the dsn's tls parameter chooses TLS, and without
	// TLS caching_sha2_password's full authentication fetches the server's RSA public key.
	DSN string
	// ServerID is the replica server_id the archiver registers with. 0 derives one from Name
	// and the server's uuid (see DeriveServerID).
	ServerID uint32
	// Name identifies the archive (the source's name, say); it seeds the derived server_id and
	// is what the archiver registers as its host name, so that SHOW REPLICAS names it.
	Name string
	// SegmentBytes bounds a segment's size (a larger transaction makes a segment of its own);
	// 0 means 8 MiB.
	SegmentBytes int
	// SegmentAge bounds how long a complete transaction waits in an unfinished segment;
	// 0 means 1 second.
	SegmentAge time.Duration
	// MaxTransactionBytes refuses a transaction larger than this (it is held in memory);
	// 0 means 1 GiB.
	MaxTransactionBytes int
	// HeartbeatPeriod asks the server for a heartbeat when its binlog is idle, which flushes
	// the last segment and ends a dead connection's wait; 0 means 1 second.
	HeartbeatPeriod time.Duration
	// UntilNow stops Run once the archive reaches the server's binlog end as it was when Run
	// started (for cron-style runs).
	UntilNow bool
}

// archiveHostPrefix starts the host name the archiver registers with (SHOW REPLICAS' Host).
const archiveHostPrefix = "pagetrack-archive:"

func (o *ArchiveOptions) withDefaults() ArchiveOptions {
	c := *o
	if c.SegmentBytes == 0 {
		c.SegmentBytes = 8 << 20
	}
	if c.SegmentAge == 0 {
		c.SegmentAge = time.Second
	}
	if c.MaxTransactionBytes == 0 {
		c.MaxTransactionBytes = 1 << 30
	}
	if c.HeartbeatPeriod == 0 {
		c.HeartbeatPeriod = time.Second
	}
	return c
}

// Archiver follows a server's binary log as a replica does and hands out archive segments.
// One Run at a time per Archiver (and per archive name: a second one is refused).
type Archiver struct {
	log  hclog.Logger
	opts ArchiveOptions
	dsn  *mysql.Config
	db   *sql.DB
	// serverID is the id in use once Run has resolved it.
	serverID uint32
	// afterEvent, when set (tests), sees every event the archiver accepts; it may cancel.
	afterEvent func(eventType byte, inTransaction bool)
	// started, when set, is called once the server accepted the dump (the resume point
	// checked): what Source.Archive waits for before it answers.
	started func()
}

// NewArchiver checks the options and connects (without starting to follow the binlog).
func NewArchiver(logger hclog.Logger, opts ArchiveOptions) (*Archiver, error) {
	o := opts.withDefaults()
	dsn, err := mysql.ParseDSN(o.DSN)
	if err != nil {
		return nil, shared.InvalidConfig(fmt.Sprintf("the archive dsn is not a valid MySQL DSN (%v)", shared.Redact(err.Error(), o.DSN)))
	}
	if dsn.User == "" {
		return nil, shared.InvalidConfig("the archive dsn names no user; it needs REPLICATION SLAVE and REPLICATION CLIENT (see the README)")
	}
	if o.Name == "" {
		return nil, shared.InvalidConfig("an archive needs a name (it seeds the server_id and shows in SHOW REPLICAS)")
	}
	if o.SegmentBytes < 4096 || o.MaxTransactionBytes < o.SegmentBytes/2 {
		return nil, shared.InvalidConfig(fmt.Sprintf("segment size %d must be at least 4096 and the transaction limit %d at least half of it", o.SegmentBytes, o.MaxTransactionBytes))
	}
	connector, err := mysql.NewConnector(dsn)
	if err != nil {
		return nil, shared.InvalidConfig(fmt.Sprintf("archive dsn: %v", err))
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(2)
	return &Archiver{log: logger, opts: o, dsn: dsn, db: db}, nil
}

// Close releases the archiver's SQL connections.
func (a *Archiver) Close() error { return a.db.Close() }

// ServerID is the server_id the archiver registers with (known after Run or Check started).
func (a *Archiver) ServerID() uint32 { return a.serverID }

// DeriveServerID maps an archive name and the source's server uuid to a server_id in
// [2^31, 2^32-1]: stable across runs of the same archive (so a restarted archiver replaces its
// own stale dump thread rather than adding one) and far from the small ids people give
// replicas.
func DeriveServerID(name, serverUUID string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(name + "\x00" + serverUUID))
	return h.Sum32() | 1<<31
}

// Run follows the binlog from the resume point, calls emit with every finished segment (in
// order; each one chains onto the previous, see ResumePoint.Next) and returns when ctx ends
// (nil), when UntilNow is reached (nil), or on the first error. A transaction still open when
// it stops is dropped: it is re-fetched by the next Run from the point emit last accepted.
func (a *Archiver) Run(ctx context.Context, from ResumePoint, emit func(Segment) error) error {
	if err := a.prepare(ctx, from); err != nil {
		return err
	}
	var until *binlogCoord
	if a.opts.UntilNow {
		end, err := serverBinlogEnd(ctx, a.db)
		if err != nil {
			return err
		}
		until = &end
		if from.File != "" && !end.after(binlogCoord{from.File, from.Pos}) {
			return nil
		}
	}
	set, err := parseGTIDSet(from.GTIDs)
	if err != nil {
		return fmt.Errorf("resume point: %w", err)
	}
	syncer := replication.NewBinlogSyncer(a.syncerConfig())
	defer syncer.Close()
	stream, err := syncer.StartSyncGTID(set)
	if err != nil {
		return a.dumpError(err)
	}
	if a.started != nil {
		a.started()
	}
	asm := newAssembler(a.opts, from, emit)
	asm.afterEvent = a.afterEvent
	asm.readSkipped = func(file string) (Segment, error) { return a.readEmptyFile(ctx, file) }
	for {
		ev, err := stream.GetEvent(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return asm.stop()
			}
			return a.dumpError(err)
		}
		if err := asm.add(ev); err != nil {
			return err
		}
		if until != nil && asm.reached(*until) {
			return asm.stop()
		}
		if ctx.Err() != nil {
			return asm.stop()
		}
	}
}

// prepare resolves the server_id, refuses a collision and checks the resume point against the
// server.
func (a *Archiver) prepare(ctx context.Context, from ResumePoint) error {
	var uuid string
	var sourceID uint32
	if err := a.db.QueryRowContext(ctx, "SELECT @@server_uuid, @@server_id").Scan(&uuid, &sourceID); err != nil {
		return connectError(err, &options{dsn: a.dsn})
	}
	a.serverID = a.opts.ServerID
	if a.serverID == 0 {
		a.serverID = DeriveServerID(a.opts.Name, uuid)
	}
	if a.serverID == sourceID {
		return shared.InvalidConfig(fmt.Sprintf("the archive's server_id %d is the source server's own server_id; choose another", a.serverID))
	}
	if err := a.checkServerIDFree(ctx); err != nil {
		return err
	}
	return verifyResume(ctx, a, from)
}

func (a *Archiver) syncerConfig() replication.BinlogSyncerConfig {
	cfg := replication.BinlogSyncerConfig{
		ServerID:         a.serverID,
		Flavor:           "mysql",
		User:             a.dsn.User,
		Password:         a.dsn.Passwd,
		Localhost:        archiveHostPrefix + a.opts.Name,
		RawModeEnabled:   true,
		VerifyChecksum:   true,
		HeartbeatPeriod:  a.opts.HeartbeatPeriod,
		ReadTimeout:      3*a.opts.HeartbeatPeriod + 10*time.Second,
		DisableRetrySync: true, // a reconnect must go through prepare's checks: Run returns instead
		DiscardGTIDSet:   true,
		EventCacheCount:  64,
		Logger:           slog.New(slog.NewTextHandler(a.log.StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}), nil)),
	}
	if a.dsn.Net == "unix" {
		cfg.Host = a.dsn.Addr
	} else {
		host, port, _ := strings.Cut(a.dsn.Addr, ":")
		p, _ := strconv.Atoi(port)
		cfg.Host, cfg.Port = host, uint16(p)
		if cfg.Port == 0 {
			cfg.Port = 3306
		}
		cfg.TLSConfig = a.dsn.TLS
	}
	return cfg
}

// dumpError names the common reasons a binlog dump fails (by MySQL error number).
func (a *Archiver) dumpError(err error) error {
	var me *gomysql.MyError
	if errors.As(err, &me) {
		switch me.Code {
		case 1236: // ER_SOURCE_FATAL_ERROR_READING_BINLOG
			return shared.Precondition(fmt.Sprintf("the server cannot send the binlog the archive needs next (error 1236: %s): binlogs holding transactions after the archive's end were purged, so the archive has a gap here; start archiving again from a new snapshot", me.Message))
		case 1045:
			return shared.Precondition(fmt.Sprintf("MySQL refused the archive user's login (error 1045: %s): check the dsn's user and password", me.Message))
		case 1227, 1044, 1142:
			return shared.Precondition(fmt.Sprintf("the archive user lacks a privilege (error %d: %s); as an administrator run: GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO the archive user", me.Code, me.Message))
		}
	}
	return fmt.Errorf("following the binlog as server_id %d: %w", a.serverID, err)
}
