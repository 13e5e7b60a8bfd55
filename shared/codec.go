package shared

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The record codec is a stable binary encoding of a Record, independent of protobuf, so that a
// host can store records and compute the stream digest without knowing the wire protocol.
//
// An encoded record is one kind byte followed by the record's fields in declaration order:
// unsigned integers as big-endian u32/u64, strings as a u32 length and the bytes, byte
// payloads as a u64 length and the bytes, times as u64 Unix nanoseconds, lists of strings as
// a u32 count and the strings.
//
//	'H' Header     'T' Tablespace  'P' PageBatch  'R' RedoSegment
//	'B' BinlogChunk 'F' FileChunk  'G' Progress   'Z' Trailer
//
// From StreamFormat 2 the Header ends with DataFilePath (string), a u32 count of Locations
// and each Location's ID (u32), Role and OriginalPath (strings); a Header's own StreamFormat
// field, encoded first, decides whether they are present.
//
// In every format the Header may end with an optional tail: MasterKeys (a u32 count and the
// strings), RedoEncryption (bytes) and BinlogHeaderBytes (u32). It is present exactly when one
// of them is non-empty (a server that encrypts something), so a Header without encryption
// encodes (and digests) as it always did; the decoder sees the tail because a record occupies
// all of its bytes, and refuses one that holds nothing. The Trailer's BinlogFrom and
// BinlogWritten are such a tail too.
//
// The stream digest is SHA-256 over the encodings of every record except Progress and Trailer.

// AppendRecord appends r's encoding to b.
func AppendRecord(b []byte, r *Record) []byte {
	b, payload := appendRecordHead(b, r)
	return append(b, payload...)
}

// appendRecordHead appends everything but a trailing byte payload, which it returns, so the
// digester can hash large payloads without copying them.
func appendRecordHead(b []byte, r *Record) ([]byte, []byte) {
	var e enc
	e.b = b
	var payload []byte
	switch {
	case r.Header != nil:
		h := r.Header
		e.byte('H')
		e.u32(h.StreamFormat)
		e.str(h.ServerVersion)
		e.str(h.ServerUUID)
		e.u32(h.PageSize)
		e.u64(h.CheckpointLSN)
		e.time(h.StartedAt)
		e.str(h.BinlogBasename)
		e.str(h.GTIDMode)
		e.u64(uint64(h.LowerCaseTableNames))
		if h.StreamFormat >= 2 { // the Header's own format decides its encoding
			e.str(h.DataFilePath)
			e.u32(uint32(len(h.Locations)))
			for _, l := range h.Locations {
				e.u32(l.ID)
				e.str(l.Role)
				e.str(l.OriginalPath)
			}
		}
		// An optional tail in every format (no version bump): absent when the server
		// encrypts nothing, so every Header written before it encodes as before.
		if h.encrypted() {
			e.u32(uint32(len(h.MasterKeys)))
			for _, k := range h.MasterKeys {
				e.str(k)
			}
			e.bytes(h.RedoEncryption)
			e.u32(h.BinlogHeaderBytes)
		}
	case r.Tablespace != nil:
		t := r.Tablespace
		e.byte('T')
		e.u32(t.FileIndex)
		e.str(t.Path)
		e.u32(t.SpaceID)
		e.u32(t.Flags)
		e.u32(t.PageSize)
		e.u32(t.ZipSize)
		e.u64(t.SizePages)
		e.bool(t.Incremental)
	case r.Pages != nil:
		e.byte('P')
		e.u32(r.Pages.FileIndex)
		e.u64(r.Pages.FirstPage)
		payload = e.lenOf(r.Pages.Data)
	case r.Redo != nil:
		e.byte('R')
		e.u64(r.Redo.StartLSN)
		payload = e.lenOf(r.Redo.Data)
	case r.Binlog != nil:
		e.byte('B')
		e.str(r.Binlog.Name)
		e.u64(r.Binlog.Offset)
		payload = e.lenOf(r.Binlog.Data)
	case r.File != nil:
		e.byte('F')
		e.str(r.File.Path)
		e.u64(r.File.Offset)
		payload = e.lenOf(r.File.Data)
	case r.Progress != nil:
		p := r.Progress
		e.byte('G')
		e.str(p.Phase)
		e.u64(p.PagesDone)
		e.u64(p.PagesTotal)
		e.u64(p.BytesDone)
		e.u64(p.BytesTotal)
	case r.Trailer != nil:
		t := r.Trailer
		e.byte('Z')
		e.u64(t.EndLSN)
		e.u64(t.CheckpointLSN)
		e.u64(t.MaxPageLSN)
		e.str(t.BinlogFile)
		e.u64(t.BinlogPos)
		e.str(t.GTIDExecuted)
		e.u64(t.Tablespaces)
		e.u64(t.Pages)
		e.u64(t.PageBytes)
		e.u64(t.RedoBytes)
		e.u64(t.BinlogBytes)
		e.u64(t.Files)
		e.u64(t.Records)
		e.time(t.FinishedAt)
		e.str(t.Kind)
		e.str(t.Method)
		e.str(t.FallbackReason)
		e.u64(t.BaseCheckpointLSN)
		e.u64(t.PagesInSet)
		e.u64(t.PagesRead)
		e.u64(t.BytesRead)
		e.u64(t.BytesSent)
		e.bytes(t.SourceState)
		e.bytes(t.Digest)
		// Optional tails in every format (no version bump): each absent when it and every
		// later tail are zero, so every Trailer written before them encodes as before and
		// decodes with them zero.
		incrTail := t.CheckpointWaitMicros != 0 || t.PagesBeforeBase != 0 || t.PagesBeforeBaseSkipped != 0
		if t.BinlogFrom != 0 || t.BinlogWritten != 0 || incrTail {
			e.u64(t.BinlogFrom)
			e.u64(t.BinlogWritten)
		}
		if incrTail {
			e.u64(t.CheckpointWaitMicros)
			e.u64(t.PagesBeforeBase)
			e.u64(t.PagesBeforeBaseSkipped)
		}
	}
	return e.b, payload
}

