package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/pagetrack/pagetrack/shared"
)

// synthEnv makes this binary serve the synthetic source as a plugin (see serveSynthetic); its
// value is how much page payload the source sends.
const synthEnv = "PAGETRACK_BENCH_SYNTHETIC_PLUGIN"

// synthBytes is how much page payload the synthetic source sends: 8 GiB, 1 GiB in the
// development mode.
func (c *config) synthBytes() int64 {
	if c.sizeMB < 1024 {
		return 1 << 30
	}
	return 8 << 30
}

// stream measures the plugin → host stream with the pages in the page cache: the plugin's code
// in process (no boundary), the real plugin binary through go-plugin's gRPC with the records
// discarded, a synthetic plugin that only sends (the boundary alone), and the host storing a
// full backup.
func (b *bench) stream(ctx context.Context) error {
	st := &b.res.Stream
	// Warm the page cache with every InnoDB file.
	if _, err := rawRead(b.files, 2); err != nil {
		return err
	}
	prof := filepath.Join(b.cfg.out, "plugin-inprocess.cpu.pprof")
	op, d, err := b.drainInProcess(ctx, "plugin code in process, page cache, records discarded", nil, prof)
	if err != nil {
		return err
	}
	st.InProcess, st.InProcessPagesRate = op, d.pagesRate()
	say("in process, warm: %s = %s overall, page phase %s; CPU profile %s", secs(op.Wall), rate(op.Throughput()), rate(d.pagesRate()), rel(b.cfg.root, prof))
	if top, err := pprofTop(prof, 18); err == nil {
		b.res.Profiles = append(b.res.Profiles, Profile{Title: "plugin code, full backup from the page cache, in process (pprof -top, flat)", Text: top})
	} else {
		warn("pprof: %v", err)
	}

	cfg := shared.Config{"dsn": b.src.backupDSN(), "datadir": b.src.datadir}
	op, d, cpu, err := b.drainPlugin(ctx, exec.Command(b.cfg.pluginBin), cfg)
	if err != nil {
		return err
	}
	op.Name, op.Bytes, op.PluginCPU = "bin/pagetrack-mysql through go-plugin gRPC, page cache, records discarded", b.dataBytes, cpu
	st.GRPC, st.GRPCPagesRate = op, d.pagesRate()
	say("through gRPC, warm: %s = %s overall, page phase %s (plugin CPU %s)", secs(op.Wall), rate(op.Throughput()), rate(d.pagesRate()), secs(cpu))

	self, err := os.Executable()
	if err != nil {
		return err
	}
	synth := exec.Command(self)
	synth.Env = append(os.Environ(), fmt.Sprintf("%s=%d", synthEnv, b.cfg.synthBytes()))
	op, d, cpu, err = b.drainPlugin(ctx, synth, shared.Config{})
	if err != nil {
		return err
	}
	op.Name, op.Bytes, op.PluginCPU = "synthetic plugin: pre-built 960 KiB page records, boundary only", int64(d.pageBytes), cpu
	st.Synthetic = op
	say("synthetic plugin through gRPC: %s in %s = %s", human(d.pageBytes), secs(op.Wall), rate(op.Throughput()))

	// The host storing a warm full backup, under perf when it is installed.
	repo := filepath.Join(b.cfg.work, "repo-warm")
	conf, err := b.newRepo("warm", repo, "")
	if err != nil {
		return err
	}
	perfData := filepath.Join(b.cfg.out, "host-full.perf.data")
	perf, _ := exec.LookPath("perf")
	if perf != "" {
		b.host.wrap = []string{perf, "record", "-F", "499", "-o", perfData, "--"}
	}
	op, err = b.hostBackup(ctx, "full backup through host-example, page cache", conf, true, false)
	b.host.wrap = nil
	if err != nil {
		return err
	}
	st.HostWarm = op
	say("host-example full, warm: %s = %s", secs(op.Wall), rate(op.Throughput()))
	if perf != "" {
		out, err := exec.Command(perf, "report", "-i", perfData, "--stdio", "--no-children", "--sort", "comm,dso,symbol",
			"--percent-limit", "0.1").Output()
		if err != nil {
			warn("perf report: %v", err)
		} else {
			lines := parsePerf(string(out))
			b.res.PerfShares = perfShares(lines)
			var text strings.Builder
			fmt.Fprintf(&text, "share of samples by process: host-example %.1f %%, pagetrack-mysql %.1f %%\n\n", b.res.PerfShares["host-example"], b.res.PerfShares["pagetrack-mysql"])
			for i, l := range lines {
				if i == 25 {
					break
				}
				fmt.Fprintf(&text, "%6.2f%%  %-16s %s\n", l.pct, l.comm, l.symbol)
			}
			b.res.Profiles = append(b.res.Profiles, Profile{Title: "host-example and the plugin process storing a full backup from the page cache (perf record -F 499; the top 25 functions)",
				Text: strings.TrimRight(text.String(), "\n")})
		}
	}
	return os.RemoveAll(repo)
}

