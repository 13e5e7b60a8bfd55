package shared

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
)

// Digester computes the stream digest a Trailer carries: SHA-256 over the record codec's
// encoding (see codec.go) of every record from the Header up to, not including, the Trailer,
// Progress records left out. Hosts that store records in their own form compute the same
// digest from the Go values.
type Digester struct {
	h   hash.Hash
	n   uint64
	buf []byte
}

// NewDigester returns an empty digester.
func NewDigester() *Digester { return &Digester{h: sha256.New()} }

// Add folds r into the digest. Progress and Trailer records are ignored.
func (d *Digester) Add(r *Record) {
	if r.Progress != nil || r.Trailer != nil {
		return
	}
	head, payload := appendRecordHead(d.buf[:0], r)
	if len(head) == 0 {
		return
	}
	d.h.Write(head)
	d.h.Write(payload)
	d.buf = head[:0]
	d.n++
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
