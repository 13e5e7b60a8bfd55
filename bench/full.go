package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/shared"
)

// setup starts the source server, loads the data and creates the two repositories.
func (b *bench) setup(ctx context.Context) error {
	datadir := filepath.Join(b.cfg.work, "source", "data")
	s, _, err := startServer(ctx, b.bin, datadir, serverArgs(b.cfg.bufferPool), true)
	if err != nil {
		return err
	}
	b.src = s
	if err := s.prepareSource(ctx); err != nil {
		return err
	}
	b.res.Machine.MySQL = s.version(ctx)
	say("server %s on 127.0.0.1:%d (buffer pool %s); loading about %d MiB of data", b.res.Machine.MySQL, s.port, b.cfg.bufferPool, b.cfg.sizeMB)
	t0 := time.Now()
	if err := loadData(ctx, s, int64(b.cfg.sizeMB)<<20); err != nil {
		return err
	}
	if _, err := s.checkpoint(ctx); err != nil {
		return err
	}
	b.res.Dataset.LoadTime = time.Since(t0)
	if b.tables, err = bulkTables(ctx, s); err != nil {
		return err
	}
	if err := b.refreshFiles(); err != nil {
		return err
	}
	for _, t := range b.tables {
		b.res.Dataset.BulkRows += t.rows
		b.res.Dataset.LeafPages += t.leafPages
	}
	say("data: %d InnoDB files, %s (%d pages of 16 KiB), loaded in %s", len(b.files), human(uint64(b.dataBytes)),
		b.res.Dataset.Pages, b.res.Dataset.LoadTime.Round(time.Second))
	if err := b.binlogCost(ctx); err != nil {
		return err
	}

	b.r1, b.r2, b.r3 = filepath.Join(b.cfg.work, "repo-tracking"), filepath.Join(b.cfg.work, "repo-scan"), filepath.Join(b.cfg.work, "repo-fulls")
	if b.c1, err = b.newRepo("tracking", b.r1, ""); err != nil {
		return err
	}
	if b.c2, err = b.newRepo("scan", b.r2, ""); err != nil {
		return err
	}
	if b.c3, err = b.newRepo("fulls", b.r3, ""); err != nil {
		return err
	}
	return nil
}

func (b *bench) refreshFiles() error {
	files, total, err := innodbFiles(b.src.datadir)
	if err != nil {
		return err
	}
	b.files, b.dataBytes = files, total
	b.res.Dataset.Files, b.res.Dataset.Bytes, b.res.Dataset.Pages = len(files), total, uint64(total/16384)
	return nil
}

// binlogCost measures what the binary log adds to an incremental: one whose base ended in the
// same binlog file sends only what was written since, else the current file from its start.
// An incremental with nothing changed is measured (in process) with the load's binlog current,
// and again after FLUSH BINARY LOGS (a new file: sent from its start), which the rest of the
// benchmark runs after.
func (b *bench) binlogCost(ctx context.Context) error {
	var name string
	var size int64
	rows, err := b.src.db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return err
	}
	for rows.Next() {
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		vals[0], vals[1] = &name, &size
		for i := 2; i < len(cols); i++ {
			vals[i] = new(any)
		}
		if err := rows.Scan(vals...); err != nil {
			rows.Close()
			return err
		}
	}
	rows.Close()
	b.res.Dataset.BinlogAfterLoad = size
	_, full, err := b.drainInProcess(ctx, "full (base)", nil, "")
	if err != nil {
		return err
	}
	base := full.trailer.SourceState
	b.cold()
	op, _, err := b.drainInProcess(ctx, "incremental, nothing changed, the load's binlog current (in process)", base, "")
	if err != nil {
		return err
	}
	fixed := op
	b.res.FixedBinlog = &fixed
	if err := b.src.exec(ctx, "FLUSH BINARY LOGS"); err != nil {
		return err
	}
	var cur string
	if err := b.src.db.QueryRowContext(ctx, "SELECT JSON_UNQUOTE(JSON_EXTRACT(LOCAL, '$.binary_log_file')) FROM performance_schema.log_status").Scan(&cur); err != nil {
		return err
	}
	if err := b.src.exec(ctx, "PURGE BINARY LOGS TO '"+cur+"'"); err != nil {
		return err
	}
	b.cold()
	op, _, err = b.drainInProcess(ctx, "incremental, nothing changed, after FLUSH BINARY LOGS (in process)", base, "")
	if err != nil {
		return err
	}
	b.res.FixedFlushed = &op
	say("incremental with nothing changed, in process: %s reading %s with the load's %s binlog current; %s reading %s after FLUSH BINARY LOGS",
		secs(b.res.FixedBinlog.Wall), human(b.res.FixedBinlog.PhysRead), human(uint64(size)), secs(op.Wall), human(op.PhysRead))
	return nil
}

