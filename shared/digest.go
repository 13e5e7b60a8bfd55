package shared

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// Digester computes the stream digest a Trailer carries: SHA-256 over a fixed binary encoding
// of every record from the Header up to (not including) the Trailer, Progress records left out.
// The encoding is defined here, not by protobuf, so that hosts which store records in their own
// form compute the same digest.
type Digester struct {
	h   hash.Hash
	n   uint64
	buf []byte
}

// NewDigester returns an empty digester.
func NewDigester() *Digester { return &Digester{h: sha256.New()} }

// Add folds r into the digest. Progress and Trailer records are ignored.
func (d *Digester) Add(r *Record) {
	b := d.buf[:0]
	var payload []byte // written after b, unbuffered: pages are large
	switch {
	case r.Header != nil:
		h := r.Header
		b = append(b, 'H')
		b = binary.BigEndian.AppendUint32(b, h.StreamFormat)
		b = appendString(b, h.ServerVersion)
		b = appendString(b, h.ServerUUID)
		b = binary.BigEndian.AppendUint32(b, h.PageSize)
		b = binary.BigEndian.AppendUint64(b, h.CheckpointLSN)
		b = binary.BigEndian.AppendUint64(b, uint64(h.StartedAt.UnixNano()))
		b = appendString(b, h.BinlogBasename)
		b = appendString(b, h.GTIDMode)
		b = binary.BigEndian.AppendUint64(b, uint64(h.LowerCaseTableNames))
	case r.Tablespace != nil:
		t := r.Tablespace
		b = append(b, 'T')
		b = binary.BigEndian.AppendUint32(b, t.FileIndex)
		b = appendString(b, t.Path)
		b = binary.BigEndian.AppendUint32(b, t.SpaceID)
		b = binary.BigEndian.AppendUint32(b, t.Flags)
		b = binary.BigEndian.AppendUint32(b, t.PageSize)
		b = binary.BigEndian.AppendUint32(b, t.ZipSize)
		b = binary.BigEndian.AppendUint64(b, t.SizePages)
	case r.Pages != nil:
		b = append(b, 'P')
		b = binary.BigEndian.AppendUint32(b, r.Pages.FileIndex)
		b = binary.BigEndian.AppendUint64(b, r.Pages.FirstPage)
		b, payload = appendLen(b, r.Pages.Data)
	case r.Redo != nil:
		b = append(b, 'R')
		b = binary.BigEndian.AppendUint64(b, r.Redo.StartLSN)
		b, payload = appendLen(b, r.Redo.Data)
	case r.Binlog != nil:
		b = append(b, 'B')
		b = appendString(b, r.Binlog.Name)
		b = binary.BigEndian.AppendUint64(b, r.Binlog.Offset)
		b, payload = appendLen(b, r.Binlog.Data)
	case r.File != nil:
		b = append(b, 'F')
		b = appendString(b, r.File.Path)
		b = binary.BigEndian.AppendUint64(b, r.File.Offset)
		b, payload = appendLen(b, r.File.Data)
	default:
		return
	}
	d.buf = b[:0]
	d.h.Write(b)
	d.h.Write(payload)
	d.n++
}

// appendLen appends data's length and hands data back to be hashed after the prefix.
func appendLen(b, data []byte) ([]byte, []byte) {
	return binary.BigEndian.AppendUint64(b, uint64(len(data))), data
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// Records is the number of records folded in so far.
func (d *Digester) Records() uint64 { return d.n }

// Sum returns the digest of the records added so far.
func (d *Digester) Sum() []byte { return d.h.Sum(nil) }

// ErrNoTrailer means a stream ended before its Trailer: the backup did not complete.
var ErrNoTrailer = errors.New("stream ended without a trailer: the backup did not complete")

// Check compares the digest so far with a trailer.
func (d *Digester) Check(t *Trailer) error {
	if t.Records != d.n {
		return fmt.Errorf("stream is damaged: the trailer counts %d records, %d arrived", t.Records, d.n)
	}
	if !bytes.Equal(t.Digest, d.Sum()) {
		return fmt.Errorf("stream is damaged: digest mismatch over %d records", d.n)
	}
	return nil
}
