package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/shared"
)

// The host's memory against the number of pages it stores (issue 11: "host memory per TiB of
// source"). A synthetic plugin — this program, started by host-example through go-plugin —
// serves a valid full-backup stream of scaleEnv bytes of 16 KiB pages, each page distinct (its
// number and a hash of it in the first bytes, zeros after: the repository stays small, because
// every page compresses to a few dozen bytes, while the host's index holds one entry per page as
// for real data). The real host stores it into a fresh repository; its peak RSS and wall time
// are measured at several sizes and the per-TiB figure is the slope of a least-squares line.

// scaleEnv makes this binary serve the synthetic scale source; its value is the page bytes.
const scaleEnv = "PAGETRACK_BENCH_SCALE_BYTES"

const (
	scalePageSize  = 16384
	scaleFilePages = 262144 // 4 GiB per synthetic tablespace
	scaleBatch     = 60     // pages per record (960 KiB)
)

// ScalePoint is one size stored by the real host from the synthetic source.
type ScalePoint struct {
	Bytes     int64
	Pages     uint64
	Wall      time.Duration
	HostRSS   uint64 // peak RSS of host-example (VmHWM)
	HostCPU   time.Duration
	RepoBytes int64
	Error     string
}

// ScaleResults is the host-memory measurement.
type ScaleResults struct {
	Points []ScalePoint
	// RSSPerTiB is the slope of peak RSS against page bytes, per TiB, fitted over the sizes but
	// the smallest when there are three or more (the warm-up); RSSBase the intercept.
	RSSPerTiB, RSSBase float64
	// SecondsPerTiB is the slope of the wall time, per TiB.
	SecondsPerTiB float64
	// Skipped are the sizes left out to keep the run short.
	Skipped []string
}

// scaleSizes are the sizes measured: tens of GiB by default, less for a small dataset.
func (c *config) scaleSizes() []int64 {
	if v := os.Getenv("BENCH_SCALE_GIB"); v != "" {
		var out []int64
		for _, f := range splitList(v) {
			if g, err := strconv.ParseFloat(f, 64); err == nil && g > 0 {
				out = append(out, int64(g*(1<<30)))
			}
		}
		return out
	}
	if c.sizeMB < 1024 {
		return []int64{256 << 20, 1 << 30, 2 << 30}
	}
	return []int64{2 << 30, 6 << 30, 16 << 30}
}

// scale stores the synthetic source at each size into a fresh repository.
func (b *bench) scale(ctx context.Context) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	sc := &b.res.Scale
	budget := time.Duration(atoiOr(os.Getenv("BENCH_SCALE_BUDGET"), 90)) * time.Second
	for _, size := range b.cfg.scaleSizes() {
		if n := len(sc.Points); n >= 2 && sc.Points[n-1].Wall > 0 { // two sizes at least, for the slope
			last := sc.Points[n-1]
			if guess := time.Duration(float64(last.Wall) * float64(size) / float64(last.Bytes)); guess > budget {
				sc.Skipped = append(sc.Skipped, fmt.Sprintf("%s (would take about %s at the last size's rate; BENCH_SCALE_BUDGET is %s)", human(uint64(size)), secs(guess), budget))
				say("synthetic source, %s: skipped, it would take about %s", human(uint64(size)), secs(guess))
				continue
			}
		}
		repo := filepath.Join(b.cfg.work, "repo-scale")
		if _, err := b.host.run(ctx, "init", "-r", repo); err != nil {
			return err
		}
		conf := filepath.Join(b.cfg.work, "scale.hcl")
		hcl := fmt.Sprintf("repository = %q\n\nplugin \"mysql\" {\n  path = %q\n}\n\nsource \"mysql\" \"synthetic\" {\n}\n", repo, self)
		if err := os.WriteFile(conf, []byte(hcl), 0o600); err != nil {
			return err
		}
		configRepos[conf] = repo
		os.Setenv(scaleEnv, strconv.FormatInt(size, 10))
		h := *b.host
		h.plugin = filepath.Base(self)
		r, _, err := h.backup(ctx, conf, true)
		b.host.n = h.n
		os.Unsetenv(scaleEnv)
		p := ScalePoint{Bytes: size, Pages: uint64(size / scalePageSize), RepoBytes: dirSize(repo)}
		if r != nil {
			p.Wall, p.HostRSS, p.HostCPU = r.Wall, r.MaxRSS, r.TotalCPU
		}
		if err != nil {
			p.Error = err.Error()
			warn("scale %s: %v", human(uint64(size)), err)
		}
		sc.Points = append(sc.Points, p)
		say("synthetic source, %s (%d pages) stored by host-example: %s, host peak RSS %s, repository %s",
			human(uint64(size)), p.Pages, secs(p.Wall), human(p.HostRSS), human(uint64(p.RepoBytes)))
		if err := os.RemoveAll(repo); err != nil {
			return err
		}
		if err != nil {
			break
		}
	}
	var xs, rss, wall []float64
	ok := sc.Points
	if len(ok) >= 3 { // the smallest size is the warm-up: the host's buffers and pipeline fill
		ok = ok[1:]
	}
	for _, p := range ok {
		if p.Error == "" {
			xs = append(xs, float64(p.Bytes)/(1<<40))
			rss = append(rss, float64(p.HostRSS))
			wall = append(wall, p.Wall.Seconds())
		}
	}
	if len(xs) >= 2 {
		sc.RSSPerTiB, sc.RSSBase = fitLine(xs, rss)
		sc.SecondsPerTiB, _ = fitLine(xs, wall)
	}
	return nil
}

