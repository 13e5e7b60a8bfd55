package main

import (
	"fmt"
	"time"
)

// Results is everything one run measured; results.json holds it as is.
type Results struct {
	Machine       Machine
	Load          LoadStats
	Size          int
	BufferPool    string
	Fractions     []float64
	CachesDropped bool
	CacheNote     string
	Total         time.Duration
	Phases        []Phase
	Chart         string
	// Rendered is set when the report was written again from results.json (render).
	Rendered string

	Dataset   Dataset
	Full      FullResults
	Fixed     *Op // an incremental with nothing changed: the fixed cost (the median run)
	FixedRuns []Op
	// In process, nothing changed: with the load's binary log current, and after FLUSH
	// BINARY LOGS.
	FixedBinlog, FixedFlushed *Op
	Rounds                    []Round
	ChangeMap                 []ChangeMapResult
	Stream                    StreamResults
	Restore                   RestoreResults
	TPS                       TPSResults
	Scale                     ScaleResults
	Archive                   ArchiveResults
	Tracker                   TrackerResults
	Micro                     []MicroResult
	MicroRaw                  string
	Profiles                  []Profile
	// PerfShares: percent of perf samples by process and by process/kind of work.
	PerfShares map[string]float64
}

type Phase struct {
	Name string
	Took time.Duration
}

type Dataset struct {
	// BinlogAfterLoad is the size of the current binary log file once the data was loaded.
	BinlogAfterLoad int64
	// Page0Read is what reading 128 bytes at the start of every InnoDB file read from disk.
	Page0Read uint64
	Files     int
	Bytes     int64
	Pages     uint64
	LoadTime  time.Duration
	BulkRows  int64
	LeafPages int64
}

// Op is one measured operation.
type Op struct {
	Name string
	Wall time.Duration
	// Bytes the operation covers, for throughput: the InnoDB data for a full copy.
	Bytes int64
	// PhysRead is what the plugin process read from the storage layer (/proc/<pid>/io
	// read_bytes, readahead included); TotalPhysRead the same for host and plugin together.
	PhysRead      uint64
	TotalPhysRead uint64
	// From the snapshot (the plugin's trailer): bytes and pages it read from the files, pages
	// in the changed set, pages and payload bytes it sent.
	LogicalRead uint64
	BinlogBytes uint64
	// BinlogWritten is the binlog the server wrote since the base's position (incrementals).
	BinlogWritten uint64
	RedoBytes     uint64
	PagesRead     uint64
	PagesInSet    uint64
	Pages         uint64
	BytesSent     uint64
	// Added is what the host says the snapshot added to the repository (-1: not reported);
	// RepoGrowth how much the repository directory grew.
	Added      int64
	RepoGrowth int64
	Kind       string
	Method     string
	Reason     string
	PluginCPU  time.Duration
	TotalCPU   time.Duration
	PluginRSS  uint64
	Snapshot   string
	// CheckpointWait is how long the plugin waited for the checkpoint to pass the tracking reset
	// point; WaitSource says where the figure comes from ("plugin log", or "outside": estimated
	// by polling the server).
	CheckpointWait time.Duration
	WaitSource     string
	// PagesBeforeBase: tracked pages changed only before the base (FIL_PAGE_LSN at or below its
	// checkpoint), and how many of them were not sent (snapshot metadata, when reported).
	PagesBeforeBase, PagesBeforeBaseSkipped uint64
	// Steps are the intervals between the lines of the host's log (plugin lines relayed).
	Steps []LogStep
}

// Throughput in bytes/s of Bytes over Wall.
func (o *Op) Throughput() float64 {
	if o == nil || o.Wall <= 0 {
		return 0
	}
	return float64(o.Bytes) / o.Wall.Seconds()
}

// RandomRead is the disk's rate for random 16 KiB reads at a number of reads in flight.
type RandomRead struct {
	InFlight int
	Reads    int
	Wall     time.Duration
	PhysRead uint64
}

// PerRead is the wall time per read.
func (r RandomRead) PerRead() time.Duration { return r.Wall / time.Duration(max(1, r.Reads)) }

type FullResults struct {
	Random     []RandomRead
	Raw1, Raw2 Op // one and two sequential streams
	Clone      Op
	Host       Op // through bin/host-example into a repository
	Host2      Op // the same, a second time into a second repository
	InProcess  Op // mysqlsrc in this process, records discarded: the plugin alone
}

// Round is one fraction of pages changed.
type Round struct {
	Target         float64
	TargetPages    int64
	RowsUpdated    int
	UpdateTime     time.Duration
	CheckpointTime time.Duration
	Tracking       Op
	Scan           Op
	NewFull        Op
}

// Fraction is the fraction of the dataset's pages in the changed set.
func (r Round) Fraction(total uint64) float64 {
	if total == 0 {
		return 0
	}
	return float64(r.Tracking.PagesInSet) / float64(total)
}

type ChangeMapResult struct {
	Shape       string
	Entries     uint64
	Distinct    uint64
	FileBytes   int64
	Took        time.Duration
	PeakHeap    uint64 // heap objects above the baseline (GOGC=100), sampled every millisecond
	PeakLive    uint64 // the same with GOGC=5: close to the live peak
	TookTight   time.Duration
	SetBytes    uint64 // heap the finished set holds
	SerialBytes uint64 // the set's own size estimate (roaring serialised size)
}

type StreamResults struct {
	InProcess Op // mysqlsrc in process, warm cache
	GRPC      Op // bin/pagetrack-mysql through go-plugin, warm cache, records discarded
	// GRPCPages is the page-phase rate of the gRPC run: page payload between the first and
	// the last page record.
	GRPCPagesRate      float64
	InProcessPagesRate float64
	Synthetic          Op // the boundary alone: a plugin sending pre-built 960 KiB page records
	HostWarm           Op // bin/host-example into a new repository, warm cache
}

// ChainStep is one incremental of the restore chain.
type ChainStep struct {
	Rows       int
	PagesInSet uint64
	Wall       time.Duration
}

type RestoreResults struct {
	Steps                int
	ChainSteps           []ChainStep
	ChainPages           uint64 // pages sent by the chain's incrementals
	FullPages            uint64
	ChainBuild           time.Duration
	Full, Chain          Op // the mean of the runs
	FullRuns, ChainRuns  []Op
	FullRecovery         time.Duration
	ChainRecovery        time.Duration
	FullBytes, ChainSize int64
}

type TPSResults struct {
	Window       time.Duration
	Baseline     float64 // steps (transactions) per second, no backup
	BaselineTail float64 // again, after the backups
	During       []TPSDuring
	// ThrottleSetting is the throttle of the throttled run; ThrottleNA why it did not run.
	ThrottleSetting string
	ThrottleNA      string
}

type TPSDuring struct {
	Label     string
	Backup    Op
	TPS       float64
	Throttled bool
}

type MicroResult struct {
	Pkg, Name string
	NsOp      float64
	MBs       float64
	Extra     string
}

type Profile struct {
	Title string
	Text  string
}

func human(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func mb(n float64) string { return fmt.Sprintf("%.1f MB", n/1e6) }

func rate(bps float64) string {
	if bps >= 1e9 {
		return fmt.Sprintf("%.2f GB/s", bps/1e9)
	}
	return fmt.Sprintf("%.0f MB/s", bps/1e6)
}

func secs(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
}
