package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pagetrack/pagetrack/internal/workload"
)

// workload measures the transactions per second of internal/workload's four clients (each
// step is one transaction over six tables) with no backup, while a cold full backup runs
// through the host unthrottled, and while one runs throttled (max_read_rate and nice); then,
// under the same load, the binlog archiver and the redo tracker (logsWindow).
func (b *bench) workload(ctx context.Context) error {
	t := &b.res.TPS
	t.Window = b.cfg.tpsWindow
	wcfg := workloadConfig(bulkSchemas[0], 1)
	run, err := workload.Start(ctx, b.src.db, wcfg)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			run.Stop()
		}
	}()
	total := func() int {
		n := 0
		for _, k := range run.Steps() {
			n += k
		}
		return n
	}
	window := func(d time.Duration) float64 {
		n0, t0 := total(), time.Now()
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
		return float64(total()-n0) / time.Since(t0).Seconds()
	}
	window(3 * time.Second) // warm up
	t.Baseline = window(t.Window)
	say("workload alone: %.0f transactions/s over %s", t.Baseline, t.Window)

	// Unthrottled, then throttled: max_read_rate (bytes/s of page reads) and nice (the plugin's
	// CPU priority), source attributes. When the plugin refuses nice, max_read_rate alone is
	// tried; when it refuses both, the row says "not available".
	throttle := b.cfg.throttle(b.res.Full.Host.Throughput())
	keep, free, err := b.loadRun(ctx, "load-0", "full backup, no throttle", "", total)
	if err != nil {
		return err
	}
	t.During = append(t.During, free)
	window(3 * time.Second) // let the server settle
	var refused []string
	for _, v := range []struct{ text, hcl string }{
		{throttle.text, throttle.hcl},
		{throttle.rateText, throttle.rateHCL},
	} {
		conf, d, err := b.loadRun(ctx, "load-1", "full backup, throttled ("+v.text+")", v.hcl, total)
		if conf != "" {
			os.RemoveAll(repoOfConfig(conf))
		}
		if err != nil {
			refused = append(refused, fmt.Sprintf("with %s: %s", v.text, errorText(b.host.lastLog)))
			warn("throttled backup with %s failed: %v", v.text, err)
			continue
		}
		d.Throttled = true
		t.During = append(t.During, d)
		t.ThrottleSetting = v.text
		window(3 * time.Second)
		break
	}
	if t.ThrottleSetting == "" {
		t.ThrottleNA = "the throttled backup failed (the attributes are refused or broken): " + strings.Join(refused, "; ")
	} else if len(refused) > 0 {
		t.ThrottleSetting += " (" + strings.Join(refused, "; ") + ")"
	}
	if keep != "" && !b.cfg.skip["logs"] {
		b.logsWindow(ctx, keep, b.cfg.tpsWindow, total)
		os.RemoveAll(repoOfConfig(keep))
		window(3 * time.Second)
	}
	t.BaselineTail = window(t.Window / 2)
	say("workload alone again: %.0f transactions/s", t.BaselineTail)
	stopped = true
	if _, err := run.Stop(); err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	return nil
}

// throttleSetting is the throttle of the throttled run.
type throttleSetting struct {
	rate int64 // max_read_rate, bytes/s
	nice int
	text string
	hcl  string
	// rateText and rateHCL are max_read_rate alone.
	rateText, rateHCL string
}

// throttle is BENCH_THROTTLE_RATE (bytes/s) and BENCH_THROTTLE_NICE, by default 35 % of the
// unthrottled full backup's rate (so that the throttled backup keeps above the goal's 25 %) and
// nice 19.
func (c *config) throttle(unthrottled float64) throttleSetting {
	limit := int64(atoiOr(os.Getenv("BENCH_THROTTLE_RATE"), 0))
	if limit <= 0 {
		limit = int64(0.35 * unthrottled)
	}
	if limit <= 0 {
		limit = 200e6
	}
	nice := atoiOr(os.Getenv("BENCH_THROTTLE_NICE"), 19)
	return throttleSetting{rate: limit, nice: nice,
		text:     fmt.Sprintf("max_read_rate = %d (%s), nice = %d", limit, rate(float64(limit)), nice),
		hcl:      fmt.Sprintf("  max_read_rate = %d\n  nice = %d\n", limit, nice),
		rateText: fmt.Sprintf("max_read_rate = %d (%s)", limit, rate(float64(limit))),
		rateHCL:  fmt.Sprintf("  max_read_rate = %d\n", limit)}
}

// loadRun takes a cold full backup into a new repository while the workload runs and returns
// its config (its repository holds the full) and the transactions/s during it.
func (b *bench) loadRun(ctx context.Context, name, label, extra string, total func() int) (string, TPSDuring, error) {
	conf, err := b.newRepo(name, filepath.Join(b.cfg.work, "repo-"+name), extra)
	if err != nil {
		return "", TPSDuring{}, err
	}
	n0 := total()
	op, err := b.hostBackup(ctx, label+", under load", conf, true, true)
	if err != nil {
		return conf, TPSDuring{}, err
	}
	tps := float64(total()-n0) / op.Wall.Seconds()
	t := &b.res.TPS
	say("during a %s: %.0f transactions/s (%.0f %% of the baseline); the backup took %s = %s",
		label, tps, 100*tps/t.Baseline, secs(op.Wall), rate(op.Throughput()))
	return conf, TPSDuring{Label: label, Backup: op, TPS: tps}, nil
}