// newRepo initialises a repository and writes a configuration for it.
func (b *bench) newRepo(name, repo, extra string) (string, error) {
	if _, err := b.host.run(context.Background(), "init", "-r", repo); err != nil {
		return "", err
	}
	return writeConfig(b.cfg.work, name, repo, b.cfg.pluginBin, b.src, extra)
}

// hostBackup takes a backup through the host, cold, and describes it as an Op.
func (b *bench) hostBackup(ctx context.Context, name, config string, full, cold bool, extra ...string) (Op, error) {
	repo := repoOfConfig(config)
	before := dirSize(repo)
	if cold {
		b.cold()
	}
	r, snap, err := b.host.backup(ctx, config, full, extra...)
	if err != nil {
		return Op{}, err
	}
	op := opFromHost(name, r, snap)
	op.Steps = logSteps(b.host.lastLog, r.Start, r.End)
	op.RepoGrowth = dirSize(repo) - before
	op.Bytes = b.dataBytes
	return op, nil
}

func opFromHost(name string, r *hostRun, s snapshot) Op {
	op := Op{Name: name, Wall: r.Wall, PhysRead: r.Plugin.IO.ReadBytes, TotalPhysRead: r.TotalIO.ReadBytes,
		PluginCPU: r.Plugin.CPU, TotalCPU: r.TotalCPU, PluginRSS: r.Plugin.PeakRSS, Added: -1}
	if s != nil {
		op.LogicalRead, op.PagesRead, op.PagesInSet = s.u("bytes_read"), s.u("pages_read"), s.u("pages_in_set")
		op.Pages, op.BytesSent = s.u("pages"), s.u("bytes_sent")
		op.BinlogBytes, op.RedoBytes, op.BinlogWritten = s.u("binlog_bytes"), s.u("redo_bytes"), s.u("binlog_written")
		op.Added = s.addedBytes()
		op.Kind, op.Method, op.Reason, op.Snapshot = s.str("kind"), s.str("method"), s.str("fallback_reason"), s.str("id")
		if us, ok := s.num("checkpoint_wait_micros"); ok {
			op.CheckpointWait, op.WaitSource = time.Duration(us)*time.Microsecond, "plugin"
		}
		op.PagesBeforeBase, op.PagesBeforeBaseSkipped = s.u("pages_before_base"), s.u("pages_before_base_skipped")
	}
	return op
}

