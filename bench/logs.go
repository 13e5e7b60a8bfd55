package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/pagemap"
)

// Issue 13 (binlog archiving, restore to a point) and issue 14 (the redo tracker), measured
// under the same 4-client load: the archiver and the tracker run side by side for a window;
// the archive's lag is sampled from outside (the server's binlog end against the archive's end
// as `timeline --json` shows it), the tracker's CPU from its process's rusage and the redo it
// tracked from its own state file. Then a restore to the archive's end (`restore --to-gtid`)
// is timed against a plain restore of the same snapshot: the difference is the replay.

// ArchiveResults is issue 13's row.
type ArchiveResults struct {
	NA           string // why not measured (the command or a flag was refused)
	Window       time.Duration
	Samples      int
	MeanLagSec   float64
	MaxLagSec    float64
	MeanLagBytes float64
	MaxLagBytes  uint64
	Transactions uint64 // archived during the window (the archiver's --json summary)
	Bytes        uint64
	Records      int
	SourceTPS    float64 // the workload's transactions/s during the window
	// Replay: a restore to the archive's end against a plain restore of the same snapshot.
	ReplayNA      string
	PointRestore  time.Duration
	PlainRestore  time.Duration
	ReplayTx      uint64
	ReplayPerSec  float64
	ReplayVsTheir float64
}

// TrackerResults is issue 14's row.
type TrackerResults struct {
	NA         string
	How        string // "host-example track" or the fallback
	Window     time.Duration
	CPU        time.Duration
	RedoBytes  uint64 // TrackedLSN − FirstLSN
	BitmapSize int64
	Pages      uint64 // distinct pages in the bitmaps over the tracked range
	Gaps       int
}

// CPUPerGiB is the tracker's CPU time per GiB of redo tracked.
func (t *TrackerResults) CPUPerGiB() float64 {
	if t.RedoBytes == 0 {
		return 0
	}
	return t.CPU.Seconds() / (float64(t.RedoBytes) / (1 << 30))
}

// BytesPerMPages is the bitmap files' size per million distinct changed pages.
func (t *TrackerResults) BytesPerMPages() float64 {
	if t.Pages == 0 {
		return 0
	}
	return float64(t.BitmapSize) / (float64(t.Pages) / 1e6)
}

// bgProc is a host-example (or this program) started in the background.
type bgProc struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	log  string
	done chan struct{}
	err  error
}

