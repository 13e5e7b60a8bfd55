package shared_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/internal/streamtest"
	"github.com/pagetrack/pagetrack/shared"
)

func TestCheckStreamAcceptsAGoodStream(t *testing.T) {
	recs := streamtest.Small()
	sum, err := shared.CheckStream(streamtest.Stream(recs))
	if err != nil {
		t.Fatal(err)
	}
	want := shared.StreamCounts{Tablespaces: 2, Pages: 4, PageBytes: 2*4096 + 2*1024, RedoBytes: 1536, BinlogBytes: 157, Files: 2}
	if sum.Counts != want {
		t.Errorf("counts = %+v, want %+v", sum.Counts, want)
	}
	if sum.Kind != shared.KindFull || sum.CheckpointLSN != 1_000_300 || sum.EndLSN != 1_001_060 || sum.BinlogFile != "binlog.000002" || sum.BinlogPos != 157 || sum.Records != 14 {
		t.Errorf("summary = %+v", sum)
	}
}

// TestForgedCorpus runs every forgery through CheckStream: each is refused with the case's
// text, as ErrBadStream (ErrNoTrailer for a stream cut before its trailer).
func TestForgedCorpus(t *testing.T) {
	recs := streamtest.Small()
	if _, no := streamtest.Applicable(recs); len(no) > 0 {
		t.Fatalf("the small stream does not exercise %v", no)
	}
	for _, c := range streamtest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			forged, want, _ := c.Forge(recs)
			_, err := shared.CheckStream(streamtest.Stream(forged))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error = %v, want one containing %q", err, want)
			}
			if !errors.Is(err, shared.ErrBadStream) && !errors.Is(err, shared.ErrNoTrailer) {
				t.Fatalf("error %v is neither ErrBadStream nor ErrNoTrailer", err)
			}
		})
	}
	if _, err := shared.CheckStream(streamtest.Stream(recs)); err != nil {
		t.Fatalf("a forgery modified the original stream: %v", err)
	}
}

// TestCheckerErrorNamesTheRecord: the error says which record broke which rule.
func TestCheckerErrorNamesTheRecord(t *testing.T) {
	c := shared.NewStreamChecker()
	recs := streamtest.Small()
	for _, r := range recs[:4] {
		if err := c.Check(r); err != nil {
			t.Fatal(err)
		}
	}
	err := c.Check(&shared.Record{Pages: &shared.PageBatch{FileIndex: 0, FirstPage: 1, Data: make([]byte, 4096)}})
	const want = "bad stream: record 5 (PageBatch): page batch for ibdata1 holds pages 1..1, beyond the 1 pages its Tablespace declares"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
	var se *shared.StreamError
	if !errors.As(err, &se) || se.Index != 5 || se.Kind != shared.RecordPages {
		t.Fatalf("error = %#v", err)
	}
	if again := c.Check(recs[4]); again != err {
		t.Fatalf("a later record returned %v, not the first error", again)
	}
}

// TestCheckerMemoryIsBoundedByWhatArrived: claims of 2^32-1 pages or 2^43-byte offsets cost
// nothing: the checker keeps state per record that arrived, never per claimed page or byte.
func TestCheckerMemoryIsBoundedByWhatArrived(t *testing.T) {
	recs := streamtest.Small()
	for _, name := range []string{"SizePages=4294967295", "SizePages=2^29", "page batch far beyond what arrived", "file offset 2^43", "binlog offset 2^43"} {
		forged := forge(t, recs, name)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := shared.CheckStream(streamtest.Stream(forged))
		runtime.ReadMemStats(&after)
		if !errors.Is(err, shared.ErrBadStream) {
			t.Fatalf("%s: error = %v", name, err)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("%s: checking allocated %d bytes, want < 1 MiB", name, d)
		}
	}
}

func forge(t *testing.T, recs []*shared.Record, name string) []*shared.Record {
	t.Helper()
	for _, c := range streamtest.Cases() {
		if c.Name == name {
			forged, _, ok := c.Forge(recs)
			if !ok {
				t.Fatalf("case %s does not apply", name)
			}
			return forged
		}
	}
	t.Fatalf("no case %s", name)
	return nil
}