// drainPlugin launches a plugin binary through go-plugin, takes a full backup through it and
// discards the records; it also returns the plugin process's CPU time during the backup.
func (b *bench) drainPlugin(ctx context.Context, cmd *exec.Cmd, cfg shared.Config) (Op, *drainResult, time.Duration, error) {
	logf, err := os.Create(filepath.Join(b.cfg.logs, fmt.Sprintf("plugin-%d.log", time.Now().UnixNano())))
	if err != nil {
		return Op{}, nil, 0, err
	}
	defer logf.Close()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.ClientPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  shared.GRPCDialOptions(),
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "bench", Output: logf, Level: hclog.Info}),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		return Op{}, nil, 0, err
	}
	raw, err := rpc.Dispense(shared.PluginName)
	if err != nil {
		return Op{}, nil, 0, err
	}
	src := raw.(shared.Source)
	pid := ""
	if rc := client.ReattachConfig(); rc != nil && rc.Pid != 0 {
		pid = strconv.Itoa(rc.Pid)
	}
	cpu0, _ := cpuTime(pid)
	io0, _ := readIO(pid)
	self0 := selfCPU()
	t0 := time.Now()
	stream, err := src.Backup(ctx, &shared.BackupRequest{Config: cfg})
	if err != nil {
		return Op{}, nil, 0, err
	}
	d, err := drain(stream, t0)
	wall := time.Since(t0)
	if err != nil {
		return Op{}, d, 0, err
	}
	cpu1, _ := cpuTime(pid)
	io1, _ := readIO(pid)
	receiver := selfCPU() - self0
	t := d.trailer
	return Op{Wall: wall, PhysRead: io1.sub(io0).ReadBytes, LogicalRead: t.BytesRead, PagesRead: t.PagesRead, Pages: t.Pages,
		BytesSent: t.BytesSent, Kind: t.Kind, Method: t.Method, Added: -1, TotalCPU: cpu1 - cpu0 + receiver}, d, cpu1 - cpu0, nil
}

// synthSource is a Source whose backup sends bytes of page records built once: what the
// boundary costs when the plugin does nothing else.
type synthSource struct{ bytes int64 }

func (synthSource) Schema(context.Context) (*shared.Schema, error)      { return &shared.Schema{}, nil }
func (synthSource) ValidateConfig(context.Context, shared.Config) error { return nil }
func (synthSource) Purge(context.Context, *shared.PurgeRequest) (*shared.PurgeResult, error) {
	return &shared.PurgeResult{}, nil
}
func (synthSource) Restore(context.Context, *shared.RestoreRequest, shared.RecordStream) (*shared.RestoreResult, error) {
	return nil, fmt.Errorf("not supported")
}

func (s synthSource) Backup(ctx context.Context, _ *shared.BackupRequest) (shared.RecordStream, error) {
	const pageSize = 16384
	data := make([]byte, shared.MaxPayloadBytes/pageSize*pageSize)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	n := int(s.bytes) / len(data)
	i := -2
	return recvFunc(func() (*shared.Record, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		i++
		switch {
		case i == -1:
			return &shared.Record{Header: &shared.Header{StreamFormat: shared.StreamFormat, PageSize: pageSize}}, nil
		case i == 0:
			return &shared.Record{Tablespace: &shared.Tablespace{Path: "synthetic.ibd", PageSize: pageSize, SizePages: uint64(n * len(data) / pageSize)}}, nil
		case i <= n:
			return &shared.Record{Pages: &shared.PageBatch{FirstPage: uint64((i - 1) * len(data) / pageSize), Data: data}}, nil
		case i == n+1:
			return &shared.Record{Trailer: &shared.Trailer{Kind: shared.KindFull, Method: shared.MethodFull, BytesSent: uint64(n * len(data))}}, nil
		}
		return nil, io.EOF
	}), nil
}

type recvFunc func() (*shared.Record, error)

func (f recvFunc) Recv() (*shared.Record, error) { return f() }

// serveSynthetic is the synthetic plugin's main.
func serveSynthetic(bytes int64) {
	if bytes <= 0 {
		bytes = 8 << 30
	}
	shared.Serve(synthSource{bytes: bytes}, hclog.New(&hclog.LoggerOptions{Name: "synthetic", Output: os.Stderr, JSONFormat: true}))
}

func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// pprofTop runs go tool pprof -top on a profile and keeps the table.
func pprofTop(path string, n int) (string, error) {
	out, err := exec.Command("go", "tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", n), path).Output()
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "Showing nodes") {
			return strings.Join(lines[i:], "\n"), nil
		}
	}
	return strings.Join(lines, "\n"), nil
}