// fullBackups: the plugin's full backup through the host against CLONE LOCAL and a raw
// sequential read of the same files, each from a cold cache.
func (b *bench) fullBackups(ctx context.Context) error {
	f := &b.res.Full
	for i, streams := range []int{1, 2} {
		b.cold()
		before := selfIO()
		t0 := time.Now()
		n, err := rawRead(b.files, streams)
		if err != nil {
			return err
		}
		name := "raw sequential read, 1 stream of 4 MiB reads"
		if streams > 1 {
			name = fmt.Sprintf("raw sequential read, %d streams of 4 MiB reads", streams)
		}
		op := Op{Name: name, Wall: time.Since(t0), Bytes: n,
			PhysRead: selfIO().sub(before).ReadBytes}
		if i == 0 {
			f.Raw1 = op
		} else {
			f.Raw2 = op
		}
		say("raw read, %d streams: %s in %s = %s", streams, human(uint64(n)), secs(op.Wall), rate(op.Throughput()))
	}

	for _, inflight := range []int{1, 2, 8, 32} {
		b.cold()
		before := selfIO()
		const n = 4096
		d, err := randomReads(b.files, n, inflight, uint64(inflight))
		if err != nil {
			return err
		}
		rr := RandomRead{InFlight: inflight, Reads: n, Wall: d, PhysRead: selfIO().sub(before).ReadBytes}
		f.Random = append(f.Random, rr)
		say("random 16 KiB reads, %d in flight: %.0f reads/s (%s per read), read %s from disk for %s",
			inflight, float64(n)/d.Seconds(), rr.PerRead(), human(rr.PhysRead), human(n*16384))
	}

	target := filepath.Join(b.cfg.work, "clone", "data")
	b.cold()
	t0 := time.Now()
	if err := b.src.cloneLocal(ctx, target); err != nil {
		return err
	}
	f.Clone = Op{Name: "CLONE LOCAL DATA DIRECTORY", Wall: time.Since(t0), Bytes: b.dataBytes}
	cloned, _, _ := innodbFiles(target)
	say("CLONE LOCAL: %s in %s = %s (cloned %d InnoDB files)", human(uint64(b.dataBytes)), secs(f.Clone.Wall), rate(f.Clone.Throughput()), len(cloned))
	if err := os.RemoveAll(filepath.Dir(target)); err != nil {
		return err
	}

	var err error
	if f.Host, err = b.hostBackup(ctx, "full backup, plugin → a fresh host repository", b.c1, true, true); err != nil {
		return err
	}
	say("full through host-example into a fresh repository: %s = %s; plugin read %s from disk, sent %s; repository +%s",
		secs(f.Host.Wall), rate(f.Host.Throughput()), human(f.Host.PhysRead), human(f.Host.BytesSent), human(uint64(f.Host.RepoGrowth)))
	b.cold()
	f.InProcess, _, err = b.drainInProcess(ctx, "full backup, plugin code in process, records discarded", nil, "")
	if err != nil {
		return err
	}
	say("plugin alone (in process, records discarded): %s = %s, read %s from disk", secs(f.InProcess.Wall), rate(f.InProcess.Throughput()), human(f.InProcess.PhysRead))
	return nil
}

// drainResult is what draining a stream observed.
type drainResult struct {
	trailer              *shared.Trailer
	pageBytes            uint64
	firstPage, lastPage  time.Time
	records              int
	started, headerAt    time.Time
	payload, otherRecord uint64
}

func (d *drainResult) pagesRate() float64 {
	span := d.lastPage.Sub(d.firstPage).Seconds()
	if span <= 0 {
		return 0
	}
	return float64(d.pageBytes) / span
}

// drain reads a stream to its end, discarding records.
func drain(stream shared.RecordStream, started time.Time) (*drainResult, error) {
	d := &drainResult{started: started}
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return d, err
		}
		d.records++
		switch {
		case r.Header != nil:
			d.headerAt = time.Now()
		case r.Pages != nil:
			now := time.Now()
			if d.firstPage.IsZero() {
				d.firstPage = now
			}
			d.lastPage = now
			d.pageBytes += uint64(len(r.Pages.Data))
		case r.Trailer != nil:
			d.trailer = r.Trailer
		}
	}
	if d.trailer == nil {
		return d, fmt.Errorf("the stream ended without a trailer")
	}
	return d, nil
}

// drainInProcess runs mysqlsrc's backup in this process and discards the records: the plugin's
// own cost, without a process boundary or a host. With profile set it writes a CPU profile.
func (b *bench) drainInProcess(ctx context.Context, name string, base []byte, profile string) (Op, *drainResult, error) {
	src := mysqlsrc.New(hclog.NewNullLogger())
	req := &shared.BackupRequest{Config: shared.Config{"dsn": b.src.backupDSN(), "datadir": b.src.datadir}}
	if base != nil {
		req.Base = &shared.BaseSnapshot{State: base}
	}
	stop := func() {}
	if profile != "" {
		var err error
		if stop, err = startCPUProfile(profile); err != nil {
			return Op{}, nil, err
		}
	}
	before := selfIO()
	t0 := time.Now()
	stream, err := src.Backup(ctx, req)
	if err != nil {
		stop()
		return Op{}, nil, err
	}
	d, err := drain(stream, t0)
	wall := time.Since(t0)
	stop()
	if err != nil {
		return Op{}, d, err
	}
	t := d.trailer
	return Op{Name: name, Wall: wall, Bytes: b.dataBytes, PhysRead: selfIO().sub(before).ReadBytes, LogicalRead: t.BytesRead,
		BinlogBytes: t.BinlogBytes, BinlogWritten: t.BinlogWritten, RedoBytes: t.RedoBytes,
		PagesRead: t.PagesRead, PagesInSet: t.PagesInSet, Pages: t.Pages, BytesSent: t.BytesSent, Kind: t.Kind,
		Method: t.Method, Reason: t.FallbackReason, Added: -1}, d, nil
}
