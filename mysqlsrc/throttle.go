package mysqlsrc

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// readLimiter paces page reads to max_read_rate bytes per second. Only page reads wait on it:
// the redo follower must keep up with the server whatever the rate, so a throttled backup,
// which takes longer, needs redo capacity for the longer copy (see doc.go).
type readLimiter struct {
	rate float64 // bytes per second

	mu   sync.Mutex
	next time.Time // when the bytes granted so far are paid for

	granted atomic.Uint64 // bytes that passed the limiter
	waited  atomic.Int64  // nanoseconds spent waiting
}

// readBurst is how far behind its schedule a limiter lets reads catch up at once.
const readBurst = 50 * time.Millisecond

func newReadLimiter(bytesPerSecond int64) *readLimiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	return &readLimiter{rate: float64(bytesPerSecond)}
}

// wait blocks until n more bytes may be read. A nil limiter never waits.
func (l *readLimiter) wait(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	if earliest := now.Add(-readBurst); l.next.Before(earliest) {
		l.next = earliest
	}
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	d := l.next.Sub(now)
	l.mu.Unlock()
	l.granted.Add(uint64(n))
	if d <= 0 {
		return nil
	}
	l.waited.Add(int64(d))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lowerPriority sets the nice value of every thread of this process (Linux keeps one per
// thread; threads created later inherit their creator's) to nice, when that is lower priority
// than now. It never raises a priority: that needs privileges and would outlive the backup.
func lowerPriority(nice int) error {
	if nice == 0 {
		return nil
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("lowering the plugin's CPU priority (nice %d): %w", nice, err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		// getpriority's raw syscall returns 20-nice.
		cur, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
		if err != nil || 20-cur >= nice {
			continue // gone, or already at least as nice
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && err != unix.ESRCH {
			return fmt.Errorf("lowering the plugin's CPU priority (nice %d): %w", nice, err)
		}
	}
	return nil
}
