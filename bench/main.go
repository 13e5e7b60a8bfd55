// Command bench is `make bench`: it measures pagetrack side by side with the server's own copy
// (CLONE LOCAL) and with the disk's limit (a raw sequential read), on one throw-away MySQL
// server it starts itself, and writes bench/RESULTS.md and bench/incremental.png.
//
// What it runs, in one process and against one server:
//
//  1. a full backup through the plugin into a host repository (bin/host-example), against
//     CLONE LOCAL DATA DIRECTORY and a raw sequential read of the same InnoDB files;
//  2. incrementals at several fractions of pages changed: page tracking, the page-LSN scan and
//     a new full backup — wall time, bytes the plugin process read from the disk
//     (/proc/<pid>/io), bytes it sent, bytes the repository grew by;
//  3. the change map: a .idx of 13.1 M distinct changed pages with duplicates through
//     pagemap.ReadIdx — peak heap and time;
//  4. the plugin → host stream from the page cache, through the real go-plugin gRPC boundary;
//  5. restore of a full and of a 10-step chain, then crash recovery by mysqld on each;
//     (the fulls of 1 and 6 go into fresh repositories; issue 11 compares those)
//  6. transactions/s of a concurrent workload with and without a backup running, unthrottled
//     and throttled (max_read_rate, nice); under the same load the binlog archiver's lag, the
//     replay speed of a restore to a point, and the redo tracker's CPU and bitmap size;
//  7. host memory against the number of pages stored, from a synthetic source of tens of GiB;
//
// plus the Go micro-benchmarks of the checksum, page set and record codec.
//
// Page caches are dropped before every cold measurement (sync; echo 3 >
// /proc/sys/vm/drop_caches), which needs root; without root the results say so.
//
// The report opens with the goals (issue 11's table with its current targets, issue 12's
// binlog row, the figures issues 13 and 14 ask for), each with a verdict, and for every missed
// goal what limits it, from this run's own measurements and profiles (goals.go).
//
// Configuration (environment; the first nine also as flags: -size-mb, -buffer-pool, -fractions,
// -chain, -tps-seconds, -micro, -results, -keep, -quiet-load):
//
//	BENCH_SIZE_MB      InnoDB data to create, MiB (default 1536)
//	BENCH_BUFFER_POOL  innodb_buffer_pool_size (default 128M)
//	BENCH_FRACTIONS    fractions of pages changed, comma-separated (default 0.001,0.01,0.1)
//	BENCH_CHAIN        incrementals in the restore chain (default 10)
//	BENCH_TPS_SECONDS  length of the workload-only window (default 20)
//	BENCH_MICRO        0 skips the Go micro-benchmarks
//	BENCH_RESULTS      where to write the results (default bench/RESULTS.md)
//	BENCH_KEEP         1 keeps the work directory
//	BENCH_WORK         the work directory (default .cache/bench; removed at the start)
//	BENCH_SKIP         steps to leave out, comma-separated, for development: micro, changemap,
//	                   full, stream, incr, load, logs (the archiver and tracker window inside
//	                   load), restore, scale
//	BENCH_SCALE_GIB    sizes of the synthetic source for host memory, GiB, comma-separated
//	                   (default 2,6,16; 0.25,1,2 below 1024 MiB of data)
//	BENCH_SCALE_BUDGET seconds a size may take, judged from the previous size's rate; larger
//	                   sizes are left out (default 90)
//	BENCH_THROTTLE_RATE, BENCH_THROTTLE_NICE  the throttled run's max_read_rate (bytes/s;
//	                   default 35 % of the unthrottled full's rate) and nice (default 19)
//	BENCH_HOST, BENCH_PLUGIN  the host and plugin binaries (default bin/host-example,
//	                   bin/pagetrack-mysql)
//	BENCH_QUIET_LOAD   wait (up to 25 min) for the 1-minute load average to drop below this
//	                   before starting (default: do not wait)
//
// A BENCH_SIZE_MB below 1024 is the development mode: fractions 0.01,0.1, a 3-step chain,
// 8 s workload windows, no micro-benchmarks, one change-map shape, a 1 GiB synthetic stream
// and 0.25–2 GiB for host memory (each can still be set), to check that every row renders in a
// few minutes: BENCH_SIZE_MB=200 BENCH_RESULTS=bench/out/RESULTS.md make bench (the results
// then stay out of the committed bench/RESULTS.md).
//
// `go run ./bench render bench/out/results.json` writes the report again from a run's raw
// results (for changes to the report's wording; the numbers are those of the run).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pagetrack/pagetrack/mysqlsrc/mysqld"
)