// DecodeRecord decodes one record that occupies all of b. Byte payloads alias b.
func DecodeRecord(b []byte) (*Record, error) {
	d := dec{b: b}
	r := &Record{}
	switch kind := d.byte(); kind {
	case 'H':
		h := &Header{}
		h.StreamFormat = d.u32()
		h.ServerVersion = d.str()
		h.ServerUUID = d.str()
		h.PageSize = d.u32()
		h.CheckpointLSN = d.u64()
		h.StartedAt = d.time()
		h.BinlogBasename = d.str()
		h.GTIDMode = d.str()
		h.LowerCaseTableNames = int64(d.u64())
		if h.StreamFormat >= 2 {
			h.DataFilePath = d.str()
			for n := d.u32(); n > 0 && d.err == nil; n-- { // each entry takes input: no allocation for a claimed count
				h.Locations = append(h.Locations, Location{ID: d.u32(), Role: d.str(), OriginalPath: d.str()})
			}
		}
		if len(d.b) > 0 && d.err == nil { // the encryption tail: a record occupies all of b
			h.MasterKeys = d.strs()
			h.RedoEncryption = d.bytes()
			h.BinlogHeaderBytes = d.u32()
			if d.err == nil && !h.encrypted() {
				return nil, errors.New("record: a Header's encryption tail that holds nothing (it is encoded only when it does)")
			}
		}
		r.Header = h
	case 'T':
		t := &Tablespace{}
		t.FileIndex = d.u32()
		t.Path = d.str()
		t.SpaceID = d.u32()
		t.Flags = d.u32()
		t.PageSize = d.u32()
		t.ZipSize = d.u32()
		t.SizePages = d.u64()
		t.Incremental = d.bool()
		r.Tablespace = t
	case 'P':
		r.Pages = &PageBatch{FileIndex: d.u32(), FirstPage: d.u64()}
		r.Pages.Data = d.bytes()
	case 'R':
		r.Redo = &RedoSegment{StartLSN: d.u64()}
		r.Redo.Data = d.bytes()
	case 'B':
		r.Binlog = &BinlogChunk{Name: d.str(), Offset: d.u64()}
		r.Binlog.Data = d.bytes()
	case 'F':
		r.File = &FileChunk{Path: d.str(), Offset: d.u64()}
		r.File.Data = d.bytes()
	case 'G':
		r.Progress = &Progress{Phase: d.str(), PagesDone: d.u64(), PagesTotal: d.u64(), BytesDone: d.u64(), BytesTotal: d.u64()}
	case 'Z':
		t := &Trailer{}
		t.EndLSN = d.u64()
		t.CheckpointLSN = d.u64()
		t.MaxPageLSN = d.u64()
		t.BinlogFile = d.str()
		t.BinlogPos = d.u64()
		t.GTIDExecuted = d.str()
		t.Tablespaces = d.u64()
		t.Pages = d.u64()
		t.PageBytes = d.u64()
		t.RedoBytes = d.u64()
		t.BinlogBytes = d.u64()
		t.Files = d.u64()
		t.Records = d.u64()
		t.FinishedAt = d.time()
		t.Kind = d.str()
		t.Method = d.str()
		t.FallbackReason = d.str()
		t.BaseCheckpointLSN = d.u64()
		t.PagesInSet = d.u64()
		t.PagesRead = d.u64()
		t.BytesRead = d.u64()
		t.BytesSent = d.u64()
		t.SourceState = d.bytes()
		t.Digest = d.bytes()
		if len(d.b) == 16 || len(d.b) == 16+24 {
			t.BinlogFrom = d.u64()
			t.BinlogWritten = d.u64()
			if len(d.b) == 0 && t.BinlogFrom == 0 && t.BinlogWritten == 0 {
				return nil, errors.New("record: the Trailer's binlog tail is present but all zero (an encoder leaves it out)")
			}
			if len(d.b) == 24 {
				t.CheckpointWaitMicros = d.u64()
				t.PagesBeforeBase = d.u64()
				t.PagesBeforeBaseSkipped = d.u64()
				if t.CheckpointWaitMicros == 0 && t.PagesBeforeBase == 0 && t.PagesBeforeBaseSkipped == 0 {
					return nil, errors.New("record: the Trailer's incremental tail is present but all zero (an encoder leaves it out)")
				}
			}
		}
		r.Trailer = t
	default:
		if d.err == nil {
			return nil, fmt.Errorf("record: unknown kind byte 0x%02x", kind)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("record: %d trailing bytes", len(d.b))
	}
	return r, nil
}

type enc struct{ b []byte }

func (e *enc) byte(v byte)  { e.b = append(e.b, v) }
func (e *enc) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *enc) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *enc) str(s string) { e.u32(uint32(len(s))); e.b = append(e.b, s...) }
func (e *enc) time(t time.Time) {
	if t.IsZero() {
		e.u64(0)
		return
	}
	e.u64(uint64(t.UnixNano()))
}
func (e *enc) lenOf(p []byte) []byte { e.u64(uint64(len(p))); return p }
func (e *enc) bytes(p []byte)        { e.b = append(e.b, e.lenOf(p)...) }
func (e *enc) bool(v bool) {
	if v {
		e.byte(1)
	} else {
		e.byte(0)
	}
}

var errShort = errors.New("record: truncated")

type dec struct {
	b   []byte
	err error
}

func (d *dec) take(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if uint64(len(d.b)) < n {
		d.err = errShort
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
func (d *dec) byte() byte {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}
func (d *dec) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}
func (d *dec) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}
func (d *dec) str() string { return string(d.take(uint64(d.u32()))) }

// strs reads a u32 count and that many strings. Each string takes at least its 4-byte
// length, so a count larger than the bytes left is refused before anything is allocated.
func (d *dec) strs() []string {
	n := d.u32()
	if d.err == nil && uint64(n)*4 > uint64(len(d.b)) {
		d.err = errShort
	}
	if d.err != nil || n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, d.str())
	}
	return out
}
func (d *dec) bytes() []byte { return d.take(d.u64()) }
func (d *dec) bool() bool {
	switch v := d.byte(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		if d.err == nil {
			d.err = fmt.Errorf("record: bool byte 0x%02x", v)
		}
		return false
	}
}
func (d *dec) time() time.Time {
	n := d.u64()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n)).UTC()
}
