package workload

import (
	"fmt"
	"regexp"
	"time"
)

// Config describes a workload. The zero value of every field selects its default; Setup, Start,
// Check and Grow must all be given the same Config (Setup records it on the server and the others
// refuse to work against a schema set up with different parameters).
type Config struct {
	// Schema is the database name; default "wl".
	Schema string
	// Clients is the number of concurrent clients; default 4.
	Clients int
	// Accounts is the number of accounts per client (at least 2); default 50.
	Accounts int
	// Slots is the number of blob slots per client; default 8.
	Slots int
	// BlobSize is the minimum size of a blob body in bytes; bodies are BlobSize to 1.5*BlobSize
	// long. Default 24 KiB (well over the ~8 KiB above which InnoDB stores a value off-page).
	BlobSize int
	// Seed makes different workloads with otherwise equal parameters produce different data.
	Seed int64
	// Tablespace is the general tablespace's name (names are server-global); default
	// Schema+"_gts". Its datafile is <Tablespace>.ibd in the datadir.
	Tablespace string
	// Pause is slept by each client between steps, for gentler load; 0 runs flat out.
	Pause time.Duration
}

// Defaults.
const (
	DefaultSchema   = "wl"
	DefaultClients  = 4
	DefaultAccounts = 50
	DefaultSlots    = 8
	DefaultBlobSize = 24 << 10
)

// Fixed shape parameters of the step function (changing any of them changes the model, so they
// are part of formatVersion).
const (
	formatVersion = 1
	// pWindow is how many of the most recent rows each client keeps in the partitioned table.
	pWindow = 128
	// zEvery: every zEvery-th step inserts a row into the compressed table; the others update an
	// existing one.
	zEvery = 3
	// gEvery: every gEvery-th step inserts a row into the general-tablespace table.
	gEvery = 2
	// maxAmount bounds a transfer.
	maxAmount = 1000
)

var identRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,60}$`)

// normalize fills in defaults and validates.
func (c Config) normalize() (Config, error) {
	if c.Schema == "" {
		c.Schema = DefaultSchema
	}
	if c.Clients == 0 {
		c.Clients = DefaultClients
	}
	if c.Accounts == 0 {
		c.Accounts = DefaultAccounts
	}
	if c.Slots == 0 {
		c.Slots = DefaultSlots
	}
	if c.BlobSize == 0 {
		c.BlobSize = DefaultBlobSize
	}
	if c.Tablespace == "" {
		c.Tablespace = c.Schema + "_gts"
	}
	switch {
	case !identRE.MatchString(c.Schema):
		return c, fmt.Errorf("workload: schema name %q must match %s", c.Schema, identRE)
	case !identRE.MatchString(c.Tablespace):
		return c, fmt.Errorf("workload: tablespace name %q must match %s", c.Tablespace, identRE)
	case c.Clients < 1 || c.Clients > 1<<16:
		return c, fmt.Errorf("workload: Clients = %d, want 1..65536", c.Clients)
	case c.Accounts < 2 || c.Accounts > 1<<20:
		return c, fmt.Errorf("workload: Accounts = %d, want 2..1048576", c.Accounts)
	case c.Slots < 1 || c.Slots > 1<<16:
		return c, fmt.Errorf("workload: Slots = %d, want 1..65536", c.Slots)
	case c.BlobSize < 1 || c.BlobSize > 64<<20:
		return c, fmt.Errorf("workload: BlobSize = %d, want 1..64 MiB", c.BlobSize)
	case c.Pause < 0:
		return c, fmt.Errorf("workload: negative Pause %s", c.Pause)
	}
	return c, nil
}

// q quotes a (validated) identifier.
func q(name string) string { return "`" + name + "`" }

// tbl names a table of the workload's schema.
func (c *Config) tbl(name string) string { return q(c.Schema) + "." + q(name) }

// metaParams are the parameters Setup records in the meta table, in a fixed order.
func (c *Config) metaParams() []struct {
	name string
	val  int64
} {
	return []struct {
		name string
		val  int64
	}{
		{"format", formatVersion},
		{"seed", c.Seed},
		{"clients", int64(c.Clients)},
		{"accounts", int64(c.Accounts)},
		{"slots", int64(c.Slots)},
		{"blob_size", int64(c.BlobSize)},
	}
}
