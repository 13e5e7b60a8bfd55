package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of utime/stime in /proc/<pid>/stat (100 on every Linux
// architecture Go supports).
const clockTick = 10 * time.Millisecond

// ioCounters are the fields of /proc/<pid>/io this benchmark uses. ReadBytes counts bytes the
// process caused to be fetched from the storage layer (page-cache misses, readahead included);
// RChar counts bytes returned by read-like system calls, whether cached or not.
type ioCounters struct {
	RChar, ReadBytes, WriteBytes uint64
}

func readIO(pid string) (ioCounters, error) {
	data, err := os.ReadFile(filepath.Join("/proc", pid, "io"))
	if err != nil {
		return ioCounters{}, err
	}
	var c ioCounters
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		n, _ := strconv.ParseUint(strings.TrimSpace(val), 10, 64)
		switch name {
		case "rchar":
			c.RChar = n
		case "read_bytes":
			c.ReadBytes = n
		case "write_bytes":
			c.WriteBytes = n
		}
	}
	return c, nil
}

func (c ioCounters) sub(o ioCounters) ioCounters {
	return ioCounters{RChar: c.RChar - o.RChar, ReadBytes: c.ReadBytes - o.ReadBytes, WriteBytes: c.WriteBytes - o.WriteBytes}
}

// selfIO reads this process's counters. Once a child has been waited for, its counters (and
// those of the children it waited for) are added to ours: the delta around a child's run is
// what the child and its descendants did.
func selfIO() ioCounters {
	c, _ := readIO("self")
	return c
}

// cpuTime returns utime+stime of a process from /proc/<pid>/stat.
func cpuTime(pid string) (time.Duration, error) {
	data, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after it start after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%s/stat", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%s/stat", pid)
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * clockTick, nil
}

// peakRSS returns VmHWM of a process in bytes.
func peakRSS(pid string) uint64 {
	data, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// childrenOf lists the children of pid (over all of its threads).
func childrenOf(pid int) []int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var out []int
	for _, t := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func comm(pid int) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(data))
}

// procStats is the last sample of a watched process.
type procStats struct {
	Pid     int
	IO      ioCounters
	CPU     time.Duration
	PeakRSS uint64
	Found   bool
}

// childWatch samples a child process (found by its command name among the children of a
// parent) every few milliseconds until stopped, keeping the last values seen. The counters
// only grow, so the last sample before the process exits is within one interval of its total;
// a process that has finished its work and idles until it is killed (a plugin after its stream
// ended) is sampled exactly.
type childWatch struct {
	mu   sync.Mutex
	st   procStats
	stop chan struct{}
	done chan struct{}
}

func watchChild(parent int, name string, every time.Duration) *childWatch {
	w := &childWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(every)
		defer t.Stop()
		pid := 0
		for {
			if pid == 0 {
				for _, c := range childrenOf(parent) {
					if comm(c) == name {
						pid = c
						break
					}
				}
			}
			if pid != 0 {
				p := strconv.Itoa(pid)
				io, err1 := readIO(p)
				cpu, err2 := cpuTime(p)
				rss := peakRSS(p)
				if err1 == nil && err2 == nil {
					w.mu.Lock()
					w.st = procStats{Pid: pid, IO: io, CPU: cpu, PeakRSS: max(rss, w.st.PeakRSS), Found: true}
					w.mu.Unlock()
				}
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *childWatch) Stop() procStats {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st
}

// dropCaches writes back dirty data and drops the page cache, dentries and inodes, so that the
// next run reads from the disk. It needs root; without it the benchmark records that caches
// could not be dropped and continues.
func dropCaches() error {
	syncAll()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0)
}

func syncAll() { syscall.Sync() }

// selfCPU is this process's user and system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
