package main

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// goal is one of the goals, judged on this run's numbers.
type goal struct {
	name     string
	target   string
	measured string
	met      bool
	verdict  string
	na       bool
	stated   bool   // a figure the issue asks to state, with no target
	limit    string // for a missed goal: what limits it
}

// atLeast judges measured ≥ target.
func atLeast(name, target string, measured, want float64, text string) goal {
	g := goal{name: name, target: target, measured: text}
	switch {
	case math.IsNaN(measured) || measured == 0:
		g.na, g.verdict = true, "not measured"
	case measured >= want:
		g.met, g.verdict = true, "met"
	default:
		g.verdict = fmt.Sprintf("missed by %.0f %% (needs %.2f× the measured value)", 100*(1-measured/want), want/measured)
	}
	return g
}

// atMost judges measured ≤ target.
func atMost(name, target string, measured, want float64, text string) goal {
	g := goal{name: name, target: target, measured: text}
	switch {
	case math.IsNaN(measured) || measured == 0:
		g.na, g.verdict = true, "not measured"
	case measured <= want:
		g.met, g.verdict = true, "met"
	default:
		g.verdict = fmt.Sprintf("missed by %.2f× (%.0f %% over)", measured/want, 100*(measured/want-1))
	}
	return g
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// roundAt returns the round whose target fraction is f.
func (res *Results) roundAt(f float64) *Round {
	for i := range res.Rounds {
		if math.Abs(res.Rounds[i].Target-f) < 1e-9 {
			return &res.Rounds[i]
		}
	}
	return nil
}

func (res *Results) rawBest() *Op {
	if res.Full.Raw2.Throughput() > res.Full.Raw1.Throughput() {
		return &res.Full.Raw2
	}
	return &res.Full.Raw1
}

func (res *Results) trackingLike() *ChangeMapResult {
	if len(res.ChangeMap) == 0 {
		return nil
	}
	return &res.ChangeMap[0]
}

// binlogGoal is the worst ratio, over the incrementals taken through the host, of the binlog
// sent to the binlog the server wrote since the base's position (issue 12).
func (res *Results) binlogGoal() goal {
	const name, target = "Binlog sent by an incremental", "≤ 1.05 × the binlog written since its base"
	var worst *Op
	n := 0
	for i := range res.Rounds {
		for _, o := range []*Op{&res.Rounds[i].Tracking, &res.Rounds[i].Scan} {
			if o.Kind != "incremental" || o.BinlogWritten == 0 {
				continue
			}
			n++
			if worst == nil || ratio(float64(o.BinlogBytes), float64(o.BinlogWritten)) > ratio(float64(worst.BinlogBytes), float64(worst.BinlogWritten)) {
				worst = o
			}
		}
	}
	if worst == nil {
		return goal{name: name, target: target, na: true, verdict: "not measured (no incremental wrote binlog since its base)"}
	}
	r := ratio(float64(worst.BinlogBytes), float64(worst.BinlogWritten))
	return atMost(name, target, r, 1.05, fmt.Sprintf("%.2f× (binlog sent ÷ binlog written since the base, worst of %d incrementals: %s sent, %s written, %s)",
		r, n, human(worst.BinlogBytes), human(worst.BinlogWritten), worst.Name))
}

// mdTable renders a Markdown table.
func mdTable(head []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|")
	for range head {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

func cpuPair(o *Op) string {
	if o.TotalCPU <= 0 {
		return "–"
	}
	if o.PluginCPU <= 0 {
		return fmt.Sprintf("together %s (%s)", secs(o.TotalCPU), cores(o.TotalCPU, o.Wall))
	}
	return fmt.Sprintf("%s, %s (%s)", secs(o.PluginCPU), secs(o.TotalCPU-o.PluginCPU), cores(o.TotalCPU, o.Wall))
}

func cores(cpu, wall time.Duration) string {
	if wall <= 0 || cpu <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", cpu.Seconds()/wall.Seconds())
}

func addedText(o *Op) string {
	if o.Added < 0 {
		return "–"
	}
	return human(uint64(o.Added))
}

func growthText(o *Op) string {
	if o.RepoGrowth < 0 {
		return "−" + human(uint64(-o.RepoGrowth))
	}
	return human(uint64(o.RepoGrowth))
}

func pct(x float64) string {
	switch {
	case x >= 10:
		return fmt.Sprintf("%.0f %%", x)
	case x >= 1:
		return fmt.Sprintf("%.1f %%", x)
	}
	return fmt.Sprintf("%.2f %%", x)
}

func renderMarkdown(res *Results) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := res.Machine
	ds := res.Dataset
	w("# pagetrack benchmark results\n\n")
	w("Written by `make bench` (`bench/`, a Go program) on %s. Every number below comes from this one run, on one MySQL server the\n", m.Date)
	w("program started; ratios compare numbers from the same run. Rerun with `make bench` (after `make test` on a fresh machine);\n")
	w("`BENCH_SIZE_MB` sets the amount of data (this run: %d MiB requested). The benchmark program ran for %s.\n", res.Size, res.Total.Round(time.Second))
	if res.Rendered != "" {
		w("The report's text was written again on %s from this run's raw results (`go run ./bench render bench/out/results.json`); the numbers are the run's.\n", res.Rendered)
	}
	w("\n")

	w("## Machine\n\n")
	load := res.Load
	cache := "dropped before every cold measurement: `sync; echo 3 > /proc/sys/vm/drop_caches` (the program runs as root), then the host and plugin executables are read back in so that loading them is not counted as backup I/O"
	if !res.CachesDropped {
		cache = res.CacheNote
	}
	virt := ""
	if m.Virtualized {
		virt = " (virtual machine: the CPU reports the hypervisor flag)"
	}
	w("%s", mdTable([]string{"", ""}, [][]string{
		{"CPUs (`nproc`)", fmt.Sprintf("%d × %s%s", m.CPUs, m.CPUModel, virt)},
		{"Memory", human(m.MemTotal)},
		{"Disk", m.Disk + "; file system " + m.Filesystem},
		{"Kernel", m.Kernel},
		{"MySQL", m.MySQL},
		{"Go", m.Go},
		{"Date", m.Date},
		{"Load average (1 min) during the run", fmt.Sprintf("start %.2f, mean %.2f, max %.2f, end %.2f (%d samples, every 5 s; the benchmark's own server and processes count)",
			load.Start, load.Mean, load.Max, load.End, load.Samples)},
		{"Page cache", cache},
	}))
	w("\n")

	w("## Dataset and server\n\n")
	w("One `mysqld` (the provisioned MySQL) with `innodb_buffer_pool_size=%s`, `innodb_redo_log_capacity=1G`, binary log and GTIDs on,\n", res.BufferPool)
	w("`component_mysqlbackup` and the clone plugin installed; otherwise defaults (`innodb_flush_method=O_DIRECT`, so the server's own I/O bypasses\n")
	w("the page cache). Data: `internal/workload` set up in %d schemas, each grown with `workload.Grow`: **%d InnoDB files, %s\n",
		len(bulkSchemas), ds.Files, human(uint64(ds.Bytes)))
	w("(%d pages of 16 KiB)**, %d bulk rows in %d clustered-index leaf pages, loaded in %s. The data is %.0f× the buffer pool.\n\n",
		ds.Pages, ds.BulkRows, ds.LeafPages, ds.LoadTime.Round(time.Second), float64(ds.Bytes)/float64(parseSize(res.BufferPool)))

	w("## Goals\n\n")
	var rows [][]string
	for _, g := range res.goals() {
		v := g.verdict
		if g.met {
			v = "**met**"
		} else if !g.na {
			v = "**" + v + "**"
		}
		rows = append(rows, []string{g.name, g.target, g.measured, v})
	}
	w("%s\n", mdTable([]string{"goal", "target", "measured", "verdict"}, rows))
	w("Goals from issue 11's table (its current targets), issue 12's binlog row, and the figures issues 13 and 14 ask `make bench` to state.\n")
	w("\"not available\" names what was refused or skipped (an attribute or command the plugin or host does not have yet).\n\n")
	var limits []string
	for _, g := range res.goals() {
		if g.limit != "" {
			limits = append(limits, fmt.Sprintf("- **%s** — %s", g.name, g.limit))
		}
	}
	if len(limits) > 0 {
		w("### What limits the missed goals\n\nFrom this run's own measurements and profiles (section Profiles: `perf` of a full backup through the host, `pprof` of the plugin's code; the host's log timestamps for the incrementals).\n\n%s\n\n", strings.Join(limits, "\n"))
	}

	// 1. Full backups.
	f := &res.Full
	w("## 1. Full backup against CLONE LOCAL and the disk\n\n")
	w("Cold cache for each. Throughput is the InnoDB data (%s) over the wall time. \"read from disk\" is `read_bytes` of\n", human(uint64(ds.Bytes)))
	w("`/proc/<pid>/io` of the process that read (the plugin process for pagetrack; this program for the raw read); CLONE reads inside `mysqld`.\n\n")
	rows = nil
	fullRow := func(o *Op, read, cpu string) {
		rows = append(rows, []string{o.Name, secs(o.Wall), rate(o.Throughput()), read, cpu, fmt.Sprintf("%.2f×", ratio(o.Throughput(), f.Clone.Throughput()))})
	}
	fullRow(&f.Raw1, human(f.Raw1.PhysRead), "–")
	fullRow(&f.Raw2, human(f.Raw2.PhysRead), "–")
	fullRow(&f.Clone, "(in mysqld)", "–")
	hostCPU := func(o *Op) string {
		return fmt.Sprintf("plugin %s, host %s (%s cores)", secs(o.PluginCPU), secs(o.TotalCPU-o.PluginCPU), cores(o.TotalCPU, o.Wall))
	}
	fullRow(&f.Host, human(f.Host.PhysRead), hostCPU(&f.Host))
	if f.Host2.Wall > 0 {
		fullRow(&f.Host2, human(f.Host2.PhysRead), hostCPU(&f.Host2))
	}
	fullRow(&f.InProcess, human(f.InProcess.PhysRead), "–")
	w("%s\n", mdTable([]string{"method", "time", "throughput", "read from disk", "CPU time", "vs CLONE"}, rows))
	w("A full backup sends %s (pages %s, redo %s, binary log %s) and the repository grew by %s (the host reports %s added).\n\n",
		human(f.Host.BytesSent), human(f.Host.Pages*16384), human(f.Host.RedoBytes), human(f.Host.BinlogBytes), growthText(&f.Host), addedText(&f.Host))
	if len(f.Random) > 0 {
		w("The disk's random reads (what an incremental does): %d random 16 KiB pages of the same files, cold cache, with 1 to %d reads in flight\n",
			f.Random[0].Reads, f.Random[len(f.Random)-1].InFlight)
		w("(what an incremental's scattered reads can get from this disk):\n\n")
		rows = nil
		for _, r := range f.Random {
			rows = append(rows, []string{strconv.Itoa(r.InFlight), fmt.Sprintf("%.0f", float64(r.Reads)/r.Wall.Seconds()),
				fmt.Sprintf("%.0f µs", float64(r.PerRead().Nanoseconds())/1e3), rate(float64(r.Reads) * 16384 / r.Wall.Seconds()),
				fmt.Sprintf("%.2f×", ratio(float64(r.PhysRead), float64(r.Reads)*16384))})
		}
		w("%s\n", mdTable([]string{"reads in flight", "reads/s", "time per read", "throughput", "read from disk / requested"}, rows))
	}

	// 2. Incrementals.
	w("## 2. Incrementals: page tracking, page-LSN scan, new full\n\n")
	if res.Chart != "" {
		w("![incremental time and bytes read against the fraction of pages changed](%s)\n\n", res.Chart)
	}
	w("Before each round, single-row `UPDATE … SET grp = grp + 1` on rows picked at random from distinct page-sized stretches of the\n")
	w("bulk tables (so about one leaf page each), spread over the %d tables by size; then a forced flush until the checkpoint passed\n", len(bulkSchemas))
	w("(`innodb_max_dirty_pages_pct=0`). Page tracking: an incremental in repository 1 on a full taken after the previous round. Page-LSN scan:\n")
	w("`mysqlbackup_page_track_set(false)` then `(true)` (a new tracking group, which the plugin must not trust), then an incremental in\n")
	w("repository 2 on its previous snapshot, taken at the same point as repository 1's base. New full: `backup --full` in repository 3,\n")
	w("which holds only full backups (the host deduplicates, so a new full stores what changed since the previous round's full); then an\n")
	w("untimed full in repository 1 becomes the next round's base (a base in the new tracking group).\n")
	w("Cold cache before each backup. \"changed\" is the plugin's changed-page set (`pages_in_set`) over all %d pages;\n", ds.Pages)
	w("\"read from disk\" is the plugin process's `read_bytes`; \"page reads\" is what the plugin itself read from the data files\n")
	w("(`bytes_read` of the snapshot: changed pages plus the gaps it reads through, and page 0 of every file).\n\n")
	rows = nil
	for _, r := range res.Rounds {
		fr := r.Fraction(ds.Pages) * 100
		for _, o := range []*Op{&r.Tracking, &r.Scan, &r.NewFull} {
			method := o.Method
			if method == "" {
				method = o.Kind
			}
			rows = append(rows, []string{fmt.Sprintf("%s (%d pages; %d rows updated)", pct(fr), r.Tracking.PagesInSet, r.RowsUpdated),
				method, secs(o.Wall), human(o.PhysRead), human(o.LogicalRead), human(o.BytesSent), addedText(o), growthText(o), cores(o.TotalCPU, o.Wall)})
		}
	}
	w("%s\n", mdTable([]string{"changed", "method", "time", "read from disk", "page reads", "sent to host", "added (host)", "repo grew", "cores busy"}, rows))
	rows = nil
	for _, r := range res.Rounds {
		changed := float64(r.Tracking.PagesInSet) * 16384
		rows = append(rows, []string{pct(r.Fraction(ds.Pages) * 100),
			fmt.Sprintf("%.3f×", ratio(r.Tracking.Wall.Seconds(), r.Scan.Wall.Seconds())),
			fmt.Sprintf("%.3f×", ratio(r.Tracking.Wall.Seconds(), r.NewFull.Wall.Seconds())),
			fmt.Sprintf("%.2f×", ratio(float64(r.Tracking.PhysRead), changed)),
			fmt.Sprintf("%.2f×", ratio(float64(r.Tracking.LogicalRead), changed)),
			secs(r.UpdateTime), secs(r.CheckpointTime)})
	}
	w("%s\n", mdTable([]string{"changed", "tracking time / scan time", "tracking time / new full", "read from disk / changed bytes", "page reads / changed bytes", "updates took", "flush took"}, rows))
	if o := res.Fixed; o != nil {
		w("**Fixed cost.** An incremental with nothing changed by the benchmark (through the host, cold; the median of %d runs): %s, of which %s waiting for\n",
			len(res.FixedRuns), secs(o.Wall), secs(o.CheckpointWait))
		w("the checkpoint to pass the page tracking reset point (%s), %d pages in the set (the server's own background writes since the base),\n", waitSourceText(o.WaitSource), o.PagesInSet)
		w("%s read from disk by the plugin, %s sent, %s CPU in plugin and host together. Runs (time, wait): ", human(o.PhysRead), human(o.BytesSent), secs(o.TotalCPU))
		var parts []string
		for _, r := range res.FixedRuns {
			parts = append(parts, fmt.Sprintf("%s, %s", secs(r.Wall), secs(r.CheckpointWait)))
		}
		w("%s.", strings.Join(parts, "; "))
		if len(o.Steps) > 0 {
			w(" The longest steps by the host's log: %s.", phaseText(o.Steps, 5))
		}
		w("\n\n")
	}
	if a, c := res.FixedBinlog, res.FixedFlushed; a != nil && c != nil {
		w("**The binary log in every backup.** A full backup copies the current binary log file from its start up to the end position; an incremental\n")
		w("whose base ended in the same file sends only what was written since (see the goal above), one in a newer file that file from its start. After the\n")
		w("load, the current binlog file was %s; an incremental with nothing changed (plugin in process, cold) then sent %s (binlog %s) and\n",
			human(uint64(ds.BinlogAfterLoad)), human(a.BytesSent), human(a.BinlogBytes))
		w("took %s; after `FLUSH BINARY LOGS` it sent %s (binlog %s) in %s. The rest of this run is after that flush. On a busy server the\n",
			secs(a.Wall), human(c.BytesSent), human(c.BinlogBytes), secs(c.Wall))
		w("current binlog file holds up to `max_binlog_size` (1 GiB): an incremental of a few changed pages can carry far more binlog than pages.\n\n")
	}

	// 3. Change map.
	w("## 3. Change map: 13.1 M changed pages through `pagemap.ReadIdx`\n\n")
	w("13,107,200 distinct changed pages (200 GiB of 16 KiB pages) over %d tablespaces, each listed %d times in a `.idx` file (the\n", cmSpaces, cmRepeats)
	w("duplication a real server's list showed), each pass in a new random order of runs; the file is read into a new `pagemap.PageSet`.\n")
	w("Peak heap: heap objects above what was live before, sampled every millisecond — with the default GOGC (what a process holds,\n")
	w("garbage not yet collected included) and with GOGC=5 (close to the live peak). XtraBackup documents ~100 MB for this case.\n\n")
	rows = nil
	for _, c := range res.ChangeMap {
		rows = append(rows, []string{c.Shape, fmt.Sprintf("%d (%d)", c.Entries, c.Distinct), human(uint64(c.FileBytes)), secs(c.Took),
			fmt.Sprintf("%.1f", float64(c.Took.Nanoseconds())/float64(max(1, c.Entries))), human(c.PeakHeap), human(c.PeakLive), human(c.SetBytes)})
	}
	w("%s\n", mdTable([]string{"shape", "entries (distinct)", ".idx", "time", "ns/entry", "peak heap", "peak heap, GOGC=5", "finished map"}, rows))

	// 4. Stream.
	st := &res.Stream
	w("## 4. Plugin → host stream from the page cache\n\n")
	w("The receiver is this program (a go-plugin client discarding the records) or, in the last row, host-example storing them.\n")
	w("Every InnoDB file in the page cache. \"page phase\" is the page payload over the time between the first and the last page record;\n")
	w("\"overall\" is the InnoDB data over the whole backup (connect, tracking reset, lock, discovery, redo, binlog, trailer included).\n\n")
	rows = [][]string{
		{st.InProcess.Name, secs(st.InProcess.Wall), rate(st.InProcess.Throughput()), rate(st.InProcessPagesRate), "(this process)"},
		{st.GRPC.Name, secs(st.GRPC.Wall), rate(st.GRPC.Throughput()), rate(st.GRPCPagesRate), cpuPair(&st.GRPC)},
		{st.Synthetic.Name, secs(st.Synthetic.Wall), rate(st.Synthetic.Throughput()), rate(st.Synthetic.Throughput()), cpuPair(&st.Synthetic)},
		{st.HostWarm.Name, secs(st.HostWarm.Wall), rate(st.HostWarm.Throughput()), "–", cpuPair(&st.HostWarm)},
	}
	w("%s\n", mdTable([]string{"path", "time", "overall", "page phase", "CPU: plugin, receiver (cores busy)"}, rows))

	// 5. Restore.
	rr := &res.Restore
	w("## 5. Restore and crash recovery\n\n")
	w("A chain of a full and %d incrementals (1 %% of pages changed before each, page tracking), then a new full at the chain's end, in one\n", rr.Steps)
	w("repository (built in %s). Each restored with `host-example restore` into a new directory from a cold cache, then `mysqld` started on\n", rr.ChainBuild.Round(time.Second))
	w("it (the server's options) and timed until it accepted a connection: crash recovery from the backup's checkpoint to its end point.\n")
	w("Each restored twice, in the order full, chain, chain, full; the table shows the means")
	if len(rr.FullRuns) > 1 && len(rr.ChainRuns) > 1 {
		w(" (full: %s and %s; chain: %s and %s)", secs(rr.FullRuns[0].Wall), secs(rr.FullRuns[1].Wall), secs(rr.ChainRuns[0].Wall), secs(rr.ChainRuns[1].Wall))
	}
	w(".\n\n")
	rows = nil
	for _, v := range []struct {
		o    *Op
		rec  time.Duration
		size int64
	}{{&rr.Full, rr.FullRecovery, rr.FullBytes}, {&rr.Chain, rr.ChainRecovery, rr.ChainSize}} {
		rows = append(rows, []string{v.o.Name, secs(v.o.Wall), rate(v.o.Throughput()), human(v.o.TotalPhysRead), human(uint64(v.size)),
			cores(v.o.TotalCPU, v.o.Wall), secs(v.rec)})
	}
	w("%s\n", mdTable([]string{"restore", "time", "InnoDB data / time", "read from disk (host + plugin)", "restored datadir", "cores busy", "recovery"}, rows))
	if len(rr.ChainSteps) > 0 {
		var parts []string
		for _, c := range rr.ChainSteps {
			parts = append(parts, fmt.Sprintf("%d/%d", c.Rows, c.PagesInSet))
		}
		w("The chain's incrementals, rows updated / pages in the tracked set: %s. Together they sent %d pages, %.2f× the full's %d.",
			strings.Join(parts, ", "), rr.ChainPages, ratio(float64(rr.ChainPages), float64(rr.FullPages)), rr.FullPages)
		var rows, set uint64
		for _, c := range rr.ChainSteps {
			rows += uint64(c.Rows)
			set += c.PagesInSet
		}
		if r := res.roundAt(0.01); r != nil && set > rows*3/2 {
			w(" The sets are larger than the changes (%d pages for %d single-row updates), although in the 1 %% round of section 2 — where three backups ran between changes — %d updates gave %d pages.",
				set, rows, r.RowsUpdated, r.Tracking.PagesInSet)
			w(" The likeliest cause is that the server's list for (C_base, C_now] also held pages changed before C_base when backups follow each other closely; this run did not verify it. The plugin reads and sends those pages again: harmless for correctness, a cost for the chain.")
		}
		w("\n\n")
	}

	// 6. Load.
	t := &res.TPS
	w("## 6. The server's load during a backup\n\n")
	w("`internal/workload` with 4 clients flat out on schema %s (each step one transaction over six tables); transactions/s alone\n", bulkSchemas[0])
	w("(%s, and again at the end) and while a cold full backup ran through the host, unthrottled and throttled with the source attributes\n", t.Window)
	setting := t.ThrottleSetting
	if setting == "" {
		setting = "none ran"
	}
	w("`max_read_rate` (bytes/s of page reads) and `nice` (the plugin's CPU priority): %s (BENCH_THROTTLE_RATE, BENCH_THROTTLE_NICE; by default 35 %% of the\n", setting)
	w("unthrottled full's rate in section 1, and nice 19; max_read_rate alone when nice is refused).")
	if t.ThrottleNA != "" {
		w(" **The throttled run is not available:** %s.", t.ThrottleNA)
	}
	w("\n\n")
	rows = [][]string{{"no backup", fmt.Sprintf("%.0f", t.Baseline), "100 %", "–"}}
	for _, d := range t.During {
		rows = append(rows, []string{"during a " + d.Label, fmt.Sprintf("%.0f", d.TPS), pct(100 * d.TPS / t.Baseline),
			fmt.Sprintf("%s, %s", secs(d.Backup.Wall), rate(d.Backup.Throughput()))})
	}
	rows = append(rows, []string{"no backup, after", fmt.Sprintf("%.0f", t.BaselineTail), pct(100 * t.BaselineTail / t.Baseline), "–"})
	w("%s\n", mdTable([]string{"", "transactions/s", "of the baseline", "backup took"}, rows))

	renderScale(w, res)
	renderLogs(w, res)

	// Micro-benchmarks.
	w("## Go micro-benchmarks\n\n")
	if len(res.Micro) == 0 {
		w("Not run (BENCH_MICRO=0).\n\n")
	} else {
		w("`go test -run '^$' -bench . -benchmem` in %s.\n\n", strings.Join(microPackages, ", "))
		rows = nil
		for _, mr := range res.Micro {
			rows = append(rows, []string{mr.Pkg, mr.Name, strconv.FormatFloat(mr.NsOp, 'f', -1, 64), mbsText(mr.MBs), mr.Extra})
		}
		w("%s\n", mdTable([]string{"package", "benchmark", "ns/op", "throughput", "other"}, rows))
	}

	w("## Profiles\n\n")
	for _, p := range res.Profiles {
		w("%s:\n\n```\n%s\n```\n\n", p.Title, p.Text)
	}
	w("Profiles and logs of this run: `bench/out/` (not committed).\n\n")

	w("## Run\n\n")
	rows = nil
	for _, p := range res.Phases {
		rows = append(rows, []string{p.Name, secs(p.Took)})
	}
	rows = append(rows, []string{"**total (the benchmark program)**", secs(res.Total)})
	w("%s\n", mdTable([]string{"step", "took"}, rows))
	return b.String()
}

func parseSize(s string) int64 {
	s = strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return max(1, n*mult)
}

// perfLine is one line of a perf report sorted by comm,dso,symbol.
type perfLine struct {
	pct    float64
	comm   string
	symbol string
}

var perfRE = regexp.MustCompile(`^\s*([0-9.]+)%\s+(\S+)\s+(\S+)\s+\[[.k]\]\s+(.*?)\s*(-\s+-)?\s*$`)

func parsePerf(text string) []perfLine {
	var out []perfLine
	for _, l := range strings.Split(text, "\n") {
		m := perfRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		out = append(out, perfLine{pct: v, comm: m[2], symbol: m[4]})
	}
	return out
}

// perfShares sums a perf profile's samples by process and by kind of work.
func perfShares(lines []perfLine) map[string]float64 {
	s := map[string]float64{}
	for _, l := range lines {
		kind := "other"
		sym := l.symbol
		switch {
		case strings.Contains(sym, "sha256"):
			kind = "SHA-256"
		case strings.Contains(sym, "zstd") || strings.Contains(sym, "huff0") || strings.Contains(sym, "fse."):
			kind = "zstd"
		case strings.Contains(sym, "memmove") || strings.Contains(sym, "memclr") || strings.Contains(sym, "copy_to") || strings.Contains(sym, "copy_from"):
			kind = "copying"
		case strings.Contains(sym, "crc32"):
			kind = "CRC-32C"
		case strings.Contains(sym, "blake") || strings.Contains(sym, "xxh"):
			kind = "other hashing"
		case strings.Contains(sym, "runtime.") && (strings.Contains(sym, "gc") || strings.Contains(sym, "scan") || strings.Contains(sym, "mark") || strings.Contains(sym, "sweep")):
			kind = "Go GC"
		}
		s[l.comm] += l.pct
		s[l.comm+"/"+kind] += l.pct
	}
	return s
}

// shareList formats the kinds of work of one process in a perf profile, largest first.
func shareList(perf map[string]float64, comm string) string {
	type kv struct {
		k string
		v float64
	}
	var kinds []kv
	for k, v := range perf {
		if kind, ok := strings.CutPrefix(k, comm+"/"); ok && v >= 2 && kind != "other" {
			kinds = append(kinds, kv{kind, v})
		}
	}
	if len(kinds) == 0 {
		return "no single kind of work above 2 %"
	}
	for i := range kinds {
		for j := i + 1; j < len(kinds); j++ {
			if kinds[j].v > kinds[i].v {
				kinds[i], kinds[j] = kinds[j], kinds[i]
			}
		}
	}
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %.0f %%", k.k, k.v))
	}
	return strings.Join(parts, ", ")
}

// pprofShare returns the flat percentage of the functions whose name contains substr in a
// pprof -top table.
func pprofShare(text, substr string) float64 {
	var sum float64
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) >= 6 && strings.Contains(f[len(f)-1], substr) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
			if err == nil {
				sum += v
			}
		}
	}
	return sum
}

