package repo

import (
	"fmt"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// Timeline is what a source's snapshots and archive can restore: a window per snapshot, from
// its consistency point through the gap-free archive after it.
type Timeline struct {
	Source  string   `json:"source"`
	Windows []Window `json:"windows"`
	// Gaps name the transactions no stored archive holds between two archive chains.
	Gaps []string `json:"gaps"`
	// Problems are archive records that do not chain (damage, or a hole in the sequence).
	Problems []string `json:"problems"`
}

// Window is the recoverable range starting at one snapshot.
type Window struct {
	Snapshot     string    `json:"snapshot"`
	SnapshotTime time.Time `json:"snapshot_time"`
	// From is the snapshot's consistency point (its trailer's binlog position and GTID set).
	From WindowPoint `json:"from"`
	// To is the end of the gap-free archive after it (From when there is none).
	To WindowPoint `json:"to"`
	// Records are the first and last archive records of the window (0, 0 for none).
	FirstRecord uint64 `json:"first_record"`
	LastRecord  uint64 `json:"last_record"`
	// Note says why the window ends at its snapshot, when it does.
	Note string `json:"note"`
}

// WindowPoint is a point of a window.
type WindowPoint struct {
	File  string `json:"binlog_file"`
	Pos   uint64 `json:"binlog_pos"`
	GTIDs string `json:"gtids"`
	// Commit is the commit time of the last transaction at the point (zero when unknown: a
	// snapshot's point carries no commit time).
	Commit time.Time `json:"commit"`
}

// covers reports the chain holds every transaction after a snapshot whose GTID set is g:
// it starts at or before g (Base ⊆ g) and g is within it (g ⊆ End).
func (c *ArchiveChain) covers(g shared.GTIDSet) bool {
	base, err1 := shared.ParseGTIDSet(c.Base.GTIDs)
	end, err2 := shared.ParseGTIDSet(c.End.GTIDs)
	return err1 == nil && err2 == nil && g.Contains(base) && end.Contains(g)
}

// BuildTimeline works out source's windows from its verified snapshots (oldest first) and
// its archive chains (ArchiveChains).
func BuildTimeline(source string, snaps []*Snapshot, chains []*ArchiveChain, problems []error) *Timeline {
	t := &Timeline{Source: source, Windows: []Window{}, Gaps: []string{}, Problems: []string{}}
	for _, p := range problems {
		t.Problems = append(t.Problems, p.Error())
	}
	for i := 1; i < len(chains); i++ {
		prev, next := chains[i-1], chains[i]
		a, _ := shared.ParseGTIDSet(prev.End.GTIDs)
		b, _ := shared.ParseGTIDSet(next.Base.GTIDs)
		missing := b.Subtract(a)
		t.Gaps = append(t.Gaps, fmt.Sprintf("between archive records %d (ends %s:%d) and %d (starts %s:%d): %d transaction(s) are in no archive: %s",
			prev.LastSeq(), prev.End.File, prev.End.Pos, next.FirstSeq(), next.Base.File, next.Base.Pos, missing.Count(), missing))
	}
	for _, s := range snaps {
		if s.Source != source {
			continue
		}
		w := Window{Snapshot: s.ID, SnapshotTime: s.Time, From: WindowPoint{File: s.BinlogFile, Pos: s.BinlogPos, GTIDs: s.GTIDExecuted}}
		w.To = w.From
		g, err := shared.ParseGTIDSet(s.GTIDExecuted)
		switch {
		case err != nil:
			w.Note = fmt.Sprintf("its GTID set does not parse (%v): no archive can be placed after it", err)
		case len(chains) == 0:
			w.Note = "no archive is stored for this source"
		default:
			w.Note = "the archive does not cover it: it starts after this snapshot's point (transactions are missing) or ends before it"
			for _, c := range chains {
				if !c.covers(g) {
					continue
				}
				w.Note = ""
				w.To = WindowPoint{File: c.End.File, Pos: c.End.Pos, GTIDs: c.End.GTIDs}
				if c.End.Last != nil {
					w.To.Commit = c.End.Last.Commit
				}
				w.FirstRecord, w.LastRecord = c.firstAfter(g), c.LastSeq()
				break
			}
		}
		t.Windows = append(t.Windows, w)
	}
	return t
}

// firstAfter is the first record holding a transaction not in g (the chain's last when
// none does).
func (c *ArchiveChain) firstAfter(g shared.GTIDSet) uint64 {
	for _, r := range c.Records {
		set, err := shared.ParseGTIDSet(r.GTIDs)
		if err == nil && !g.Contains(set) {
			return r.Seq
		}
	}
	return c.LastSeq()
}

// PlanArchiveForget decides which records of a source's archive chains keep_binlog_within
// lets go: from the oldest, every record whose newest commit (or, without transactions, its
// storing time) is older than now - within, as long as no kept snapshot's window uses it (a
// kept snapshot covered by the chain needs every record holding a transaction after its
// point). Only a prefix of the source's record sequence goes, so what stays has no hole; the last record of
// the newest chain always stays, as the point archiving resumes from.
func PlanArchiveForget(chains []*ArchiveChain, kept []*Snapshot, within time.Duration, now time.Time) []uint64 {
	var out []uint64
	cutoff := now.Add(-within)
	for ci, c := range chains {
		var needs []shared.GTIDSet // GTID sets of the kept snapshots this chain covers
		for _, s := range kept {
			if g, err := shared.ParseGTIDSet(s.GTIDExecuted); err == nil && c.covers(g) {
				needs = append(needs, g)
			}
		}
		cum, err := shared.ParseGTIDSet(c.Base.GTIDs)
		if err != nil {
			return out
		}
		for i, r := range c.Records {
			if ci == len(chains)-1 && i == len(c.Records)-1 {
				return out
			}
			set, err := shared.ParseGTIDSet(r.GTIDs)
			if err != nil {
				return out
			}
			cum = cum.Union(set)
			newest := r.LastCommit
			if r.Transactions == 0 {
				newest = r.StoredAt
			}
			if !newest.Before(cutoff) || !allContain(needs, cum) {
				return out // only a prefix of the whole sequence goes: what stays has no hole
			}
			out = append(out, r.Seq)
		}
	}
	return out
}

func allContain(sets []shared.GTIDSet, s shared.GTIDSet) bool {
	for _, g := range sets {
		if !g.Contains(s) {
			return false
		}
	}
	return true
}
