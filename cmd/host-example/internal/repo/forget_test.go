package repo

import (
	"reflect"
	"testing"
	"time"
)

func TestPlanForget(t *testing.T) {
	day := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	snap := func(id, source, parent string, hours int, ckpt uint64) *Snapshot {
		s := &Snapshot{ID: id, Source: source, Parent: parent, Time: day.Add(time.Duration(hours) * time.Hour), CheckpointLSN: ckpt, Kind: KindFull}
		if parent != "" {
			s.Kind = KindIncremental
		}
		return s
	}
	snaps := []*Snapshot{
		snap("f0", "a", "", 0, 10),
		snap("i0", "a", "f0", 1, 20),
		snap("f1", "a", "", 24, 30),
		snap("i1", "a", "f1", 25, 40),
		snap("i2", "a", "i1", 48, 50),
		snap("g0", "b", "", 0, 100),
		snap("g1", "b", "", 72, 200),
	}
	ids := func(ds []Decision) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Snapshot.ID)
		}
		return out
	}
	tests := []struct {
		policy               Policy
		keepA, removeA, tips []string
		floorA               uint64
		keepB                []string
	}{
		{Policy{KeepLast: 1}, []string{"i2", "i1", "f1"}, []string{"i0", "f0"}, []string{"i2"}, 50, []string{"g1"}},
		{Policy{KeepLast: 2}, []string{"i2", "i1", "f1"}, []string{"i0", "f0"}, []string{"i2"}, 50, []string{"g1", "g0"}},
		// day 2: i2; day 1: i1 (kept by i2 anyway); day 0: i0 → f0; two chains.
		{Policy{KeepDaily: 3}, []string{"i2", "i1", "f1", "i0", "f0"}, nil, []string{"i2", "i0"}, 20, []string{"g1", "g0"}},
		{Policy{KeepDaily: 1}, []string{"i2", "i1", "f1"}, []string{"i0", "f0"}, []string{"i2"}, 50, []string{"g1"}},
	}
	for _, tt := range tests {
		groups := PlanForget(snaps, tt.policy)
		if len(groups) != 2 || groups[0].Source != "a" || groups[1].Source != "b" {
			t.Fatalf("%v: groups %+v", tt.policy, groups)
		}
		a, b := groups[0], groups[1]
		var tips []string
		for _, s := range a.Tips {
			tips = append(tips, s.ID)
		}
		if !reflect.DeepEqual(ids(a.Keep), tt.keepA) || !reflect.DeepEqual(ids(a.Remove), tt.removeA) || !reflect.DeepEqual(tips, tt.tips) || a.FloorLSN != tt.floorA {
			t.Errorf("%v: keep %v remove %v tips %v floor %d", tt.policy, ids(a.Keep), ids(a.Remove), tips, a.FloorLSN)
		}
		if !reflect.DeepEqual(ids(b.Keep), tt.keepB) {
			t.Errorf("%v: source b keeps %v", tt.policy, ids(b.Keep))
		}
	}
	g := PlanForget(snaps, Policy{KeepLast: 1})[0]
	if !reflect.DeepEqual(g.Keep[0].Reasons, []string{"keep-last (1 of 1)"}) || !reflect.DeepEqual(g.Keep[2].Reasons, []string{"parent of kept snapshot i1"}) {
		t.Errorf("reasons %+v", g.Keep)
	}
}
