package repo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Policy says which snapshots of each source to keep.
type Policy struct {
	// KeepLast keeps the newest KeepLast snapshots.
	KeepLast int
	// KeepDaily keeps, for each of the KeepDaily most recent days that have snapshots, the
	// newest snapshot of that day (days in local time).
	KeepDaily int
	// KeepBinlogWithin keeps the binlog archive of that span back from now (and what a kept
	// snapshot's window needs: PlanArchiveForget); 0 keeps the whole archive.
	KeepBinlogWithin time.Duration
}

// Empty reports whether the policy keeps nothing, which Forget refuses.
func (p Policy) Empty() bool { return p.KeepLast <= 0 && p.KeepDaily <= 0 }

func (p Policy) String() string {
	s := ""
	if p.KeepLast > 0 {
		s += fmt.Sprintf("keep-last %d", p.KeepLast)
	}
	if p.KeepDaily > 0 {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("keep-daily %d", p.KeepDaily)
	}
	return s
}

// Decision is one snapshot kept or removed, and why.
type Decision struct {
	Snapshot *Snapshot
	Reasons  []string
}

// ForgetGroup is the decision for the snapshots of one source.
type ForgetGroup struct {
	Source string
	// Keep and Remove are newest first.
	Keep   []Decision
	Remove []Decision
	// Tips are the kept snapshots no kept snapshot builds on: the newest snapshot of each
	// kept chain, the ones a next incremental could build on. FloorLSN is the smallest
	// checkpoint LSN among them: change tracking older than it is needed by no kept chain.
	Tips     []*Snapshot
	FloorLSN uint64
}

// PlanForget applies p to snaps, source by source. A snapshot that a kept incremental builds
// on is kept too, with its whole chain back to its full, whatever the policy says.
func PlanForget(snaps []*Snapshot, p Policy) []*ForgetGroup {
	byID := map[string]*Snapshot{}
	bySource := map[string][]*Snapshot{}
	var sources []string
	for _, s := range snaps {
		byID[s.ID] = s
		if _, ok := bySource[s.Source]; !ok {
			sources = append(sources, s.Source)
		}
		bySource[s.Source] = append(bySource[s.Source], s)
	}
	sort.Strings(sources)
	reasons := map[string][]string{}
	var work []*Snapshot
	keep := func(s *Snapshot, why string) {
		if reasons[s.ID] == nil {
			work = append(work, s)
		}
		reasons[s.ID] = append(reasons[s.ID], why)
	}
	for _, src := range sources {
		list := append([]*Snapshot(nil), bySource[src]...)
		SortSnapshots(list)
		// newest first
		for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
			list[i], list[j] = list[j], list[i]
		}
		for i := 0; i < p.KeepLast && i < len(list); i++ {
			keep(list[i], fmt.Sprintf("keep-last (%d of %d)", i+1, p.KeepLast))
		}
		days, last := 0, ""
		for _, s := range list {
			if days >= p.KeepDaily {
				break
			}
			day := s.Time.Local().Format("2006-01-02")
			if day == last {
				continue
			}
			last = day
			days++
			keep(s, fmt.Sprintf("keep-daily %s (%d of %d)", day, days, p.KeepDaily))
		}
	}
	// A kept incremental keeps its parent, and so on to the full.
	hasKeptChild := map[string]bool{}
	for len(work) > 0 {
		s := work[0]
		work = work[1:]
		if !s.Incremental() {
			continue
		}
		parent := byID[s.Parent]
		if parent == nil {
			continue // a broken chain: nothing to keep
		}
		hasKeptChild[parent.ID] = true
		keep(parent, "parent of kept snapshot "+s.ID)
	}

	var groups []*ForgetGroup
	for _, src := range sources {
		g := &ForgetGroup{Source: src}
		list := bySource[src]
		for i := len(list) - 1; i >= 0; i-- {
			s := list[i]
			if r := reasons[s.ID]; r != nil {
				g.Keep = append(g.Keep, Decision{Snapshot: s, Reasons: r})
				if !hasKeptChild[s.ID] {
					g.Tips = append(g.Tips, s)
					if g.FloorLSN == 0 || s.CheckpointLSN < g.FloorLSN {
						g.FloorLSN = s.CheckpointLSN
					}
				}
			} else {
				g.Remove = append(g.Remove, Decision{Snapshot: s, Reasons: []string{"kept by no rule of the policy, needed by no kept snapshot"}})
			}
		}
		groups = append(groups, g)
	}
	return groups
}

// RemoveSnapshots deletes the metadata of the snapshots ids, in the order given (newest first,
// so that an interruption never leaves an incremental whose parent is gone). Their data stays
// until Prune.
func (l *Local) RemoveSnapshots(ctx context.Context, ids []string) error {
	dir := filepath.Join(l.dir, snapshotsDir)
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !validID(id) {
			return fmt.Errorf("%q is not a snapshot id", id)
		}
		if err := os.Remove(l.snapshotPath(id)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("removing snapshot %s: %w", id, err)
		}
		if err := syncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// CheckKeepsChains checks a forget plan against snaps: every snapshot a kept snapshot's chain
// needs is kept. PlanForget guarantees it when every chain resolves (VerifySnapshots); this is
// the last look before anything is deleted.
func CheckKeepsChains(snaps []*Snapshot, groups []*ForgetGroup, location string) error {
	removed := map[string]bool{}
	for _, g := range groups {
		for _, d := range g.Remove {
			removed[d.Snapshot.ID] = true
		}
	}
	for _, g := range groups {
		for _, d := range g.Keep {
			chain, err := ResolveChain(snaps, d.Snapshot, location)
			if err != nil {
				return fmt.Errorf("nothing was forgotten: kept snapshot %s: %w", d.Snapshot.ID, err)
			}
			for _, p := range chain[1:] {
				if removed[p.ID] {
					return fmt.Errorf("nothing was forgotten: the plan removes snapshot %s, which kept snapshot %s builds on", p.ID, d.Snapshot.ID)
				}
			}
		}
	}
	return nil
}
