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

func (res *Results) goals() []goal {
	f := &res.Full
	var gs []goal
	host, clone, raw := f.Host.Throughput(), f.Clone.Throughput(), res.rawBest().Throughput()
	gs = append(gs,
		atLeast("Full backup vs CLONE LOCAL", "≥ 0.9 × CLONE's throughput", ratio(host, clone), 0.9,
			fmt.Sprintf("%.2f× (%s vs %s)", ratio(host, clone), rate(host), rate(clone))),
		atLeast("Full backup vs raw sequential read", "≥ 0.8 × the raw read", ratio(host, raw), 0.8,
			fmt.Sprintf("%.2f× (%s vs %s, the faster raw read)", ratio(host, raw), rate(host), rate(raw))))
	if r := res.roundAt(0.01); r != nil {
		changed := float64(r.Tracking.PagesInSet) * 16384
		gs = append(gs,
			atMost("Incremental at 1 %: time", "≤ 0.05 × the page-LSN scan's time", ratio(r.Tracking.Wall.Seconds(), r.Scan.Wall.Seconds()), 0.05,
				fmt.Sprintf("%.3f× (%s vs %s)", ratio(r.Tracking.Wall.Seconds(), r.Scan.Wall.Seconds()), secs(r.Tracking.Wall), secs(r.Scan.Wall))),
			atMost("Incremental at 1 %: bytes read", "≤ 1.05 × the changed pages' bytes", ratio(float64(r.Tracking.PhysRead), changed), 1.05,
				fmt.Sprintf("%.2f× (%s read from disk by the plugin process for %d changed pages = %s; its own page reads %s)",
					ratio(float64(r.Tracking.PhysRead), changed), human(r.Tracking.PhysRead), r.Tracking.PagesInSet, human(uint64(changed)), human(r.Tracking.LogicalRead))))
	} else {
		gs = append(gs, goal{name: "Incremental at 1 %", target: "", measured: "", na: true, verdict: "not measured (1 % not among the fractions)"})
	}
	if c := res.trackingLike(); c != nil {
		gs = append(gs, atMost("Change map, 13.1 M pages", "≤ 10 MB", float64(c.PeakHeap), 10e6,
			fmt.Sprintf("peak heap %s while reading (%.1f MB; %s with GOGC=5), the finished map %s — %s",
				human(c.PeakHeap), float64(c.PeakHeap)/1e6, human(c.PeakLive), human(c.SetBytes), c.Shape)))
	}
	gs = append(gs, atLeast("Stream from page cache", "≥ 2 GB/s", res.Stream.GRPCPagesRate, 2e9,
		fmt.Sprintf("%s (real plugin over gRPC, page phase); the boundary alone %s", rate(res.Stream.GRPCPagesRate), rate(res.Stream.Synthetic.Throughput()))))
	gs = append(gs, res.binlogGoal())
	rr := &res.Restore
	gs = append(gs, atMost(fmt.Sprintf("Restore of a %d-step chain", rr.Steps), "≤ 1.2 × restore of a full", ratio(rr.Chain.Wall.Seconds(), rr.Full.Wall.Seconds()), 1.2,
		fmt.Sprintf("%.2f× (%s vs %s)", ratio(rr.Chain.Wall.Seconds(), rr.Full.Wall.Seconds()), secs(rr.Chain.Wall), secs(rr.Full.Wall))))
	return gs
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
	w("Why the missed goals are missed, and what would close them, is under [Analysis](#analysis).\n\n")

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
	fullRow(&f.Host2, human(f.Host2.PhysRead), hostCPU(&f.Host2))
	fullRow(&f.InProcess, human(f.InProcess.PhysRead), "–")
	w("%s\n", mdTable([]string{"method", "time", "throughput", "read from disk", "CPU time", "vs CLONE"}, rows))
	w("A full backup sends %s (pages %s, redo %s, binary log %s) and the repository grew by %s (the host reports %s added).\n\n",
		human(f.Host.BytesSent), human(f.Host.Pages*16384), human(f.Host.RedoBytes), human(f.Host.BinlogBytes), growthText(&f.Host), addedText(&f.Host))
	if len(f.Random) > 0 {
		w("The disk's random reads (what an incremental does): %d random 16 KiB pages of the same files, cold cache, with 1 to %d reads in flight\n",
			f.Random[0].Reads, f.Random[len(f.Random)-1].InFlight)
		w("(the plugin keeps at most `parallelism` = 2 in flight):\n\n")
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
		w("**Fixed cost.** An incremental with nothing changed by the benchmark (through the host, cold): %s, %d pages in the set (the server's\n",
			secs(o.Wall), o.PagesInSet)
		w("own background writes since the base, also part of every round's set), %s read from disk by the plugin,\n", human(o.PhysRead))
		w("%s sent, %s CPU in plugin and host together. Every incremental pays this: starting the plugin, connecting, resetting page tracking and\n",
			human(o.BytesSent), secs(o.TotalCPU))
		w("waiting for the checkpoint to pass the reset point, `LOCK INSTANCE FOR BACKUP`, the dictionary and tablespace discovery, the `.idx` list,\n")
		w("redo and binary log, and the host writing and syncing the snapshot.\n\n")
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
	w("(%s, and again at the end) and while a cold full backup ran through the host. The plugin has no rate limit; `parallelism`\n", t.Window)
	w("(files read at once) is the only knob that bounds its load.\n\n")
	rows = [][]string{{"no backup", fmt.Sprintf("%.0f", t.Baseline), "100 %", "–"}}
	for _, d := range t.During {
		rows = append(rows, []string{"during a " + d.Label, fmt.Sprintf("%.0f", d.TPS), pct(100 * d.TPS / t.Baseline),
			fmt.Sprintf("%s, %s", secs(d.Backup.Wall), rate(d.Backup.Throughput()))})
	}
	rows = append(rows, []string{"no backup, after", fmt.Sprintf("%.0f", t.BaselineTail), pct(100 * t.BaselineTail / t.Baseline), "–"})
	w("%s\n", mdTable([]string{"", "transactions/s", "of the baseline", "backup took"}, rows))

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

	w("## Analysis\n\n")
	w("%s\n", analysis(res))

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

func analysis(res *Results) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	f := &res.Full
	ds := &res.Dataset
	missed := map[string]bool{}
	for _, g := range res.goals() {
		if !g.met && !g.na {
			missed[g.name] = true
		}
	}
	perf := res.PerfShares
	var inproc string
	for _, p := range res.Profiles {
		if strings.HasPrefix(p.Title, "plugin code") {
			inproc = p.Text
		}
	}
	pluginSHA := pprofShare(inproc, "sha256")

	// Full backup.
	w("**Full backup.** ")
	if missed["Full backup vs CLONE LOCAL"] || missed["Full backup vs raw sequential read"] {
		raw := res.rawBest()
		w("Through the host the full backup ran at %s, against %s for CLONE LOCAL and %s for the raw read (the disk delivers the same data in %s). ",
			rate(f.Host.Throughput()), rate(f.Clone.Throughput()), rate(raw.Throughput()), secs(raw.Wall))
		w("The plugin alone — its code in this process, records discarded, cold cache — ran at %s. ", rate(f.InProcess.Throughput()))
		busy := f.Host.TotalCPU.Seconds() / f.Host.Wall.Seconds()
		hostCPU := f.Host.TotalCPU - f.Host.PluginCPU
		w("During the backup the plugin process used %s of CPU and host-example %s, in %s: %.2f of the %d cores busy on average. ",
			secs(f.Host.PluginCPU), secs(hostCPU), secs(f.Host.Wall), busy, res.Machine.CPUs)
		switch {
		case hostCPU.Seconds() >= 0.9*f.Host.Wall.Seconds():
			w("The host alone needed %.2f cores' worth of CPU for the whole backup: the host's per-byte work is the limit, not the disk and not the plugin (which needs %s for the same data). ",
				hostCPU.Seconds()/f.Host.Wall.Seconds(), secs(f.Host.PluginCPU))
		case busy >= 0.8*float64(res.Machine.CPUs):
			w("Both cores were busy: the backup is bound by CPU, not by the disk. ")
		default:
			w("So it is bound neither by the disk nor by both cores: the per-byte work runs mostly one step after another — the plugin reads, checks and digests a batch and sends it, the host receives and stores it. ")
		}
		if perf != nil {
			w("`perf` on a warm full backup through the host (Profiles) puts %.0f %% of the samples in host-example (%s) and %.0f %% in the plugin (%s). ",
				perf["host-example"], shareList(perf, "host-example"), perf["pagetrack-mysql"], shareList(perf, "pagetrack-mysql"))
		}
		if pluginSHA > 0 {
			w("In the plugin's own profile (in process, warm) SHA-256 is %.0f %% of the CPU: the stream digest (`shared.Digester`) hashes every byte on the goroutine that sends the records, one core's worth of SHA-256 at most (%s in the micro-benchmark on this machine). ",
				pluginSHA, microRate(res, "DigesterAdd1MiB"))
		}
		w("What would close it: ")
		var fixes []string
		if perf["host-example/zstd"] >= 5 {
			fixes = append(fixes, fmt.Sprintf("store pages uncompressed or with a much cheaper compressor in the host (zstd is the largest single cost and turned %s of pages into %s: the rows are random bytes, only the pages' free space compresses)",
				human(f.Host.Pages*16384), human(uint64(max(0, f.Host.RepoGrowth)))))
		}
		if perf["host-example/SHA-256"] >= 3 || pluginSHA >= 10 {
			fixes = append(fixes, "take SHA-256 off the serial path: in the plugin hash each batch in the reader goroutines and chain the per-record hashes (or use a tree hash), in the host hash each record once")
		}
		fixes = append(fixes, "overlap the host's storing with receiving (a pipeline of a few records) so that the two processes use both cores")
		w("%s. The remaining work per byte — the read, the CRC-32C check (%s per core) and the copies across the boundary — is well above the disk's rate. ",
			strings.Join(fixes, "; "), microRate(res, "ValidatePage16K"))
		w("CLONE does no per-byte work in user space: it copies the files inside the server.\n\n")
	} else {
		w("Both full-backup goals are met.\n\n")
	}

	// Incremental time.
	if r := res.roundAt(0.01); r != nil {
		w("**Incremental at 1 %% — time.** ")
		if missed["Incremental at 1 %: time"] {
			var fixed time.Duration
			if res.Fixed != nil {
				fixed = res.Fixed.Wall
			}
			w("The tracked incremental took %s against the page-LSN scan's %s (%.3f×). ", secs(r.Tracking.Wall), secs(r.Scan.Wall), ratio(r.Tracking.Wall.Seconds(), r.Scan.Wall.Seconds()))
			if fixed > 0 {
				w("An incremental with nothing changed takes %s (Fixed cost), %.3f× the scan's time", secs(fixed), ratio(fixed.Seconds(), r.Scan.Wall.Seconds()))
				if fixed.Seconds() > 0.05*r.Scan.Wall.Seconds() {
					w(" — more than the whole 5 %% budget on this dataset")
				}
				w(". ")
			}
			perPage := (r.Tracking.Wall - fixed).Seconds() / math.Max(1, float64(r.Tracking.PagesRead))
			scanPage := r.Scan.Wall.Seconds() / math.Max(1, float64(ds.Pages))
			var disk2 float64 // the disk's time per random read with two in flight
			for _, x := range f.Random {
				if x.InFlight == 2 {
					disk2 = x.PerRead().Seconds()
				}
			}
			if perPage > 0 && scanPage > 0 {
				floor := r.Target * perPage / scanPage
				w("The rest comes to %.0f µs per page read, against %.0f µs per page for the scan, %.0f× more per page. ", perPage*1e6, scanPage*1e6, perPage/scanPage)
				if disk2 > 0 && perPage > 2*disk2 {
					w("The disk is not what makes a changed page expensive: it serves a random 16 KiB read in %.0f µs with two in flight (section 1); the rest is per-page work in the plugin and the host — a scattered changed page travels as its own 16 KiB record, digested, sent, received and stored one at a time — and the incremental kept %s cores busy. ",
						disk2*1e6, cores(r.Tracking.TotalCPU, r.Tracking.Wall))
				} else if disk2 > 0 {
					w("That is the disk's random-read time (%.0f µs per 16 KiB read with two in flight, section 1): the incremental waits on random reads. ", disk2*1e6)
				}
				if floor > 0.05 {
					w("So even without the fixed cost, reading 1 %% of the pages this way costs about %.2f× the scan, at any dataset size. ", floor)
				} else if fixed > 0 {
					S := float64(ds.Bytes)
					a := (r.Tracking.Wall - fixed).Seconds() / S
					bb := r.Scan.Wall.Seconds() / S
					w("Taking the scan as proportional to the data and the tracked incremental as the fixed cost plus a part proportional to the changed pages, the goal would be met from about %s of data (an extrapolation from this run, not a measurement). ",
						human(uint64(fixed.Seconds()/(0.05*bb-a))))
				}
			}
			if len(f.Random) > 1 {
				lo, best := f.Random[0], f.Random[0]
				for _, x := range f.Random {
					if x.InFlight == 2 {
						lo = x
					}
					if x.PerRead() < best.PerRead() {
						best = x
					}
				}
				if best.InFlight != lo.InFlight {
					w("The disk also serves more random reads at once than the plugin asks for: %d in flight took %.0f µs per read, %d in flight %.0f µs (section 1). ",
						lo.InFlight, float64(lo.PerRead().Nanoseconds())/1e3, best.InFlight, float64(best.PerRead().Nanoseconds())/1e3)
				}
			}
			w("What would close it: batch scattered changed pages into larger records (several runs per record) so that per-record costs in plugin and host are paid per megabyte rather than per page; keep more reads in flight than `parallelism` (which counts files) allows; and shrink the fixed part every incremental pays — the plugin's start, the wait for the checkpoint to pass the tracking reset point, discovery under the backup lock, and the host's snapshot commit.\n\n")
		} else {
			w("Met.\n\n")
		}
		w("**Incremental at 1 %% — bytes read.** ")
		if missed["Incremental at 1 %: bytes read"] {
			changed := r.Tracking.PagesInSet * 16384
			other := int64(r.Tracking.PhysRead) - int64(r.Tracking.LogicalRead)
			w("The plugin read %d pages (%s) of data files for %d changed pages (%.2f×: the pages it reads through small gaps between changed ones, and page 0 of each of the %d files); ",
				r.Tracking.PagesRead, human(r.Tracking.LogicalRead), r.Tracking.PagesInSet, ratio(float64(r.Tracking.LogicalRead), float64(changed)), ds.Files)
			w("the process read %s from disk in all, %s more than its page reads: the redo (%s), the binary log (%s), the `.idx` list and the small non-InnoDB files it copies, and the kernel's readahead. ",
				human(r.Tracking.PhysRead), human(uint64(max(0, other))), human(r.Tracking.RedoBytes), human(r.Tracking.BinlogBytes))
			if ds.Page0Read > 0 {
				share := "part"
				if 2*ds.Page0Read >= uint64(max(0, other)) {
					share = "most"
				}
				w("Readahead is %s of that: reading just 128 bytes at the start of each of the %d files (as discovery does to learn space ids) read %s from disk on this machine. ",
					share, ds.Files, human(ds.Page0Read))
			}
			w("What would close it: `posix_fadvise(POSIX_FADV_RANDOM)` (or reading page 0 with the same 16 KiB reads as the rest, no readahead) on the data files, and no reading through gaps when the budget is tight. The bound holds better on larger change sets: the per-file overhead is fixed.\n\n")
		} else {
			w("Met.\n\n")
		}
	}

	// Change map.
	if c := res.trackingLike(); c != nil && missed["Change map, 13.1 M pages"] {
		w("**Change map.** The finished map for 13.1 M pages holds %s; while it was read the heap peaked at %s (%s with GOGC=5, about the live peak). ",
			human(c.SetBytes), human(c.PeakHeap), human(c.PeakLive))
		w("The map is roaring bitmaps: at 20 %% density every 64 Ki-page chunk is an 8 KiB bitmap, so 13.1 M pages spread over 1 TiB take about 8 MiB whatever their order; ")
		w("ReadIdx adds about 2.6 MiB of batch buffers (128 Ki keys and their radix-sort scratch), and with the default GOGC the garbage of growing containers (arrays turned into bitmaps) waits for the next collection. ")
		if len(res.ChangeMap) > 2 {
			w("Spread thinner (3 %% of 6.4 TiB), every chunk is an array of 2-byte entries: %s for the finished map — roaring cannot hold 13.1 M scattered pages in 10 MB. ", human(res.ChangeMap[2].SetBytes))
		}
		w("What would close it: smaller ReadIdx batches (32 Ki keys save 2 MiB), a memory limit in the plugin process (`debug.SetMemoryLimit`) so garbage is collected before it piles up, and for sparse sets a denser encoding than roaring arrays (sorted deltas). All shapes stay far below XtraBackup's ~100 MB.\n\n")
	}

	// Stream.
	st := &res.Stream
	if missed["Stream from page cache"] {
		w("**Stream.** From the page cache the real plugin delivered %s over gRPC in its page phase; the same code in process, without a boundary, %s. ",
			rate(st.GRPCPagesRate), rate(st.InProcessPagesRate))
		w("A synthetic plugin that only sends pre-built 960 KiB records reached %s", rate(st.Synthetic.Throughput()))
		if st.Synthetic.TotalCPU > 0 {
			recv := st.Synthetic.TotalCPU - st.Synthetic.PluginCPU
			w(", with the sender using %s and the receiver %s of CPU in %s", secs(st.Synthetic.PluginCPU), secs(recv), secs(st.Synthetic.Wall))
			switch {
			case recv.Seconds() >= 0.9*st.Synthetic.Wall.Seconds():
				w(" — the receiving side alone, which does nothing with the records, needed %.2f cores: gRPC's receive path, unmarshalling into a fresh 1 MiB buffer per record and collecting them again (ProtoUnmarshal1MiB in the micro-benchmarks), on a machine with %d cores shared by both ends",
					recv.Seconds()/st.Synthetic.Wall.Seconds(), res.Machine.CPUs)
			case st.Synthetic.TotalCPU.Seconds() < 0.8*float64(res.Machine.CPUs)*st.Synthetic.Wall.Seconds():
				w(" — not both cores busy, so part of the limit is the hand-off itself (one record at a time through HTTP/2 flow control) rather than copying")
			}
		}
		w(". That is the ceiling of this transport on this machine, below the goal before the plugin does any work; the real plugin adds reading, CRC-32C and the SHA-256 digest on the send path. ")
		w("What would close it: digest off the send path (see Full backup); page data without the protobuf copies on either side (a codec that writes the page buffer as is, and a receiver that reuses its buffers); or page data over a side channel (shared memory or a pipe passed to the plugin) with gRPC only for control. More cores help both ends: the boundary costs CPU on each side for every byte.\n\n")
	}

	// Restore.
	rr := &res.Restore
	if missed[fmt.Sprintf("Restore of a %d-step chain", rr.Steps)] {
		w("**Restore of a chain.** The chain took %.2f× the full's restore time; both kept %s of the %d cores busy (host and plugin CPU over wall time), so both are bound by CPU work done one step after another rather than by the disk. ",
			ratio(rr.Chain.Wall.Seconds(), rr.Full.Wall.Seconds()), cores(rr.Chain.TotalCPU, rr.Chain.Wall), res.Machine.CPUs)
		if rr.FullPages > 0 {
			w("The chain's incrementals hold %d pages besides the full's %d (%.2f×), and every one of them is read, decompressed and checked before the merge keeps the newest copy. ",
				rr.ChainPages, rr.FullPages, ratio(float64(rr.ChainPages), float64(rr.FullPages)))
			var rows, set uint64
			for _, c := range rr.ChainSteps {
				rows += uint64(c.Rows)
				set += c.PagesInSet
			}
			if set > rows*3/2 {
				w("They are larger than the changes: %d rows were updated over the %d steps (about one page each), but the tracked sets held %d pages (see section 5). ", rows, len(rr.ChainSteps), set)
			}
		}
		w("What would close it: fewer pages in the chain (drop tracked pages whose FIL_PAGE_LSN ≤ C_base before sending them), and a restore that uses both cores (the host reading and checking the next streams while the plugin writes).\n\n")
	}

	// Load.
	t := &res.TPS
	if len(t.During) > 0 && t.Baseline > 0 {
		w("**Load.** A full backup with the default parallelism cut the workload to %s of its transactions/s; with `parallelism = 1` to %s. ",
			pct(100*t.During[0].TPS/t.Baseline), pct(100*t.During[len(t.During)-1].TPS/t.Baseline))
		if len(t.During) > 1 && t.During[len(t.During)-1].TPS <= t.During[0].TPS {
			w("Reading one file at a time did not lighten the load here; it only made the backup longer (%s against %s). ",
				secs(t.During[len(t.During)-1].Backup.Wall), secs(t.During[0].Backup.Wall))
		}
		w("On two cores the backup's CPU work (digest, compression) competes with `mysqld` directly. There is no throttle option: a bytes-per-second limit in the plugin's page copier (and a rate-limited or lower-priority host) would bound the impact; `parallelism` only bounds the number of files read at once.\n\n")
	}
	return b.String()
}

func microRate(res *Results, name string) string {
	for _, m := range res.Micro {
		if m.Name == name && m.MBs > 0 {
			return rate(m.MBs * 1e6)
		}
	}
	return "see the micro-benchmarks"
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
	rows = [][]string{{"GOAL", "measured", "verdict"}}
	for _, g := range res.goals() {
		rows = append(rows, []string{g.name + " (" + g.target + ")", g.measured, g.verdict})
	}
	tw(rows)
	return b.String()
}
