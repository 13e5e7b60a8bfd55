package main

import (
	"cmp"
	"context"
	"os"
	"slices"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// incrementals: for each fraction of pages changed, an incremental by page tracking (in
// repository 1), an incremental by the page-LSN scan (in repository 2, after stopping and
// starting page tracking so that the plugin must fall back) and a new full backup (in
// repository 3, which holds only full backups: with a deduplicating repository it stores what
// changed since the previous round's full, as a full instead of an incremental would). Then an
// untimed full in repository 1 gives the next round's tracked incremental a base in the new
// tracking group. Both incrementals build on snapshots taken after the previous round's changes
// and before this round's, so all three backups cover the same changes.
func (b *bench) incrementals(ctx context.Context) error {
	// What discovery's read of page 0 of every file costs in disk reads (readahead included).
	b.cold()
	before := selfIO()
	buf := make([]byte, 128)
	for _, p := range b.files {
		if f, err := os.Open(p); err == nil {
			f.ReadAt(buf, 0)
			f.Close()
		}
	}
	b.res.Dataset.Page0Read = selfIO().sub(before).ReadBytes

	// The first fulls of repository 2 (the scan's bases) and 3 (fulls only); repository 1 holds
	// the full of section 1.
	for _, c := range []string{b.c2, b.c3} {
		if _, _, err := b.host.backup(ctx, c, true); err != nil {
			return err
		}
	}
	if err := b.fixedCost(ctx); err != nil {
		return err
	}

	for i, f := range b.cfg.fractions {
		r := Round{Target: f, TargetPages: int64(f * float64(b.res.Dataset.Pages))}
		ch, err := changePages(ctx, b.src, b.tables, r.TargetPages, uint64(i+1))
		if err != nil {
			return err
		}
		r.RowsUpdated, r.UpdateTime = ch.Rows, ch.Duration
		if r.CheckpointTime, err = b.src.checkpoint(ctx); err != nil {
			return err
		}
		say("%.1f %%: updated %d rows in %s, checkpoint in %s", f*100, ch.Rows, secs(ch.Duration), secs(r.CheckpointTime))

		if r.Tracking, err = b.hostBackup(ctx, "incremental, page tracking", b.c1, false, true); err != nil {
			return err
		}
		if r.Tracking.Method != shared.MethodPageTracking {
			warn("the tracked incremental used %q (%s)", r.Tracking.Method, r.Tracking.Reason)
		}
		if err := b.src.restartTracking(ctx); err != nil {
			return err
		}
		if r.Scan, err = b.hostBackup(ctx, "incremental, page-LSN scan", b.c2, false, true); err != nil {
			return err
		}
		if r.Scan.Method != shared.MethodLSNScan {
			warn("the scanning incremental used %q", r.Scan.Method)
		}
		if r.NewFull, err = b.hostBackup(ctx, "new full backup", b.c3, true, true); err != nil {
			return err
		}
		if _, _, err := b.host.backup(ctx, b.c1, true); err != nil { // the next base, untimed
			return err
		}
		b.res.Rounds = append(b.res.Rounds, r)
		say("%.2f %% of pages in the set: tracking %s (read %s, sent %s, repo +%s) | LSN scan %s (read %s) | new full %s (repo +%s)",
			r.Fraction(b.res.Dataset.Pages)*100, secs(r.Tracking.Wall), human(r.Tracking.PhysRead), human(r.Tracking.BytesSent), human(uint64(max(0, r.Tracking.RepoGrowth))),
			secs(r.Scan.Wall), human(r.Scan.PhysRead), secs(r.NewFull.Wall), human(uint64(max(0, r.NewFull.RepoGrowth))))
	}
	os.RemoveAll(b.r2)
	os.RemoveAll(b.r3)
	return os.RemoveAll(b.r1)
}

// fixedCost measures an incremental with nothing changed since its base, three times (the
// median is reported). How long the plugin waited for the checkpoint to pass the page tracking
// reset point, which the goal counts apart, comes from the snapshot's metadata
// (checkpoint_wait_micros), else it is estimated from outside (watchCheckpoint).
func (b *bench) fixedCost(ctx context.Context) error {
	if _, err := b.src.checkpoint(ctx); err != nil {
		return err
	}
	var runs []Op
	for range 3 {
		est := b.watchCheckpoint(ctx)
		op, err := b.hostBackup(ctx, "incremental, nothing changed by the benchmark", b.c1, false, true)
		outside := est()
		if err != nil {
			return err
		}
		if op.WaitSource == "" { // not in the snapshot's metadata (checkpoint_wait_micros)
			op.CheckpointWait, op.WaitSource = outside, "outside"
		}
		runs = append(runs, op)
		say("incremental with nothing changed (%s): %s, checkpoint wait %s (%s), %d pages in the set, plugin read %s from disk",
			op.Method, secs(op.Wall), secs(op.CheckpointWait), op.WaitSource, op.PagesInSet, human(op.PhysRead))
	}
	slices.SortFunc(runs, func(a, c Op) int { return cmp.Compare(a.Wall-a.CheckpointWait, c.Wall-c.CheckpointWait) })
	m := runs[len(runs)/2]
	b.res.Fixed = &m
	b.res.FixedRuns = runs
	return nil
}

// watchCheckpoint polls the server from the moment it is called: the returned function stops
// polling and returns how long it took the checkpoint to pass the LSN of that moment — what a
// backup starting then waits for at least when it resets page tracking (0 when it never did).
func (b *bench) watchCheckpoint(ctx context.Context) func() time.Duration {
	lsn, _, err := b.src.lsns(ctx)
	t0 := time.Now()
	var took time.Duration
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for err == nil {
			if _, ckpt, e := b.src.lsns(ctx); e != nil || ckpt >= lsn {
				took = time.Since(t0)
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() time.Duration { close(stop); <-done; return took }
}