type config struct {
	sizeMB     int
	bufferPool string
	fractions  []float64
	chain      int
	tpsWindow  time.Duration
	micro      bool
	results    string
	keep       bool
	quietLoad  float64
	skip       map[string]bool

	root, work, out, logs string
	hostBin, pluginBin    string
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func parseConfig() (*config, error) {
	c := &config{}
	size := flag.Int("size-mb", atoiOr(envOr("BENCH_SIZE_MB", ""), 1536), "InnoDB data to create, MiB")
	flag.StringVar(&c.bufferPool, "buffer-pool", envOr("BENCH_BUFFER_POOL", "128M"), "innodb_buffer_pool_size")
	// A small dataset is the development mode: fewer rounds, a shorter chain and windows, no
	// micro-benchmarks, unless set explicitly.
	dev := atoiOr(envOr("BENCH_SIZE_MB", ""), 1536) < 1024
	pick := func(full, small string) string {
		if dev {
			return small
		}
		return full
	}
	fr := flag.String("fractions", envOr("BENCH_FRACTIONS", pick("0.001,0.01,0.1", "0.01,0.1")), "fractions of pages changed")
	flag.IntVar(&c.chain, "chain", atoiOr(envOr("BENCH_CHAIN", ""), atoiOr(pick("10", "3"), 10)), "incrementals in the restore chain")
	tps := flag.Int("tps-seconds", atoiOr(envOr("BENCH_TPS_SECONDS", ""), atoiOr(pick("20", "8"), 20)), "workload-only window, seconds")
	micro := flag.Bool("micro", envOr("BENCH_MICRO", pick("1", "0")) != "0", "run the Go micro-benchmarks")
	flag.StringVar(&c.results, "results", envOr("BENCH_RESULTS", ""), "results file (default bench/RESULTS.md)")
	keep := flag.Bool("keep", envOr("BENCH_KEEP", "0") == "1", "keep the work directory")
	quiet := flag.Float64("quiet-load", atofOr(envOr("BENCH_QUIET_LOAD", ""), 0), "wait for the 1-minute load average to drop below this first")
	flag.Parse()
	c.sizeMB, c.tpsWindow, c.micro, c.keep, c.quietLoad = *size, time.Duration(*tps)*time.Second, *micro, *keep, *quiet
	c.skip = map[string]bool{}
	for _, k := range splitList(os.Getenv("BENCH_SKIP")) {
		c.skip[k] = true
	}
	for _, f := range strings.Split(*fr, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 || v > 1 {
			return nil, fmt.Errorf("fractions: %q is not in (0, 1]", f)
		}
		c.fractions = append(c.fractions, v)
	}
	if c.sizeMB < 64 {
		return nil, fmt.Errorf("size: %d MiB is too small (at least 64)", c.sizeMB)
	}
	root, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(root) == root {
			return nil, fmt.Errorf("run from inside the repository (no go.mod above the working directory)")
		}
		root = filepath.Dir(root)
	}
	c.root = root
	c.work = envOr("BENCH_WORK", filepath.Join(root, ".cache", "bench"))
	c.out = filepath.Join(root, "bench", "out")
	c.logs = filepath.Join(c.out, "logs")
	if c.results == "" {
		c.results = filepath.Join(root, "bench", "RESULTS.md")
	}
	c.hostBin = envOr("BENCH_HOST", filepath.Join(root, "bin", "host-example"))
	c.pluginBin = envOr("BENCH_PLUGIN", filepath.Join(root, "bin", "pagetrack-mysql"))
	return c, nil
}

// splitList splits a comma-separated list, trimming spaces and dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func atoiOr(s string, def int) int {
	if v, err := strconv.Atoi(s); err == nil {
		return v
	}
	return def
}

func atofOr(s string, def float64) float64 {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return v
	}
	return def
}

