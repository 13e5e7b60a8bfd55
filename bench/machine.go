package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Machine describes where the numbers come from.
type Machine struct {
	Date        string `json:"date"`
	CPUs        int    `json:"nproc"`
	CPUModel    string `json:"cpu_model"`
	Virtualized bool   `json:"virtualized"`
	MemTotal    uint64 `json:"mem_total"`
	Disk        string `json:"disk"`
	Filesystem  string `json:"filesystem"`
	Kernel      string `json:"kernel"`
	MySQL       string `json:"mysql"`
	Go          string `json:"go"`
	Root        bool   `json:"root"`
}

func describeMachine(workDir string) Machine {
	m := Machine{
		Date:   time.Now().UTC().Format("2006-01-02 15:04 MST"),
		CPUs:   runtime.NumCPU(),
		Kernel: readTrim("/proc/sys/kernel/osrelease"),
		Go:     runtime.Version(),
		Root:   os.Geteuid() == 0,
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.Go = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	if out, err := exec.Command("nproc").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil {
			m.CPUs = n
		}
	}
	for _, line := range strings.Split(readTrim("/proc/cpuinfo"), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			if m.CPUModel == "" {
				m.CPUModel = strings.TrimSpace(v)
			}
		case "flags":
			if strings.Contains(v, " hypervisor") {
				m.Virtualized = true
			}
		}
	}
	for _, line := range strings.Split(readTrim("/proc/meminfo"), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			m.MemTotal = kb << 10
		}
	}
	m.Disk, m.Filesystem = describeDisk(workDir)
	return m
}

func readTrim(path string) string {
	data, _ := os.ReadFile(path)
	return strings.TrimSpace(string(data))
}

// describeDisk names the block device and file system holding dir, from /proc/self/mountinfo
// and /sys/block.
func describeDisk(dir string) (disk, fs string) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return "unknown", "unknown"
	}
	major, minor := (st.Dev>>8)&0xfff|(st.Dev>>32)&^0xfff, st.Dev&0xff|(st.Dev>>12)&^0xff
	for _, line := range strings.Split(readTrim("/proc/self/mountinfo"), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || f[2] != fmt.Sprintf("%d:%d", major, minor) {
			continue
		}
		for i, x := range f {
			if x == "-" && i+2 < len(f) {
				fs = f[i+1]
				break
			}
		}
		break
	}
	if fs == "" {
		fs = "unknown"
	}
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", major, minor)
	target, err := filepath.EvalSymlinks(sys)
	if err != nil {
		return fmt.Sprintf("device %d:%d", major, minor), fs
	}
	// A partition's directory sits inside its disk's.
	if _, err := os.Stat(filepath.Join(target, "partition")); err == nil {
		target = filepath.Dir(target)
	}
	name := filepath.Base(target)
	q := filepath.Join("/sys/block", name, "queue")
	kind := "reports non-rotational"
	if readTrim(filepath.Join(q, "rotational")) == "1" {
		kind = "reports rotational"
		if strings.HasPrefix(name, "vd") {
			kind += " (the virtio default; the backing store is the hypervisor's)"
		}
	}
	sectors, _ := strconv.ParseUint(readTrim(filepath.Join("/sys/block", name, "size")), 10, 64)
	model := readTrim(filepath.Join("/sys/block", name, "device", "model"))
	if model == "" {
		if strings.HasPrefix(name, "vd") {
			model = "virtio block device"
		} else {
			model = "model unknown"
		}
	}
	sched := readTrim(filepath.Join(q, "scheduler"))
	if i, j := strings.Index(sched, "["), strings.Index(sched, "]"); i >= 0 && j > i {
		sched = sched[i+1 : j]
	}
	return fmt.Sprintf("%s: %s, %s, %s, scheduler %s, read-ahead %s KiB", name, model, kind,
		human(sectors*512), sched, readTrim(filepath.Join(q, "read_ahead_kb"))), fs
}

// loadAvg1 returns the 1-minute load average.
func loadAvg1() float64 {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// LoadStats summarises the 1-minute load average sampled during the run.
type LoadStats struct {
	Start, Mean, Max, End float64
	Samples               int
}

type loadSampler struct {
	mu   sync.Mutex
	vals []float64
	stop chan struct{}
	done chan struct{}
}

func startLoadSampler(every time.Duration) *loadSampler {
	s := &loadSampler{stop: make(chan struct{}), done: make(chan struct{}), vals: []float64{loadAvg1()}}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.mu.Lock()
				s.vals = append(s.vals, loadAvg1())
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// Snapshot returns the statistics so far.
func (s *loadSampler) Snapshot() LoadStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := LoadStats{Start: s.vals[0], Samples: len(s.vals)}
	var sum float64
	for _, v := range s.vals {
		sum += v
		st.Max = max(st.Max, v)
	}
	st.Mean = sum / float64(len(s.vals))
	st.End = s.vals[len(s.vals)-1]
	return st
}

func (s *loadSampler) Stop() LoadStats {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	s.vals = append(s.vals, loadAvg1())
	s.mu.Unlock()
	return s.Snapshot()
}

// waitQuiet polls the 1-minute load average every 30 s until it is below limit or timeout
// has passed; it returns the last value read.
func waitQuiet(limit float64, timeout time.Duration) float64 {
	deadline := time.Now().Add(timeout)
	for {
		v := loadAvg1()
		if v < limit || time.Now().After(deadline) {
			return v
		}
		say("waiting for a quiet machine: 1-minute load average %.2f ≥ %.2f", v, limit)
		time.Sleep(30 * time.Second)
	}
}
