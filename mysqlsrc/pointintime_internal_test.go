package mysqlsrc

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

func TestResolvePoint(t *testing.T) {
	const u = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	t0 := time.Date(2026, 12, 5, 14, 3, 27, 0, time.UTC)
	us := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Microsecond) }
	// Transactions 11..15 after a base of 1-10; 13 and 14 share a commit time (one group), and
	// 15 commits earlier than 14 (commit times need not be monotonic in log order).
	txns := []archivedTxn{
		{gtid: u + ":11", commit: us(0)}, {gtid: u + ":12", commit: us(10)}, {gtid: u + ":13", commit: us(20)},
		{gtid: u + ":14", commit: us(20)}, {gtid: u + ":15", commit: us(15)},
	}
	base := u + ":1-10"
	for _, c := range []struct {
		name   string
		target shared.PointTarget
		stop   int
		reach  string
		refuse string
	}{
		{"time at the first commit", shared.PointTarget{ToTime: us(0)}, 0, u + ":1-11", ""},
		{"time between commits", shared.PointTarget{ToTime: us(15)}, 1, u + ":1-12", ""},
		{"time at a group's shared commit", shared.PointTarget{ToTime: us(20)}, 4, u + ":1-15", ""},
		{"time before the archive", shared.PointTarget{ToTime: us(-1)}, 0, "", "before the first transaction"},
		{"time after the archive", shared.PointTarget{ToTime: us(21)}, 0, "", "after the last transaction archived"},
		{"GTID set", shared.PointTarget{ToGTIDs: u + ":1-13"}, 2, u + ":1-13", ""},
		{"GTID set of the base only", shared.PointTarget{ToGTIDs: u + ":1-10"}, -1, u + ":1-10", ""},
		{"GTID set with a hole", shared.PointTarget{ToGTIDs: u + ":1-11:14"}, 3, u + ":1-14", ""},
		{"GTID set beyond the archive", shared.PointTarget{ToGTIDs: u + ":1-16"}, 0, "", "does not hold: " + u + ":16"},
		{"before a GTID", shared.PointTarget{BeforeGTID: u + ":13"}, 1, u + ":1-12", ""},
		{"before the first GTID", shared.PointTarget{BeforeGTID: u + ":11"}, -1, u + ":1-10", ""},
		{"before an absent GTID", shared.PointTarget{BeforeGTID: u + ":9"}, 0, "", "is not in the archive chain"},
	} {
		stop, err := resolvePoint(base, txns, c.target)
		if c.refuse != "" {
			if err == nil || !strings.Contains(err.Error(), c.refuse) || !errors.Is(err, shared.ErrPrecondition) {
				t.Errorf("%s: got stop %d, %v; want a refusal saying %q", c.name, stop, err, c.refuse)
			}
			continue
		}
		if err != nil || stop != c.stop {
			t.Errorf("%s: stop %d (%v), want %d", c.name, stop, err, c.stop)
			continue
		}
		if got, _ := reachedAt(base, txns, stop); got != c.reach {
			t.Errorf("%s: reached %s, want %s", c.name, got, c.reach)
		}
	}
}
