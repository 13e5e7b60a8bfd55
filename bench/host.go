package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hostCLI drives bin/host-example through its command line only, so that changes to the
// host's internals do not break the benchmark.
type hostCLI struct {
	bin    string
	plugin string // the plugin binary's command name, as /proc/<pid>/comm shows it
	logDir string
	n      int
	// lastLog is the log file of the last command run.
	lastLog string
	// wrap, when set, runs host-example under this command (perf record … --).
	wrap []string
}

// hostRun is what one host-example command cost.
type hostRun struct {
	Start, End time.Time
	Wall       time.Duration
	Out        []byte
	// Plugin: the plugin process's own counters, sampled while it ran.
	Plugin procStats
	// Total: host-example and the plugin together (their counters once both were reaped).
	TotalIO  ioCounters
	TotalCPU time.Duration
	// MaxRSS is host-example's peak RSS (VmHWM, sampled while it ran; not ru_maxrss, which on
	// Linux also counts this program's RSS at the fork before the exec).
	MaxRSS uint64
	// Exit is the exit status (2: usage error, e.g. an unknown command or flag).
	Exit int
}

// run runs host-example with args; its stderr goes to a log file.
func (h *hostCLI) run(ctx context.Context, args ...string) (*hostRun, error) {
	h.n++
	logPath := filepath.Join(h.logDir, fmt.Sprintf("%03d-host-%s.log", h.n, args[0]))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	h.lastLog = logPath
	fmt.Fprintf(logf, "$ host-example %s\n", strings.Join(args, " "))
	argv := append(append(append([]string(nil), h.wrap...), h.bin), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, logf
	before := selfIO()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := watchChild(cmd.Process.Pid, h.plugin, 5*time.Millisecond)
	hwm := watchHWM(cmd.Process.Pid, 5*time.Millisecond)
	err = cmd.Wait()
	r := &hostRun{Start: t0, End: time.Now(), Wall: time.Since(t0), MaxRSS: hwm(), Out: out.Bytes(), Plugin: w.Stop(), TotalIO: selfIO().sub(before)}
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			r.TotalCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		r.Exit = ps.ExitCode()
	}
	if err != nil {
		return r, fmt.Errorf("host-example %s: %w (log: %s)\n%s", strings.Join(args, " "), err, logPath, tailFile(logPath, 15))
	}
	return r, nil
}

func tailFile(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// snapshot is a snapshot's metadata as `host-example snapshots --json` (and `backup --json`)
// print it, kept as a generic object: only documented fields are read, and fields the host
// adds or lacks do not break the benchmark.
type snapshot map[string]any

func (s snapshot) str(k string) string {
	v, _ := s[k].(string)
	return v
}

// num returns a numeric field, and whether it was present.
func (s snapshot) num(k string) (uint64, bool) {
	switch v := s[k].(type) {
	case float64:
		return uint64(v), true
	case json.Number:
		n, err := v.Int64()
		return uint64(n), err == nil
	case string: // LSNs may be printed as strings
		var n uint64
		_, err := fmt.Sscan(v, &n)
		return n, err == nil
	}
	return 0, false
}

func (s snapshot) u(k string) uint64 { v, _ := s.num(k); return v }

// addedBytes is what the snapshot added to the repository, as the host reports it
// (added_bytes, or stored_bytes before content-addressed packs), or -1.
func (s snapshot) addedBytes() int64 {
	for _, k := range []string{"added_bytes", "stored_bytes"} {
		if v, ok := s.num(k); ok {
			return int64(v)
		}
	}
	return -1
}

func (h *hostCLI) snapshots(ctx context.Context, repo string) ([]snapshot, error) {
	r, err := h.run(ctx, "snapshots", "-r", repo, "--json")
	if err != nil {
		return nil, err
	}
	var out []snapshot
	if err := json.Unmarshal(r.Out, &out); err != nil {
		return nil, fmt.Errorf("snapshots --json: %w", err)
	}
	return out, nil
}

// backup runs one backup and returns its cost and the new snapshot's metadata: from the
// output of backup --json when it parses as one object, else the newest entry of snapshots
// --json.
func (h *hostCLI) backup(ctx context.Context, config string, full bool, extra ...string) (*hostRun, snapshot, error) {
	args := append([]string{"backup", "-c", config, "--json"}, extra...)
	if full {
		args = append(args, "--full")
	}
	r, err := h.run(ctx, args...)
	if err != nil {
		return r, nil, err
	}
	var snap snapshot
	if json.Unmarshal(r.Out, &snap) == nil && snap.str("id") != "" {
		return r, snap, nil
	}
	cfgRepo := repoOfConfig(config)
	snaps, err := h.snapshots(ctx, cfgRepo)
	if err != nil {
		return r, nil, err
	}
	if len(snaps) == 0 {
		return r, nil, fmt.Errorf("the repository lists no snapshot after a backup")
	}
	return r, snaps[len(snaps)-1], nil
}

// configRepos remembers the repository of each configuration the benchmark wrote.
var configRepos = map[string]string{}

func repoOfConfig(config string) string { return configRepos[config] }

// writeConfig writes a host configuration for the source server into dir/name.hcl.
func writeConfig(dir, name, repo, pluginPath string, s *server, extra string) (string, error) {
	hcl := fmt.Sprintf(`repository = %q

plugin "mysql" {
  path = %q
}

source "mysql" "bench" {
  dsn     = "%s:${env("BENCH_MYSQL_PASSWORD")}@tcp(127.0.0.1:%d)/"
  datadir = %q
%s}
`, repo, pluginPath, backupUser, s.port, s.datadir, extra)
	path := filepath.Join(dir, name+".hcl")
	if err := os.WriteFile(path, []byte(hcl), 0o600); err != nil {
		return "", err
	}
	configRepos[path] = repo
	return path, nil
}

// watchHWM samples VmHWM of a process until the returned function is called (after the process
// was waited for), and returns the last value read: the peak resident set of the process.
func watchHWM(pid int, every time.Duration) func() uint64 {
	p := strconv.Itoa(pid)
	stop, done := make(chan struct{}), make(chan struct{})
	var last uint64
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if v := peakRSS(p); v > 0 {
				last = v
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(stop); <-done; return last }
}