func startBg(ctx context.Context, logPath string, env []string, argv ...string) (*bgProc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "$ %s\n", strings.Join(argv, " "))
	p := &bgProc{cmd: exec.CommandContext(ctx, argv[0], argv[1:]...), log: logPath, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, logf
	p.cmd.Env = append(os.Environ(), env...)
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { p.err = p.cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

func (p *bgProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process this program started (by its pid) and waits for it.
func (p *bgProc) stop() {
	if !p.exited() {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *bgProc) cpu() time.Duration {
	if ps := p.cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return 0
}

func (p *bgProc) exitCode() int {
	if ps := p.cmd.ProcessState; ps != nil {
		return ps.ExitCode()
	}
	return -1
}

// logsWindow runs the archiver and the tracker for window while the workload runs; repo holds a
// full backup of the source (the archive's first run starts after its newest snapshot).
func (b *bench) logsWindow(ctx context.Context, conf string, window time.Duration, steps func() int) {
	ar, tr := &b.res.Archive, &b.res.Tracker
	ar.Window, tr.Window = window, window
	trackDir := filepath.Join(b.cfg.work, "tracking")
	trackConf, err := writeConfig(b.cfg.work, "track", repoOfConfig(conf), b.cfg.pluginBin, b.src, fmt.Sprintf("  tracking_dir = %q\n", trackDir))
	if err != nil {
		tr.NA = err.Error()
	}

	archiver, err := startBg(ctx, filepath.Join(b.cfg.logs, "archive.log"), nil, b.cfg.hostBin, "archive", "-c", conf, "--json")
	if err != nil {
		ar.NA = err.Error()
	}
	var tracker *bgProc
	if tr.NA == "" {
		tr.How = "`host-example track`"
		tracker, err = startBg(ctx, filepath.Join(b.cfg.logs, "track.log"), nil, b.cfg.hostBin, "track", "-c", trackConf)
		if err != nil {
			tr.NA = err.Error()
		}
	}
	n0, t0 := steps(), time.Now()
	var lagSec, lagBytes float64
	for time.Since(t0) < window && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
		if tracker != nil && tracker.exited() && tr.How == "`host-example track`" {
			// The command is not there (yet): the tracker's own code in a child of this program.
			warn("host-example track exited (%d): %s; measuring the tracker in a child process instead", tracker.exitCode(), lastLine(tracker.log))
			tr.How = fmt.Sprintf("the tracker's code (mysqlsrc.Tracker) in a child of this program — `host-example track` was refused: %s", errorText(tracker.log))
			os.RemoveAll(trackDir)
			self, _ := os.Executable()
			tracker, err = startBg(ctx, filepath.Join(b.cfg.logs, "track-child.log"), []string{trackerEnv + "=" + trackDir, trackerDatadirEnv + "=" + b.src.datadir}, self)
			if err != nil {
				tr.NA, tracker = err.Error(), nil
			}
		}
		if archiver == nil || archiver.exited() {
			continue
		}
		sec, byt, ok := b.archiveLag(ctx, conf)
		if ok {
			ar.Samples++
			lagSec += sec
			lagBytes += float64(byt)
			ar.MaxLagSec, ar.MaxLagBytes = max(ar.MaxLagSec, sec), max(ar.MaxLagBytes, byt)
		}
	}
	ar.SourceTPS = float64(steps()-n0) / time.Since(t0).Seconds()
	if ar.Samples > 0 {
		ar.MeanLagSec, ar.MeanLagBytes = lagSec/float64(ar.Samples), lagBytes/float64(ar.Samples)
	}
	if _, err := b.src.checkpoint(ctx); err != nil { // the tracker tracks up to checkpoints
		warn("checkpoint: %v", err)
	}
	if tracker != nil {
		time.Sleep(500 * time.Millisecond) // the tracker polls every 10 ms; let it reach the checkpoint
		tracker.stop()
		tr.CPU = tracker.cpu()
		b.trackerFigures(trackDir)
	}
	if archiver != nil {
		archiver.stop()
		var sum struct {
			Stored       int    `json:"records_stored"`
			Transactions uint64 `json:"transactions"`
			Bytes        uint64 `json:"bytes"`
			GTIDs        string `json:"gtids"`
		}
		if err := json.Unmarshal(archiver.out.Bytes(), &sum); err != nil {
			if ar.NA == "" {
				ar.NA = fmt.Sprintf("`host-example archive` printed no summary (exit %d): %s", archiver.exitCode(), lastLine(archiver.log))
			}
		} else {
			ar.Records, ar.Transactions, ar.Bytes = sum.Stored, sum.Transactions, sum.Bytes
			if ar.Samples == 0 && ar.NA == "" {
				ar.NA = "no lag sample: `timeline --json` never showed the archive's end"
			}
			b.replay(ctx, conf, sum.GTIDs, sum.Transactions)
		}
	}
	say("archive: lag mean %.1f s / %s, max %.1f s / %s over %d samples, %d transactions archived; tracker (%s): CPU %s for %s of redo, bitmaps %s for %d pages",
		ar.MeanLagSec, human(uint64(ar.MeanLagBytes)), ar.MaxLagSec, human(ar.MaxLagBytes), ar.Samples, ar.Transactions,
		tr.How, secs(tr.CPU), human(tr.RedoBytes), human(uint64(tr.BitmapSize)), tr.Pages)
}

// archiveLag compares the server's binlog end with the archive's end (timeline --json): bytes
// when both are in the same file, and the time since the archive's last transaction committed.
func (b *bench) archiveLag(ctx context.Context, conf string) (sec float64, byt uint64, ok bool) {
	var file string
	var pos uint64
	row := b.src.db.QueryRowContext(ctx, "SELECT JSON_UNQUOTE(JSON_EXTRACT(LOCAL, '$.binary_log_file')), JSON_EXTRACT(LOCAL, '$.binary_log_position') FROM performance_schema.log_status")
	if err := row.Scan(&file, &pos); err != nil {
		return 0, 0, false
	}
	now := time.Now()
	out, err := exec.CommandContext(ctx, b.cfg.hostBin, "timeline", "-c", conf, "--json").Output()
	if err != nil {
		return 0, 0, false
	}
	var tl []struct {
		Windows []struct {
			To struct {
				File   string `json:"binlog_file"`
				Pos    uint64 `json:"binlog_pos"`
				Commit string `json:"commit"`
			} `json:"to"`
		} `json:"windows"`
	}
	if json.Unmarshal(out, &tl) != nil || len(tl) == 0 || len(tl[0].Windows) == 0 {
		return 0, 0, false
	}
	to := tl[0].Windows[len(tl[0].Windows)-1].To
	at, err := time.Parse(time.RFC3339Nano, to.Commit)
	if err != nil || at.Year() < 2000 { // no archived transaction yet: the window ends at its snapshot
		return 0, 0, false
	}
	if to.File == file && pos >= to.Pos {
		byt = pos - to.Pos
	}
	return max(0, now.Sub(at).Seconds()), byt, true
}

// replay restores to the archive's end and, for comparison, the same snapshot plainly.
func (b *bench) replay(ctx context.Context, conf, gtids string, tx uint64) {
	ar := &b.res.Archive
	target := filepath.Join(b.cfg.work, "replayed", "data")
	defer os.RemoveAll(filepath.Dir(target))
	b.cold()
	r, err := b.host.run(ctx, "restore", "-c", conf, "--to-gtid", gtids, "--target", target)
	if err != nil {
		ar.ReplayNA = fmt.Sprintf("`restore --to-gtid` failed or was refused (exit %d): %s", r.exitOr(), errorText(b.host.lastLog))
		return
	}
	ar.PointRestore = r.Wall
	os.RemoveAll(filepath.Dir(target))
	b.cold()
	r, err = b.host.run(ctx, "restore", "-c", conf, "latest", "--target", target)
	if err != nil {
		ar.ReplayNA = "the plain restore failed: " + err.Error()
		return
	}
	ar.PlainRestore = r.Wall
	ar.ReplayTx = tx
	if d := ar.PointRestore - ar.PlainRestore; d > 0 {
		ar.ReplayPerSec = float64(tx) / d.Seconds()
		ar.ReplayVsTheir = ratio(ar.ReplayPerSec, ar.SourceTPS)
	}
}

func (r *hostRun) exitOr() int {
	if r == nil {
		return -1
	}
	return r.Exit
}

// trackerFigures reads the tracker's state and bitmaps.
func (b *bench) trackerFigures(dir string) {
	tr := &b.res.Tracker
	st, err := mysqlsrc.ReadTrackerStatus(dir)
	if err != nil {
		if tr.NA == "" {
			tr.NA = "no tracker state: " + err.Error()
		}
		return
	}
	tr.RedoBytes, tr.Gaps = st.TrackedLSN-st.FirstLSN, len(st.Gaps)
	entries, _ := os.ReadDir(dir)
	var files []pagemap.BitmapFile
	for _, e := range entries {
		if f, ok := pagemap.ParseBitmapFileName(filepath.Join(dir, e.Name())); ok {
			files = append(files, f)
			if info, err := e.Info(); err == nil {
				tr.BitmapSize += info.Size()
			}
		}
	}
	set := pagemap.NewPageSet()
	if err := pagemap.ReadBitmaps(files, st.FirstLSN, st.TrackedLSN, set); err != nil {
		warn("reading the tracker's bitmaps: %v", err)
		return
	}
	tr.Pages = set.Len()
}

// The tracker's code run in a child of this program, when `host-example track` is missing.
const (
	trackerEnv        = "PAGETRACK_BENCH_TRACKER_DIR"
	trackerDatadirEnv = "PAGETRACK_BENCH_TRACKER_DATADIR"
)

func runTrackerChild(dir string) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	t, err := mysqlsrc.NewTracker(mysqlsrc.TrackerConfig{Datadir: os.Getenv(trackerDatadirEnv), Dir: dir,
		Log: hclog.New(&hclog.LoggerOptions{Name: "tracker", Output: os.Stderr, Level: hclog.Info})})
	if err == nil {
		err = t.Run(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracker:", err)
		os.Exit(1)
	}
}

// errorText is what a failed command's log says went wrong: the text after its last
// "error:" (with the indented lines that continue it), else its last line.
func errorText(path string) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(string(data), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		_, after, ok := strings.Cut(lines[i], "error:")
		if !ok || strings.HasPrefix(strings.TrimSpace(lines[i]), "20") { // skip timestamped log lines
			continue
		}
		text := strings.TrimSpace(after)
		for j := i + 1; j < len(lines) && strings.HasPrefix(lines[j], "  "); j++ {
			text += " " + strings.TrimSpace(lines[j])
		}
		if len(text) > 400 {
			text = text[:400] + "…"
		}
		return text
	}
	return lastLine(path)
}

// lastLine is the last non-empty line of a log file.
// (a usage error's "Run … --help" hint is skipped: the line before says what was wrong).
func lastLine(path string) string {
	lines := strings.Split(strings.TrimSpace(tailFile(path, 4)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "Run \"") {
			return l
		}
	}
	return ""
}
