package mysqlsrc

import (
	"context"
	"testing"
	"time"
)

// TestReadLimiterSchedule: every byte granted is scheduled at the configured rate (beyond a
// short burst), whether or not the caller waits: 10 MiB at 1 MiB/s end ≥ 9.9 s from now.
// No wall time is measured; the schedule is.
func TestReadLimiterSchedule(t *testing.T) {
	l := newReadLimiter(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // wait returns at once; the reservation stands
	start := time.Now()
	for range 10 {
		if err := l.wait(ctx, 1<<20); err == nil {
			t.Fatal("a reservation 1 s ahead did not wait")
		}
	}
	if got := l.next.Sub(start); got < 10*time.Second-readBurst {
		t.Fatalf("10 MiB at 1 MiB/s are scheduled over %v, want ≥ %v", got, 10*time.Second-readBurst)
	}
	if l.granted.Load() != 10<<20 {
		t.Fatalf("granted %d bytes, want %d", l.granted.Load(), 10<<20)
	}
	var unlimited *readLimiter
	if err := unlimited.wait(ctx, 1<<30); err != nil || newReadLimiter(0) != nil {
		t.Fatalf("no max_read_rate must mean no limiter: %v", err)
	}
}

// TestGroupRanges: consecutive small ranges of one file join up to one record's pages;
// record-sized ranges and other files' ranges stay apart.
func TestGroupRanges(t *testing.T) {
	a := &tablespaceFile{rel: "a", pageSize: 16384}
	b := &tablespaceFile{rel: "b", pageSize: 16384}
	per := batchPages(16384)
	var ranges []pageRange
	for i := range per + 3 { // one more single page than fits a record
		ranges = append(ranges, pageRange{file: a, first: 2 * i, count: 1})
	}
	ranges = append(ranges, pageRange{file: b, first: 0, count: 1}, pageRange{file: b, first: 10, count: per})
	groups := groupRanges(ranges)
	var sizes []int
	for _, g := range groups {
		sizes = append(sizes, len(g))
	}
	want := []int{int(per), 3, 1, 1}
	if len(sizes) != len(want) {
		t.Fatalf("groups of %v ranges, want %v", sizes, want)
	}
	for i := range want {
		if sizes[i] != want[i] {
			t.Fatalf("groups of %v ranges, want %v", sizes, want)
		}
	}
	if groups[2][0].file != b || groups[1][2].first != 2*(per+2) {
		t.Fatalf("groups out of order: %+v", groups)
	}
}
