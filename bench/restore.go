package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// restore builds a chain of a full and cfg.chain incrementals (1 % of pages changed before
// each), takes a new full at the chain's end point, and restores both — the full, and the
// chain's last snapshot — into new datadirs from a cold cache; then starts mysqld on each and
// times crash recovery until it accepts connections.
func (b *bench) restore(ctx context.Context) error {
	rr := &b.res.Restore
	rr.Steps = b.cfg.chain
	repo := filepath.Join(b.cfg.work, "repo-chain")
	conf, err := b.newRepo("chain", repo, "")
	if err != nil {
		return err
	}
	t0 := time.Now()
	if _, err := b.src.checkpoint(ctx); err != nil {
		return err
	}
	if _, _, err := b.host.backup(ctx, conf, true); err != nil {
		return err
	}
	var tip snapshot
	for i := range b.cfg.chain {
		pages := int64(0.01 * float64(b.res.Dataset.Pages))
		ch, err := changePages(ctx, b.src, b.tables, pages, uint64(100+i))
		if err != nil {
			return err
		}
		if _, err := b.src.checkpoint(ctx); err != nil {
			return err
		}
		var r *hostRun
		if r, tip, err = b.host.backup(ctx, conf, false); err != nil {
			return err
		}
		rr.ChainSteps = append(rr.ChainSteps, ChainStep{Rows: ch.Rows, PagesInSet: tip.u("pages_in_set"), Wall: r.Wall})
		rr.ChainPages += tip.u("pages")
		if m := tip.str("method"); m != shared.MethodPageTracking {
			warn("chain step %d used %q", i+1, m)
		}
		say("chain step %d/%d: %s, %d pages in the set", i+1, b.cfg.chain, secs(r.Wall), tip.u("pages_in_set"))
	}
	_, full, err := b.host.backup(ctx, conf, true)
	if err != nil {
		return err
	}
	rr.FullPages = full.u("pages")
	rr.ChainBuild = time.Since(t0)

	// Twice each, in the order full, chain, chain, full, so that neither gains from going
	// second; the tables show the mean of the two.
	names := map[string]string{
		"full":  "restore of a full backup",
		"chain": fmt.Sprintf("restore of a %d-step chain (its full and %d incrementals)", b.cfg.chain, b.cfg.chain),
	}
	snaps := map[string]snapshot{"full": full, "chain": tip}
	runs := map[string][]Op{}
	recs := map[string][]time.Duration{}
	for _, which := range []string{"full", "chain", "chain", "full"} {
		target := filepath.Join(b.cfg.work, "restored", "data")
		snap := snaps[which]
		b.cold()
		r, err := b.host.run(ctx, "restore", "-r", repo, snap.str("id"), "--target", target)
		if err != nil {
			return err
		}
		op := Op{Name: names[which], Wall: r.Wall, PhysRead: r.Plugin.IO.ReadBytes, TotalPhysRead: r.TotalIO.ReadBytes,
			PluginCPU: r.Plugin.CPU, TotalCPU: r.TotalCPU, Bytes: b.dataBytes, Added: -1, Snapshot: snap.str("id"), Kind: snap.str("kind"),
			RepoGrowth: dirSize(target)}
		s, ready, err := startServer(ctx, b.bin, target, serverArgs(b.cfg.bufferPool), false)
		if err != nil {
			return fmt.Errorf("starting mysqld on the restored datadir: %w", err)
		}
		var n int
		err = s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM bench0.bulk").Scan(&n)
		s.stop()
		if err != nil {
			return fmt.Errorf("reading the restored data: %w", err)
		}
		runs[which] = append(runs[which], op)
		recs[which] = append(recs[which], ready)
		say("%s: %s (read %s, wrote %s), recovery until mysqld accepted connections %s",
			op.Name, secs(r.Wall), human(r.TotalIO.ReadBytes), human(r.TotalIO.WriteBytes), secs(ready))
		if err := os.RemoveAll(filepath.Dir(target)); err != nil {
			return err
		}
	}
	rr.FullRuns, rr.ChainRuns = runs["full"], runs["chain"]
	rr.Full, rr.FullRecovery, rr.FullBytes = meanOp(runs["full"]), meanDur(recs["full"]), runs["full"][0].RepoGrowth
	rr.Chain, rr.ChainRecovery, rr.ChainSize = meanOp(runs["chain"]), meanDur(recs["chain"]), runs["chain"][0].RepoGrowth
	rr.Full.RepoGrowth, rr.Chain.RepoGrowth = 0, 0
	return os.RemoveAll(repo)
}

// meanOp is the first op with the mean wall time, CPU time and bytes read of all.
func meanOp(ops []Op) Op {
	m := ops[0]
	var wall, cpu, pcpu time.Duration
	var read uint64
	for _, o := range ops {
		wall += o.Wall
		cpu += o.TotalCPU
		pcpu += o.PluginCPU
		read += o.TotalPhysRead
	}
	n := time.Duration(len(ops))
	m.Wall, m.TotalCPU, m.PluginCPU, m.TotalPhysRead = wall/n, cpu/n, pcpu/n, read/uint64(len(ops))
	return m
}

func meanDur(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(max(1, len(ds)))
}
