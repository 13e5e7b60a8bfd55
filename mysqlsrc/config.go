package mysqlsrc

import (
	"fmt"
	"os"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/pagetrack/pagetrack/shared"
)

// schema is the configuration a MySQL source accepts.
var schema = shared.Schema{Attributes: []shared.Attribute{
	{Name: "dsn", Type: shared.TypeString, Required: true, Sensitive: true,
		Description: `Go MySQL DSN of the backup user, e.g. "backup:secret@unix(/run/mysqld/mysqld.sock)/"`},
	{Name: "datadir", Type: shared.TypeString, Required: true,
		Description: "the server's data directory as seen from this host (must be readable)"},
	{Name: "parallelism", Type: shared.TypeInt,
		Description: "files read at once (default 2)"},
	{Name: "spool_dir", Type: shared.TypeString,
		Description: "where the redo captured during a backup is spooled (default: the system temp dir)"},
	{Name: "lock_wait_timeout", Type: shared.TypeInt,
		Description: "seconds to wait for LOCK INSTANCE FOR BACKUP behind running DDL (default 60)"},
	{Name: "require_page_tracking", Type: shared.TypeBool,
		Description: "fail an incremental that cannot use page tracking instead of reading every page (default false)"},
	{Name: "install_component", Type: shared.TypeBool,
		Description: "install component_mysqlbackup when it is missing (default false; needs INSERT ON mysql.component)"},
	{Name: "tracking_dir", Type: shared.TypeString,
		Description: "directory where a redo tracker writes changed-page bitmaps; incrementals then read the changed pages from them (method redo-bitmap), also across server restarts"},
	{Name: "tracker_wait_timeout", Type: shared.TypeInt,
		Description: "seconds an incremental waits for the redo tracker to reach its checkpoint (default 60)"},
	{Name: "tracking_wait_timeout", Type: shared.TypeInt,
		Description: "seconds to wait for the checkpoint to pass the page tracking reset point (default 600)"},
	{Name: "archive_dsn", Type: shared.TypeString, Sensitive: true,
		Description: "Go MySQL DSN of the binlog archiving user (REPLICATION SLAVE, REPLICATION CLIENT); default: dsn"},
	{Name: "archive_server_id", Type: shared.TypeInt,
		Description: "server_id the archiver registers with as a replica (default: derived from archive_name and the server's uuid, in [2^31, 2^32))"},
	{Name: "archive_name", Type: shared.TypeString,
		Description: "the archive's name: seeds the derived server_id and shows in SHOW REPLICAS (default: datadir)"},
	{Name: "archive_segment_bytes", Type: shared.TypeInt,
		Description: "bytes of binlog per archive segment (default 8 MiB)"},
	{Name: keyringAttr, Type: shared.TypeString,
		Description: "the server's component_keyring_file data file, needed when it encrypts tablespaces, redo, undo or binary logs: read at each backup to check encrypted pages and redo, never stored in the backup"},
}}

// options are a validated configuration.
type options struct {
	dsn             *mysql.Config
	datadir         string
	parallelism     int
	spoolDir        string
	lockWaitTimeout int64

	requirePageTracking bool
	installComponent    bool
	trackingWait        time.Duration
	trackingDir         string
	trackerWait         time.Duration
	keyringFile         string
}

func parseOptions(cfg shared.Config) (*options, error) {
	if err := schema.Validate(cfg); err != nil {
		return nil, err
	}
	dsn, err := mysql.ParseDSN(cfg.String("dsn", ""))
	if err != nil {
		return nil, shared.InvalidConfig(fmt.Sprintf("attribute \"dsn\" is not a valid MySQL DSN (%v); the form is user:password@tcp(host:port)/ or user:password@unix(/path/to/socket)/", shared.Redact(err.Error(), cfg.String("dsn", ""))))
	}
	o := &options{
		dsn:             dsn,
		datadir:         cfg.String("datadir", ""),
		parallelism:     int(cfg.Int("parallelism", 2)),
		spoolDir:        cfg.String("spool_dir", os.TempDir()),
		lockWaitTimeout: cfg.Int("lock_wait_timeout", 60),

		requirePageTracking: cfg.Bool("require_page_tracking", false),
		installComponent:    cfg.Bool("install_component", false),
		trackingWait:        time.Duration(cfg.Int("tracking_wait_timeout", 600)) * time.Second,
		trackingDir:         cfg.String("tracking_dir", ""),
		trackerWait:         time.Duration(cfg.Int("tracker_wait_timeout", 60)) * time.Second,
		keyringFile:         cfg.String(keyringAttr, ""),
	}
	switch {
	case o.datadir == "":
		return nil, shared.InvalidConfig(`attribute "datadir" is empty; set it to the server's data directory (SELECT @@datadir)`)
	case o.parallelism < 1 || o.parallelism > 64:
		return nil, shared.InvalidConfig(fmt.Sprintf(`attribute "parallelism" must be between 1 and 64, got %d`, o.parallelism))
	case o.trackingWait < time.Second:
		return nil, shared.InvalidConfig(fmt.Sprintf(`attribute "tracking_wait_timeout" must be at least 1 second, got %d`, cfg.Int("tracking_wait_timeout", 0)))
	case o.trackerWait < 0:
		return nil, shared.InvalidConfig(fmt.Sprintf(`attribute "tracker_wait_timeout" must not be negative, got %d`, cfg.Int("tracker_wait_timeout", 0)))
	case o.lockWaitTimeout < 1:
		return nil, shared.InvalidConfig(fmt.Sprintf(`attribute "lock_wait_timeout" must be at least 1 second, got %d`, o.lockWaitTimeout))
	}
	if dsn.User == "" {
		return nil, shared.InvalidConfig(`attribute "dsn" names no user; the backup user needs the grants listed in the README`)
	}
	// Our own session settings; parseTime stays off (we read no DATETIME columns).
	dsn.InterpolateParams = true
	return o, nil
}