// fitLine is the least-squares line y = slope·x + intercept.
func fitLine(xs, ys []float64) (slope, intercept float64) {
	var sx, sy, sxx, sxy float64
	n := float64(len(xs))
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return math.NaN(), math.NaN()
	}
	slope = (n*sxy - sx*sy) / d
	return slope, (sy - slope*sx) / n
}

// scaleSource serves a full backup of distinct synthetic pages: a valid stream by every rule of
// the stream kernel (header, tablespaces, pages, a redo block covering the end LSN, a binlog
// chunk, a trailer with the counts and the digest).
type scaleSource struct {
	synthSource
	bytes int64
}

func (s scaleSource) Backup(ctx context.Context, _ *shared.BackupRequest) (shared.RecordStream, error) {
	const checkpoint = 1_000_300
	at := time.Now().UTC()
	pages := uint64(s.bytes / scalePageSize)
	files := (pages + scaleFilePages - 1) / scaleFilePages
	d := shared.NewDigester()
	var recs []*shared.Record // the records before and after the pages
	recs = append(recs, &shared.Record{Header: &shared.Header{StreamFormat: shared.StreamFormat, ServerVersion: "9.7.4",
		ServerUUID: "6ccd780c-baba-1026-9564-5b8c656024db", PageSize: scalePageSize, CheckpointLSN: checkpoint, StartedAt: at,
		BinlogBasename: "binlog", GTIDMode: "ON", DataFilePath: "ibdata1:12M:autoextend"}})
	file, next, needTablespace := uint64(0), uint64(0), true // the file being sent, its next page
	var sent uint64
	tail := []*shared.Record{
		{Redo: &shared.RedoSegment{StartLSN: 999_936, Data: make([]byte, 2*shared.RedoBlockSize)}},
		{Binlog: &shared.BinlogChunk{Name: "binlog.000001", Offset: 0, Data: []byte("\xfebinsynthetic")}},
	}
	i, ended := 0, false
	return recvFunc(func() (*shared.Record, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var r *shared.Record
		filePages := min(scaleFilePages, pages-file*scaleFilePages)
		switch {
		case i < len(recs):
			r = recs[i]
			i++
		case sent < pages && needTablespace:
			path := fmt.Sprintf("synthetic/t%04d.ibd", file)
			if file == 0 {
				path = "ibdata1"
			}
			r = &shared.Record{Tablespace: &shared.Tablespace{FileIndex: uint32(file), Path: path, SpaceID: uint32(file),
				Flags: 0x4800, PageSize: scalePageSize, SizePages: filePages}}
			needTablespace = false
		case sent < pages:
			n := min(uint64(scaleBatch), filePages-next)
			buf := make([]byte, n*scalePageSize) // a record's bytes are the consumer's (shared.RecordStream)
			for k := uint64(0); k < n; k++ {
				fillScalePage(buf[k*scalePageSize:(k+1)*scalePageSize], sent+k)
			}
			r = &shared.Record{Pages: &shared.PageBatch{FileIndex: uint32(file), FirstPage: next, Data: buf}}
			sent += n
			next += n
			if next == filePages {
				file, next, needTablespace = file+1, 0, true
			}
		case len(tail) > 0:
			r, tail = tail[0], tail[1:]
		case !ended:
			ended = true
			t := &shared.Trailer{EndLSN: 999_936 + 2*shared.RedoBlockSize - 100, CheckpointLSN: checkpoint, MaxPageLSN: checkpoint,
				BinlogFile: "binlog.000001", BinlogPos: 13, GTIDExecuted: "6ccd780c-baba-1026-9564-5b8c656024db:1-42",
				Tablespaces: files, Pages: pages, PageBytes: pages * scalePageSize, RedoBytes: 2 * shared.RedoBlockSize,
				BinlogBytes: 13, Records: d.Records(), Digest: d.Sum(), FinishedAt: time.Now().UTC(),
				Kind: shared.KindFull, Method: shared.MethodFull, PagesRead: pages, BytesRead: pages * scalePageSize,
				BytesSent: pages*scalePageSize + 2*shared.RedoBlockSize + 13, SourceState: []byte(`{"version":1}`)}
			return &shared.Record{Trailer: t}, nil
		default:
			return nil, io.EOF
		}
		d.Add(r)
		return r, nil
	}), nil
}

// fillScalePage writes page n: distinct from every other page, compressible.
func fillScalePage(p []byte, n uint64) {
	clear(p)
	x := n*0x9e3779b97f4a7c15 + 1
	for o := 0; o < 64; o += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(p[o:], x)
	}
	binary.BigEndian.PutUint64(p[64:], n)
}

// serveScale is the scale plugin's main.
func serveScale(bytes int64) {
	shared.Serve(scaleSource{bytes: bytes}, hclog.New(&hclog.LoggerOptions{Name: "synthetic-scale", Output: os.Stderr, JSONFormat: true}))
}