func TestRecordKindAndPayload(t *testing.T) {
	for _, r := range streamtest.Small() {
		k := r.Kind()
		if k == shared.RecordInvalid {
			t.Fatalf("record %+v has no kind", r)
		}
		if enc := shared.AppendRecord(nil, r); shared.RecordKind(enc[0]) != k {
			t.Errorf("%s encodes with kind byte %q", k, enc[0])
		}
		switch k {
		case shared.RecordPages, shared.RecordRedo, shared.RecordBinlog, shared.RecordFile:
			if r.Payload() == nil && k != shared.RecordFile {
				t.Errorf("%s has no payload", k)
			}
		default:
			if r.Payload() != nil {
				t.Errorf("%s has a payload", k)
			}
		}
	}
	two := &shared.Record{Header: &shared.Header{}, Trailer: &shared.Trailer{}}
	if two.Kind() != shared.RecordInvalid || (&shared.Record{}).Kind() != shared.RecordInvalid {
		t.Error("records with two or no fields set have a kind")
	}
}

func TestStreamPaths(t *testing.T) {
	for _, ok := range []string{"ibdata1", "db/t.ibd", "mysql/general_log.CSV", "a..b/c"} {
		if err := shared.CheckStreamPath(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../x", "/etc/x", "a/../../x", "a/./b", "a//b", "a/", `a\b`, "a\x00b"} {
		if err := shared.CheckStreamPath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := shared.TargetPath("/target", "../x"); !errors.Is(err, shared.ErrBadStream) {
		t.Errorf("TargetPath(../x) = %v, want ErrBadStream", err)
	}
	if p, err := shared.TargetPath("/target", "db/t.ibd"); err != nil || p != "/target/db/t.ibd" {
		t.Errorf("TargetPath = %q, %v", p, err)
	}
}

func FuzzTargetPath(f *testing.F) {
	for _, s := range []string{"db/t.ibd", "../x", "a/../../b", "/abs", "a/./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		p, err := shared.TargetPath("/target", rel)
		if err == nil && !strings.HasPrefix(p, "/target/") {
			t.Fatalf("TargetPath(%q) = %q escapes the target", rel, p)
		}
		if err == nil && shared.CheckStreamPath(rel) != nil {
			t.Fatalf("TargetPath accepted %q, which CheckStreamPath refuses", rel)
		}
	})
}

// resealed recomputes the trailer of recs after an edit.
func resealed(recs []*shared.Record) []*shared.Record { return streamtest.Reseal(recs) }

// TestIncrementalFiles: an incremental stream may carry a file's changed pages anywhere
// inside its size, which a store accepts and a restore refuses (it needs the merged chain).
func TestIncrementalFiles(t *testing.T) {
	recs := streamtest.Small()
	z := *recs[3].Tablespace
	z.Incremental, z.SizePages = true, 1<<20
	batch := *recs[4].Pages
	batch.FirstPage = 1<<20 - 2
	tr := *recs[len(recs)-1].Trailer
	tr.Kind = shared.KindIncremental
	recs[3], recs[4], recs[len(recs)-1] = &shared.Record{Tablespace: &z}, &shared.Record{Pages: &batch}, &shared.Record{Trailer: &tr}
	recs = resealed(recs)
	if _, err := shared.CheckStream(streamtest.Stream(recs)); err != nil {
		t.Fatalf("an incremental stream: %v", err)
	}
	c := shared.NewRestoreChecker()
	var err error
	for _, r := range recs {
		if err = c.Check(r); err != nil {
			break
		}
	}
	if !errors.Is(err, shared.ErrBadStream) || !strings.Contains(err.Error(), "record 4 (Tablespace): tablespace "+z.Path+" holds only the changed pages") {
		t.Fatalf("restore checker: %v", err)
	}
}

func TestTablespaceRules(t *testing.T) {
	cases := []struct {
		name string
		edit func([]*shared.Record) []*shared.Record
		want string
	}{
		{"shrinks", func(recs []*shared.Record) []*shared.Record {
			ts := *recs[6].Tablespace
			ts.SizePages = 1
			return append(recs[:8:8], append([]*shared.Record{{Tablespace: &ts}}, recs[8:]...)...)
		}, "tablespace ibdata1 shrinks from 2 to 1 pages"},
		{"two indexes, one path", func(recs []*shared.Record) []*shared.Record {
			ts := *recs[3].Tablespace
			ts.Path = "ibdata1"
			recs[3] = &shared.Record{Tablespace: &ts}
			return recs
		}, "tablespace 1 names ibdata1, which tablespace 0 already names"},
		{"changes space id", func(recs []*shared.Record) []*shared.Record {
			ts := *recs[6].Tablespace
			ts.SpaceID = 99
			recs[6] = &shared.Record{Tablespace: &ts}
			return recs
		}, "tablespace record 0 changes path, space id, page size or incremental"},
		{"zip size beyond the page size", func(recs []*shared.Record) []*shared.Record {
			ts := *recs[3].Tablespace
			ts.ZipSize, ts.PageSize = 8192, 8192
			recs[3] = &shared.Record{Tablespace: &ts}
			return recs
		}, "zip size 8192 is not a compressed page size InnoDB allows with 4096-byte pages"},
		{"second binlog file", func(recs []*shared.Record) []*shared.Record {
			b := *recs[15].Binlog
			b.Name = "binlog.000003"
			recs[15] = &shared.Record{Binlog: &b}
			return recs
		}, "a second binlog file binlog.000003 after binlog.000002"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := shared.CheckStream(streamtest.Stream(resealed(c.edit(streamtest.Small()))))
			if !errors.Is(err, shared.ErrBadStream) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want %q", err, c.want)
			}
		})
	}
}