func say(format string, args ...any) {
	fmt.Printf("%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func warn(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }

func main() {
	if v := os.Getenv(synthEnv); v != "" {
		n, _ := strconv.ParseInt(v, 10, 64)
		serveSynthetic(n)
		return
	}
	if v := os.Getenv(scaleEnv); v != "" {
		n, _ := strconv.ParseInt(v, 10, 64)
		serveScale(n)
		return
	}
	if dir := os.Getenv(trackerEnv); dir != "" {
		runTrackerChild(dir)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	var err error
	if len(os.Args) == 3 && os.Args[1] == "render" {
		err = render(os.Args[2])
	} else {
		err = run(ctx)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench failed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := parseConfig()
	if err != nil {
		return err
	}
	for _, p := range []string{cfg.hostBin, cfg.pluginBin} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s is missing: run make build (make bench does)", p)
		}
	}
	if cfg.quietLoad > 0 {
		say("load average now %.2f", waitQuiet(cfg.quietLoad, 25*time.Minute))
	}
	if err := os.RemoveAll(cfg.work); err != nil {
		return err
	}
	for _, d := range []string{cfg.work, cfg.logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	os.Setenv("BENCH_MYSQL_PASSWORD", backupPassword)

	started := time.Now()
	load := startLoadSampler(5 * time.Second)
	res := &Results{Size: cfg.sizeMB, BufferPool: cfg.bufferPool, Fractions: cfg.fractions}
	res.Machine = describeMachine(cfg.work)
	bin, err := mysqld.Locate()
	if err != nil {
		return err
	}
	res.Machine.MySQL, _ = bin.Version(ctx)
	if err := dropCaches(); err != nil {
		res.CacheNote = fmt.Sprintf("page caches could NOT be dropped (%v): the process is not root, so \"cold\" numbers below may be served from the page cache", err)
		warn("%s", res.CacheNote)
	} else {
		res.CachesDropped = true
	}
	say("machine: %d CPUs, %s RAM, %s; %s", res.Machine.CPUs, human(res.Machine.MemTotal), res.Machine.Disk, res.Machine.MySQL)

	b := &bench{cfg: cfg, res: res, bin: bin, host: &hostCLI{bin: cfg.hostBin, plugin: filepath.Base(cfg.pluginBin), logDir: cfg.logs}}
	defer b.cleanup()
	steps := []struct {
		name string

		key string
		fn  func(context.Context) error
	}{
		{"micro-benchmarks", "micro", b.microBenchmarks},
		{"change map", "changemap", b.changeMap},
		{"server and data", "", b.setup},
		{"full backups", "full", b.fullBackups},
		{"stream", "stream", b.stream},
		{"incrementals", "incr", b.incrementals},
		{"workload", "load", b.workload},
		{"restore", "restore", b.restore},
		{"host memory against pages stored", "scale", b.scale},
	}
	skip := cfg.skip
	for _, s := range steps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.key != "" && skip[s.key] {
			say("== %s: skipped (BENCH_SKIP)", s.name)
			continue
		}
		t0 := time.Now()
		say("== %s", s.name)
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		res.Phases = append(res.Phases, Phase{s.name, time.Since(t0)})
		res.Load = load.Snapshot()
	}
	b.src.stop()
	b.src = nil
	res.Load = load.Stop()
	res.Total = time.Since(started)

	if err := os.MkdirAll(filepath.Dir(cfg.results), 0o755); err != nil {
		return err
	}
	chart := filepath.Join(filepath.Dir(cfg.results), "incremental.png")
	if len(res.Rounds) > 0 {
		if err := writeChart(res, chart); err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		res.Chart = filepath.Base(chart)
	}
	md := renderMarkdown(res)
	if err := os.WriteFile(cfg.results, []byte(md), 0o644); err != nil {
		return err
	}
	if raw, err := json.MarshalIndent(res, "", "  "); err == nil {
		os.WriteFile(filepath.Join(cfg.out, "results.json"), raw, 0o644)
	}
	fmt.Println()
	fmt.Print(renderConsole(res))
	say("wrote %s and %s in %s", rel(cfg.root, cfg.results), rel(cfg.root, chart), res.Total.Round(time.Second))
	return nil
}

// render rewrites RESULTS.md and the chart from the results.json of an earlier run (`go run
// ./bench render bench/out/results.json`), for changes to the report's wording.
func render(path string) error {
	cfg, err := parseConfig()
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	res := &Results{}
	if err := json.Unmarshal(data, res); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.results), 0o755); err != nil {
		return err
	}
	res.Rendered = time.Now().UTC().Format("2006-01-02 15:04 MST")
	if len(res.Rounds) > 0 {
		chart := filepath.Join(filepath.Dir(cfg.results), "incremental.png")
		if err := writeChart(res, chart); err != nil {
			return err
		}
		res.Chart = filepath.Base(chart)
	}
	fmt.Print(renderConsole(res))
	return os.WriteFile(cfg.results, []byte(renderMarkdown(res)), 0o644)
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return r
	}
	return p
}

// bench holds the state shared by the phases.
type bench struct {
	cfg  *config
	res  *Results
	bin  *mysqld.Binaries
	host *hostCLI
	src  *server

	files      []string // the source's InnoDB files
	dataBytes  int64
	tables     []bulkTable
	r1, r2, r3 string // repositories: tracked incrementals, page-LSN-scan incrementals, fulls only
	c1, c2, c3 string // their configs
	dropErrors int
}

func (b *bench) cleanup() {
	b.src.stop()
	if !b.cfg.keep {
		os.RemoveAll(b.cfg.work)
	}
}

// cold drops the page cache before a measurement, then reads the host and plugin
// executables back in: loading a 20 MiB program from disk is not part of a backup's I/O, and
// /proc/<pid>/io would count it.
func (b *bench) cold() {
	if !b.res.CachesDropped {
		return
	}
	if err := dropCaches(); err != nil {
		b.dropErrors++
		warn("dropping caches: %v", err)
		return
	}
	for _, p := range []string{b.cfg.hostBin, b.cfg.pluginBin} {
		if err := readAll(p); err != nil {
			warn("reading %s: %v", p, err)
		}
	}
}
