package cli_test

import (
	"bytes"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// datadirModel is an in-memory datadir the fake source backs up: files of pages whose content
// encodes (path, space id, page, version), version 0 being a page of zeros. A full backup
// sends every page of every file; an incremental sends, for a file the base has with the same
// path and space id (Incremental=true), the pages whose version changed and the non-zero pages
// beyond the base's size, and every page of any other file (Incremental=false).
type datadirModel struct {
	mu    sync.Mutex
	files []*modelFile
	lsn   uint64 // checkpoint of the next backup
	taken map[string]*modelState
	// history holds every backup taken, oldest first.
	history []*modelState

	// Knobs for the next backups.
	maxBatch   int    // pages per PageBatch
	method     string // an incremental's method; "" is page-tracking
	reason     string // its fallback reason
	baseLSNOff uint64 // added to the trailer's BaseCheckpointLSN
	sendKind   string // overrides the trailer's Kind
	lie        string // a path sent as incremental although the base lacks it
}

type modelFile struct {
	path     string
	space    uint32
	pageSize uint32
	zip      bool
	growLate bool     // the file grows by two pages while it is copied
	versions []uint32 // per page; 0 is a page of zeros
}

// modelState is the datadir as one backup saw it, and what that backup sent.
type modelState struct {
	token      string
	checkpoint uint64
	files      []modelFileState
	stream     []*shared.Record
}

type modelFileState struct {
	path        string
	space       uint32
	pageSize    uint32
	zip         bool
	versions    []uint32
	incremental bool
	sent        map[uint32]bool
}

func newModel() *datadirModel {
	return &datadirModel{lsn: 1_000_000, taken: map[string]*modelState{}, maxBatch: 4}
}

func (m *datadirModel) file(path string) *modelFile {
	for _, f := range m.files {
		if f.path == path {
			return f
		}
	}
	panic("model: no file " + path)
}

// add creates a file of n pages, every page at version v.
func (m *datadirModel) add(path string, space, pageSize uint32, n int, v uint32) *modelFile {
	f := &modelFile{path: path, space: space, pageSize: pageSize, versions: make([]uint32, n)}
	for i := range f.versions {
		f.versions[i] = v
	}
	m.files = append(m.files, f)
	return f
}

func (m *datadirModel) drop(path string) {
	for i, f := range m.files {
		if f.path == path {
			m.files = append(m.files[:i], m.files[i+1:]...)
			return
		}
	}
	panic("model: no file " + path)
}

// write sets pages of path to version v.
func (m *datadirModel) write(path string, v uint32, pages ...int) {
	f := m.file(path)
	for _, p := range pages {
		f.versions[p] = v
	}
}

// resize changes path's size to n pages; new pages are zeros.
func (m *datadirModel) resize(path string, n int) {
	f := m.file(path)
	for len(f.versions) < n {
		f.versions = append(f.versions, 0)
	}
	f.versions = f.versions[:n]
}

// pageContent is a page that passes the fake's page check: its content names the file,
// space, page and version; version 0 is a page of zeros.
func pageContent(path string, space, page, version, size uint32, zip bool) []byte {
	if version == 0 {
		return make([]byte, size)
	}
	unit := []byte(fmt.Sprintf("%s#%d p%d v%d|", path, space, page, version))
	return bytes.Repeat(unit, int(size)/len(unit)+1)[:size]
}

func (s *modelState) lookup(path string) *modelFileState {
	for i := range s.files {
		if s.files[i].path == path {
			return &s.files[i]
		}
	}
	return nil
}

// backup produces the stream of a backup, full when base is nil.
func (m *datadirModel) backup(base *shared.BaseSnapshot) ([]*shared.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var bs *modelState
	if base != nil {
		bs = m.taken[string(base.State)]
		if bs == nil {
			return nil, shared.InvalidConfig(fmt.Sprintf("fake: unknown base state %q", base.State))
		}
	}
	checkpoint := m.lsn
	m.lsn += 10_000
	st := &modelState{token: fmt.Sprintf("state@%d", checkpoint), checkpoint: checkpoint}
	recs := []*shared.Record{{Header: &shared.Header{
		StreamFormat: shared.StreamFormat, ServerVersion: "8.4.3", ServerUUID: "3e11fa47-71ca-11e1-9e33-c80aa9429562",
		PageSize: 4096, CheckpointLSN: checkpoint, StartedAt: time.Unix(int64(checkpoint), 0).UTC(), BinlogBasename: "binlog",
	}}}
	type job struct {
		index uint32
		f     *modelFile
		pages []uint32
		ts    *shared.Tablespace // sent before the pages (late jobs only)
	}
	var jobs, late []job
	var pages, pageBytes uint64
	for i, f := range m.files {
		fs := modelFileState{path: f.path, space: f.space, pageSize: f.pageSize, zip: f.zip, versions: append([]uint32(nil), f.versions...), sent: map[uint32]bool{}}
		var b *modelFileState
		if bs != nil {
			if b = bs.lookup(f.path); b != nil && b.space != f.space {
				b = nil
			}
		}
		fs.incremental = b != nil
		if bs != nil && f.path == m.lie {
			fs.incremental = true
		}
		var send []uint32
		for p, v := range f.versions {
			switch {
			case b == nil:
				send = append(send, uint32(p))
			case p < len(b.versions) && v != b.versions[p]:
				send = append(send, uint32(p))
			case p >= len(b.versions): // a source sends every page a file gained (shared/chain)
				send = append(send, uint32(p))
			}
		}
		for _, p := range send {
			fs.sent[p] = true
		}
		st.files = append(st.files, fs)
		ts := &shared.Tablespace{FileIndex: uint32(i), Path: f.path, SpaceID: f.space, Flags: uint32(i) * 3, PageSize: f.pageSize, SizePages: uint64(len(f.versions)), Incremental: fs.incremental}
		if f.zip {
			ts.ZipSize = f.pageSize
		}
		j := job{index: uint32(i), f: f, pages: send}
		if f.growLate && len(f.versions) > 2 {
			// The file had two pages fewer when it was listed; its tail comes at the end.
			first := *ts
			first.SizePages -= 2
			recs = append(recs, &shared.Record{Tablespace: &first})
			cut := sort.Search(len(send), func(k int) bool { return send[k] >= uint32(first.SizePages) })
			j.pages = send[:cut]
			late = append(late, job{index: uint32(i), f: f, pages: send[cut:], ts: ts})
		} else {
			recs = append(recs, &shared.Record{Tablespace: ts})
		}
		jobs = append(jobs, j)
	}
	emit := func(j job) {
		for k := 0; k < len(j.pages); {
			// A run of adjacent pages, at most maxBatch long.
			e := k + 1
			for e < len(j.pages) && j.pages[e] == j.pages[e-1]+1 && e-k < m.maxBatch {
				e++
			}
			var data []byte
			for _, p := range j.pages[k:e] {
				data = append(data, pageContent(j.f.path, j.f.space, p, j.f.versions[p], j.f.pageSize, j.f.zip)...)
			}
			recs = append(recs, &shared.Record{Pages: &shared.PageBatch{FileIndex: j.index, FirstPage: uint64(j.pages[k]), Data: data}})
			pages += uint64(e - k)
			pageBytes += uint64(len(data))
			k = e
		}
	}
	for _, j := range jobs {
		emit(j)
	}
	for _, j := range late {
		recs = append(recs, &shared.Record{Tablespace: j.ts})
		emit(j)
	}
	tag := fmt.Sprintf("backup@%d", checkpoint)
	recs = append(recs,
		&shared.Record{File: &shared.FileChunk{Path: "mysql/general_log.CSV", Data: []byte(tag)}},
	)
	// Redo from the checkpoint's block to the end of the end point's block, in two segments.
	endLSN := checkpoint + 5000
	redoStart, redoEnd := checkpoint/shared.RedoBlockSize*shared.RedoBlockSize, (endLSN/shared.RedoBlockSize+1)*shared.RedoBlockSize
	recs = append(recs,
		&shared.Record{Redo: &shared.RedoSegment{StartLSN: redoStart, Data: bytes.Repeat([]byte(tag), shared.RedoBlockSize)[:shared.RedoBlockSize]}},
		&shared.Record{Redo: &shared.RedoSegment{StartLSN: redoStart + shared.RedoBlockSize, Data: bytes.Repeat([]byte{byte(checkpoint)}, int(redoEnd-redoStart-shared.RedoBlockSize))}},
		&shared.Record{Binlog: &shared.BinlogChunk{Name: "binlog.000001", Offset: 0, Data: []byte(tag)}},
	)
	d := shared.NewDigester()
	for _, r := range recs {
		d.Add(r)
	}
	t := &shared.Trailer{
		EndLSN: endLSN, CheckpointLSN: checkpoint, MaxPageLSN: checkpoint + 4000,
		BinlogFile: "binlog.000001", BinlogPos: uint64(len(tag)), GTIDExecuted: fmt.Sprintf("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-%d", checkpoint/1000),
		Tablespaces: uint64(len(m.files)), Pages: pages, PageBytes: pageBytes, Files: 1,
		RedoBytes: redoEnd - redoStart, BinlogBytes: uint64(len(tag)),
		Records: d.Records(), Digest: d.Sum(), FinishedAt: time.Unix(int64(checkpoint)+60, 0).UTC(),
		Kind: shared.KindFull, Method: shared.MethodFull, SourceState: []byte(st.token),
		PagesRead: pages, BytesRead: pageBytes, BytesSent: pageBytes,
	}
	if bs != nil {
		t.Kind, t.Method, t.BaseCheckpointLSN = shared.KindIncremental, shared.MethodPageTracking, bs.checkpoint+m.baseLSNOff
		t.PagesInSet = pages
		if m.method != "" {
			t.Method, t.FallbackReason = m.method, m.reason
		}
	}
	if m.sendKind != "" {
		t.Kind = m.sendKind
	}
	recs = append(recs, &shared.Record{Trailer: t})
	st.stream = recs
	m.taken[st.token] = st
	m.history = append(m.history, st)
	return recs, nil
}
