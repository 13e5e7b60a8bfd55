package shared

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
)

// Digester computes the stream digest a Trailer carries over every record from the Header up
// to, not including, the Trailer, Progress records left out, each record in its record codec
// encoding (codec.go). The Header's StreamFormat decides the digest:
//
//   - formats 1 and 2: SHA-256 over the encodings, back to back;
//   - format 3: SHA-256 over the records' RecordSums (32 bytes each), back to back.
//
// Format 3 lets a source hash each record where it builds it, on many cores, and fold in
// only 32 bytes per record in stream order (AddSum), and lets a host that hashes every page
// anyway (to store it by content) verify the digest from those page hashes (PagesSum); see
// the package documentation. Hosts that store records in their own form compute the same
// digest from the Go values.
type Digester struct {
	h      hash.Hash
	n      uint64
	buf    []byte
	format uint32         // the Header's StreamFormat, once it was added
	sizes  map[uint32]int // format 3: Tablespace.FileIndex → PageSize, for PageBatch sums
}

// NewDigester returns an empty digester. It learns the stream format from the Header, which
// is the first record it digests.
func NewDigester() *Digester { return &Digester{h: sha256.New(), sizes: map[uint32]int{}} }

// RecordSum is a record's own digest in format 3: SHA-256 over its codec encoding, except
// for a PageBatch, whose pages are hashed one by one: SHA-256 over the encoding up to its
// Data (everything but the payload bytes, its length included) followed by PageSum of each
// pageSize-byte piece of Data in order (a last shorter piece, which no valid batch has, is
// hashed as it is). pageSize is the PageSize of the batch's Tablespace; other kinds ignore it.
func RecordSum(r *Record, pageSize int) [sha256.Size]byte {
	head, payload := appendRecordHead(make([]byte, 0, 64), r)
	h := sha256.New()
	h.Write(head)
	if r.Pages == nil || r.Progress != nil || r.Trailer != nil {
		h.Write(payload)
	} else {
		if pageSize <= 0 {
			pageSize = max(len(payload), 1)
		}
		for len(payload) > 0 {
			n := min(pageSize, len(payload))
			sum := PageSum(payload[:n])
			h.Write(sum[:])
			payload = payload[n:]
		}
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// PageSum is the hash of one page in a format 3 PageBatch's RecordSum: its SHA-256, which a
// host that stores pages by their SHA-256 already has.
func PageSum(page []byte) [sha256.Size]byte { return sha256.Sum256(page) }

// PagesSum is RecordSum of a PageBatch from the PageSums of its pages (in order), for a host
// that hashed them already.
func PagesSum(p *PageBatch, pageSums [][sha256.Size]byte) [sha256.Size]byte {
	head, _ := appendRecordHead(make([]byte, 0, 64), &Record{Pages: p})
	h := sha256.New()
	h.Write(head)
	for _, s := range pageSums {
		h.Write(s[:])
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// perRecord says whether the stream's digest is over per-record sums (format 3 on).
func (d *Digester) perRecord() bool { return d.format >= 3 }

// Add folds r into the digest. Progress and Trailer records are ignored.
func (d *Digester) Add(r *Record) {
	if r.Progress != nil || r.Trailer != nil {
		return
	}
	if r.Header != nil && d.n == 0 {
		d.format = r.Header.StreamFormat
	}
	if d.perRecord() {
		d.note(r)
		sum := RecordSum(r, d.pageSize(r))
		d.h.Write(sum[:])
		d.n++
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

// AddSum is Add with r's RecordSum (with its file's page size) already computed (by the
// goroutine that built r), so
// that the serial part of digesting is 32 bytes per record. In a stream before format 3 the
// sum is not part of the digest and r is hashed whole, as Add does.
func (d *Digester) AddSum(r *Record, sum [sha256.Size]byte) {
	if r.Header != nil || !d.perRecord() || r.Progress != nil || r.Trailer != nil {
		d.Add(r)
		return
	}
	d.note(r)
	d.h.Write(sum[:])
	d.n++
}

// note keeps the page size of each file a Tablespace record announces.
func (d *Digester) note(r *Record) {
	if r.Tablespace != nil {
		d.sizes[r.Tablespace.FileIndex] = int(r.Tablespace.PageSize)
	}
}

// pageSize is the page size RecordSum needs for r: its file's, 0 when unknown (a batch
// before its Tablespace, which the StreamChecker refuses anyway).
func (d *Digester) pageSize(r *Record) int {
	if r.Pages == nil {
		return 0
	}
	return d.sizes[r.Pages.FileIndex]
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