// renderConsole prints the summary table.
func renderConsole(res *Results) string {
	var b strings.Builder
	ds := res.Dataset
	fmt.Fprintf(&b, "pagetrack benchmark — %s of InnoDB data (%d pages), buffer pool %s, %d CPUs, load average mean %.2f\n\n",
		human(uint64(ds.Bytes)), ds.Pages, res.BufferPool, res.Machine.CPUs, res.Load.Mean)
	tw := func(rows [][]string) {
		widths := map[int]int{}
		for _, r := range rows {
			for i, c := range r {
				widths[i] = max(widths[i], len([]rune(c)))
			}
		}
		for _, r := range rows {
			for i, c := range r {
				fmt.Fprintf(&b, "%-*s  ", widths[i], c)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	f := &res.Full
	rows := [][]string{{"FULL BACKUP", "time", "throughput"}}
	for _, o := range []*Op{&f.Raw1, &f.Raw2, &f.Clone, &f.Host, &f.InProcess} {
		rows = append(rows, []string{o.Name, secs(o.Wall), rate(o.Throughput())})
	}
	tw(rows)
	rows = [][]string{{"INCREMENTAL", "method", "time", "read from disk", "sent", "repo grew"}}
	for _, r := range res.Rounds {
		for _, o := range []*Op{&r.Tracking, &r.Scan, &r.NewFull} {
			rows = append(rows, []string{pct(r.Fraction(ds.Pages) * 100), o.Method, secs(o.Wall), human(o.PhysRead), human(o.BytesSent), growthText(o)})
		}
	}
	tw(rows)
	rows = [][]string{{"CHANGE MAP (13.1 M pages)", "time", "peak heap", "map"}}
	for _, c := range res.ChangeMap {
		rows = append(rows, []string{c.Shape, secs(c.Took), human(c.PeakHeap), human(c.SetBytes)})
	}
	tw(rows)
	st := &res.Stream
	tw([][]string{{"STREAM (page cache)", "page phase"}, {"in process", rate(st.InProcessPagesRate)}, {"gRPC, real plugin", rate(st.GRPCPagesRate)},
		{"gRPC, synthetic", rate(st.Synthetic.Throughput())}})
	rr := &res.Restore
	tw([][]string{{"RESTORE", "time", "recovery"}, {rr.Full.Name, secs(rr.Full.Wall), secs(rr.FullRecovery)}, {rr.Chain.Name, secs(rr.Chain.Wall), secs(rr.ChainRecovery)}})
	t := &res.TPS
	rows = [][]string{{"LOAD", "transactions/s"}, {"no backup", fmt.Sprintf("%.0f", t.Baseline)}}
	for _, d := range t.During {
		rows = append(rows, []string{d.Label, fmt.Sprintf("%.0f", d.TPS)})
	}
	tw(rows)
	rows = [][]string{{"GOAL", "verdict", "measured"}}
	for _, g := range res.goals() {
		rows = append(rows, []string{g.name + " (" + g.target + ")", g.verdict, g.measured})
	}
	tw(rows)
	for _, g := range res.goals() {
		if g.limit != "" {
			fmt.Fprintf(&b, "LIMIT %s: %s\n", g.name, g.limit)
		}
	}
	return b.String()
}

func waitSourceText(src string) string {
	switch src {
	case "outside":
		return "estimated from outside, the plugin did not report it: the time the server's checkpoint took to pass the LSN at the backup's start"
	case "plugin":
		return "as the plugin reported it, checkpoint_wait_micros"
	}
	return "from the plugin's log"
}

func renderScale(w func(string, ...any), res *Results) {
	sc := &res.Scale
	if len(sc.Points) == 0 {
		return
	}
	w("## 7. Host memory against the pages stored\n\n")
	w("A synthetic source (this program as a go-plugin plugin, `bench/scale.go`) sends a full backup of distinct 16 KiB pages (each page's\n")
	w("first 72 bytes differ, the rest are zeros: the repository stays small while the host indexes one entry per page as for real data);\n")
	w("`host-example backup --full` stores it into a fresh repository. Peak RSS is host-example's `VmHWM`, sampled every 5 ms while it ran.\n")
	w("Per TiB: the slope of a least-squares line through the sizes (BENCH_SCALE_GIB), the smallest left out when there are three or more\n")
	w("(it is the warm-up: the host's buffers and store pipeline fill, whatever the number of pages).\n\n")
	var rows [][]string
	for _, p := range sc.Points {
		e := "–"
		if p.Error != "" {
			e = firstLine(p.Error)
		}
		rows = append(rows, []string{human(uint64(p.Bytes)), fmt.Sprint(p.Pages), secs(p.Wall), rate(float64(p.Bytes) / math.Max(p.Wall.Seconds(), 1e-9)),
			human(p.HostRSS), secs(p.HostCPU), human(uint64(p.RepoBytes)), e})
	}
	w("%s\n", mdTable([]string{"source", "pages", "time", "rate", "host peak RSS", "CPU (host + plugin)", "repository", "error"}, rows))
	if len(sc.Skipped) > 0 {
		w("Left out to keep the run short: %s.\n\n", strings.Join(sc.Skipped, "; "))
	}
	if !math.IsNaN(sc.RSSPerTiB) && sc.RSSPerTiB != 0 {
		w("Fitted: %s of peak RSS per TiB of source (%s at zero), %s per TiB stored.\n\n", human(uint64(math.Max(0, sc.RSSPerTiB))), human(uint64(math.Max(0, sc.RSSBase))),
			secs(time.Duration(sc.SecondsPerTiB*float64(time.Second))))
	}
}

func renderLogs(w func(string, ...any), res *Results) {
	ar, tr := &res.Archive, &res.Tracker
	if ar.Window == 0 && tr.Window == 0 {
		return
	}
	w("## 8. Binlog archiving and the redo tracker under load\n\n")
	w("While the 4-client workload ran (%s), on the repository of the unthrottled full of section 6: `host-example archive -c CONFIG --json`,\n", ar.Window)
	w("and the redo tracker with `tracking_dir` set (`host-example track -c CONFIG`, or the tracker's code in a child of this program when the\n")
	w("command is refused). Archive lag is sampled every 2 s from outside: the server's binlog end (`performance_schema.log_status`) against the\n")
	w("archive's end in `host-example timeline --json` (bytes when in the same file; seconds since the archive's last transaction committed).\n")
	w("Replay: `restore -c CONFIG --to-gtid <the archive's set> --target DIR` against `restore … latest` of the same snapshot, cold; the difference\n")
	w("is the replay of the archived transactions (with the temporary server's start and shutdown that the restore to a point adds). The tracker's CPU is its process's rusage; the redo it tracked comes from its state file\n")
	w("(tracked LSN − first LSN); the bitmaps are read back with `pagemap.ReadBitmaps`.\n\n")
	for _, g := range append(res.archiveGoals(), res.trackerGoals()...) {
		text := g.measured
		if g.na {
			text = g.verdict
		}
		w("- %s: %s\n", g.name, text)
	}
	w("\n")
}