// binlogDelta is streamtest.Small as an incremental carrying its binlog from the second chunk
// on (the first chunk being what its base sent), edited by f and resealed.
func binlogDelta(t *testing.T, f func(*shared.Trailer)) []*shared.Record {
	t.Helper()
	var out []*shared.Record
	var first uint64
	for _, r := range streamtest.Small() {
		if r.Binlog != nil && r.Binlog.Offset == 0 {
			first = uint64(len(r.Binlog.Data))
			continue
		}
		out = append(out, r)
	}
	tr := *out[len(out)-1].Trailer
	tr.Kind, tr.BaseCheckpointLSN = shared.KindIncremental, 1
	tr.BinlogFrom, tr.BinlogBytes = first, tr.BinlogBytes-first
	f(&tr)
	out[len(out)-1] = &shared.Record{Trailer: &tr}
	return streamtest.Reseal(out)
}

// TestBinlogDelta: an incremental may carry its binlog from the base's position on; a full may
// not, the Trailer must say where the chunks start, and a restore takes only whole files.
func TestBinlogDelta(t *testing.T) {
	sum, err := shared.CheckStream(streamtest.Stream(binlogDelta(t, func(*shared.Trailer) {})))
	if err != nil {
		t.Fatal(err)
	}
	if sum.BinlogFrom != 126 || sum.BinlogPos != 157 || sum.Counts.BinlogBytes != 31 {
		t.Errorf("summary binlog from %d pos %d bytes %d, want 126, 157, 31", sum.BinlogFrom, sum.BinlogPos, sum.Counts.BinlogBytes)
	}
	for _, tc := range []struct {
		name    string
		restore bool
		edit    func(*shared.Trailer)
		want    string
	}{
		{"in a full", false, func(t *shared.Trailer) { t.Kind = shared.KindFull }, "the Trailer says the binlog of binlog.000002 starts at offset 126, but only an incremental carries a binlog delta"},
		{"from elsewhere", false, func(t *shared.Trailer) { t.BinlogFrom = 100 }, "the Trailer says the binlog of binlog.000002 starts at offset 100, but its chunks start at 126"},
		{"not said", false, func(t *shared.Trailer) { t.BinlogFrom = 0 }, "starts at offset 0, but its chunks start at 126"},
		{"restored", true, func(*shared.Trailer) {}, "binlog chunk of binlog.000002 starts at offset 126: the stream holds only the binlog written since its base"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := shared.NewStreamChecker()
			if tc.restore {
				c = shared.NewRestoreChecker()
			}
			var err error
			for _, r := range binlogDelta(t, tc.edit) {
				if err = c.Check(r); err != nil {
					break
				}
			}
			if err == nil || !errors.Is(err, shared.ErrBadStream) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestEncryptedBinlogPosition: the Trailer's binlog position does not count the Header's
// BinlogHeaderBytes (an encrypted binlog's header); they are 0 or 512.
func TestEncryptedBinlogPosition(t *testing.T) {
	withBinlog := func(format, headerBytes uint32, data []byte, pos uint64) []*shared.Record {
		var out []*shared.Record
		for _, r := range streamtest.Small() {
			r = streamtest.Clone(r)
			switch {
			case r.Header != nil:
				r.Header.StreamFormat, r.Header.BinlogHeaderBytes = format, headerBytes
			case r.Binlog != nil && r.Binlog.Offset == 0:
				r.Binlog.Data = data
			case r.Binlog != nil:
				continue
			case r.Trailer != nil:
				r.Trailer.BinlogPos, r.Trailer.BinlogBytes = pos, uint64(len(data))
			}
			out = append(out, r)
		}
		return streamtest.Reseal(out)
	}
	enc := make([]byte, 704)
	for _, tc := range []struct {
		name        string
		format, hdr uint32
		data        []byte
		pos         uint64
		want        string
	}{
		{"header not counted", 2, 512, enc, 704 - 512, ""},
		{"header counted", 2, 512, enc, 704, "the Trailer's binlog position is 704 (offset 1216 past the 512-byte header positions do not count), but the chunks of binlog.000002 end at 704"},
		{"shorter than the header", 2, 512, enc[:100], 0, "position is 0 (offset 512 past the 512-byte header positions do not count), but the chunks of binlog.000002 end at 100"},
		{"not 512", 2, 100, enc, 604, "binlog header bytes 100; only 0 or 512"},
		{"plain", 2, 0, enc, 704, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := shared.CheckStream(streamtest.Stream(withBinlog(tc.format, tc.hdr, tc.data, tc.pos)))
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestLocationRules: the Header's Locations and the paths of files outside the datadir.
func TestLocationRules(t *testing.T) {
	binlogDir := func(recs []*shared.Record) {
		h := recs[1].Header
		h.Locations = append(h.Locations, shared.Location{ID: 9, Role: shared.RoleBinlogDir, OriginalPath: "/srv/binlog"})
	}
	for _, c := range []struct {
		name string
		edit func(recs []*shared.Record)
		want string // "" accepted
	}{
		{"as written", func([]*shared.Record) {}, ""},
		{"binlog in a location", binlogDir, ""},
		{"binlog index in its location", func(recs []*shared.Record) {
			binlogDir(recs)
			recs[9].File.Path = shared.ExternalDir + "/9/binlog.index"
			recs[10].File.Path = shared.ExternalDir + "/9/binlog.index"
		}, "names #pagetrack-external/9/binlog.index, the binlog index a restore writes itself"},
		{"file chunk on the binlog's path", func(recs []*shared.Record) {
			binlogDir(recs)
			recs[11].File.Path = shared.ExternalDir + "/9/binlog.000002"
		}, "binlog file #pagetrack-external/9/binlog.000002 is a path a file chunk already names"},
		{"undeclared location", func(recs []*shared.Record) { recs[3].Tablespace.Path = shared.ExternalPath(2, "db/z.ibd") },
			"names #pagetrack-external/2/db/z.ibd, which is not #pagetrack-external/<id>/<path> with the id of a Location the Header declares"},
		{"location id with a leading zero", func(recs []*shared.Record) { recs[3].Tablespace.Path = shared.ExternalDir + "/01/db/z.ibd" }, "which is not #pagetrack-external/<id>/<path>"},
		{"the location directory itself", func(recs []*shared.Record) { recs[3].Tablespace.Path = shared.ExternalDir + "/1" }, "which is not #pagetrack-external/<id>/<path>"},
		{"relative original path", func(recs []*shared.Record) { recs[1].Header.Locations[0].OriginalPath = "srv/ext" }, `location 1: location path "srv/ext" is not an absolute path`},
		{"unclean original path", func(recs []*shared.Record) { recs[1].Header.Locations[0].OriginalPath = "/srv/../etc" }, "is not a clean directory path"},
		{"unknown role", func(recs []*shared.Record) { recs[1].Header.Locations[0].Role = "tmpdir" }, `location 1 has the unknown role "tmpdir"`},
		{"id used twice", func(recs []*shared.Record) {
			h := recs[1].Header
			h.Locations = append(h.Locations, shared.Location{ID: 1, Role: shared.RoleUndoDir, OriginalPath: "/srv/undo"})
		}, "location id 1 is zero or used twice"},
		{"two undo directories", func(recs []*shared.Record) {
			h := recs[1].Header
			h.Locations = append(h.Locations, shared.Location{ID: 2, Role: shared.RoleUndoDir, OriginalPath: "/a"}, shared.Location{ID: 3, Role: shared.RoleUndoDir, OriginalPath: "/b"})
		}, "location 3: a second location of role undo_dir"},
		{"data file path with a directory", func(recs []*shared.Record) { recs[1].Header.DataFilePath = "../ibdata1:12M:autoextend" }, "the data file path names the path"},
		{"format 1 with locations", func(recs []*shared.Record) { recs[1].Header.StreamFormat = 1 }, "a format 1 Header carries Locations or a DataFilePath"},
	} {
		t.Run(c.name, func(t *testing.T) {
			recs := streamtest.Small()
			c.edit(recs)
			_, err := shared.CheckStream(streamtest.Stream(resealed(recs)))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
