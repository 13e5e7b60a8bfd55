package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pagetrack/pagetrack/internal/workload"
)

// workload measures the transactions per second of internal/workload's four clients (each
// step is one transaction over six tables) with no backup, while a cold full backup runs
// through the host with the default parallelism (2 files at once), and while one runs with
// parallelism 1 — the only knob the plugin has that bounds its load.
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

	for _, v := range []struct {
		label, extra string
	}{
		{"full backup, parallelism 2 (default)", ""},
		{"full backup, parallelism 1", "  parallelism = 1\n"},
	} {
		name := fmt.Sprintf("load-%d", len(t.During))
		repo := filepath.Join(b.cfg.work, "repo-"+name)
		conf, err := b.newRepo(name, repo, v.extra)
		if err != nil {
			return err
		}
		n0 := total()
		op, err := b.hostBackup(ctx, v.label+", under load", conf, true, true)
		if err != nil {
			return err
		}
		tps := float64(total()-n0) / op.Wall.Seconds()
		t.During = append(t.During, TPSDuring{Label: v.label, Backup: op, TPS: tps})
		say("during a %s: %.0f transactions/s (%.0f %% of the baseline); the backup took %s = %s",
			v.label, tps, 100*tps/t.Baseline, secs(op.Wall), rate(op.Throughput()))
		os.RemoveAll(repo)
		window(3 * time.Second) // let the server settle
	}
	t.BaselineTail = window(t.Window / 2)
	say("workload alone again: %.0f transactions/s", t.BaselineTail)
	stopped = true
	if _, err := run.Stop(); err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	return nil
}
