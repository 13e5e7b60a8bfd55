package repo

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// The pack file (see doc.go):
//
//	magic    8 bytes  "PGTKPACK"
//	version  u32      1
//	nonce    16 bytes random: no two writers produce the same pack (name)
//	blobs    the compressed blobs, back to back
//	header   count u32, count × entry, crc32c u32 (of count and the entries)
//	entry    type u8, id [32], offset u32, length u32, raw length u32
//	hlen     u32      length of header
//	end      8 bytes  "PGTKPEND"
const (
	packMagic    = "PGTKPACK"
	packEndMagic = "PGTKPEND"
	packVersion  = 1
	packNonceLen = 16
	packHeadLen  = len(packMagic) + 4 + packNonceLen
	packTailLen  = 4 + len(packEndMagic)
	packEntryLen = 1 + 32 + 4 + 4 + 4
	// packTarget is the size at which a pack is closed.
	packTarget = 16 << 20
	// maxBlobRaw bounds a blob's uncompressed size: the largest is a record-list chunk
	// holding one item (a page batch of 1 KiB pages), well below this.
	maxBlobRaw = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// packEntry is one blob of a pack.
type packEntry struct {
	Type   BlobType
	ID     ID
	Offset uint32 // from the start of the pack file
	Length uint32 // compressed length
	Raw    uint32 // uncompressed length
}

// packWriter writes one pack file in REPO/tmp and moves it into REPO/data when finished.
type packWriter struct {
	repo    string
	tmp     string
	f       *os.File
	bw      *bufio.Writer
	h       hash.Hash
	size    int64
	entries []packEntry
}

func newPackWriter(repoDir string) (*packWriter, error) {
	tmp := filepath.Join(repoDir, tmpDir, "pack-"+randomHex(8)+partialExt)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating a pack file: %w", err)
	}
	h := sha256.New()
	p := &packWriter{repo: repoDir, tmp: tmp, f: f, h: h, bw: bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)}
	head := binary.BigEndian.AppendUint32([]byte(packMagic), packVersion)
	nonce := make([]byte, packNonceLen)
	if _, err := rand.Read(nonce); err != nil {
		p.discard()
		return nil, err
	}
	if err := p.write(append(head, nonce...)); err != nil {
		p.discard()
		return nil, err
	}
	return p, nil
}

func (p *packWriter) write(b []byte) error {
	if _, err := p.bw.Write(b); err != nil {
		return fmt.Errorf("writing %s: %w", p.tmp, err)
	}
	p.size += int64(len(b))
	return nil
}

// add appends one compressed blob.
func (p *packWriter) add(t BlobType, id ID, comp []byte, raw int) (packEntry, error) {
	e := packEntry{Type: t, ID: id, Offset: uint32(p.size), Length: uint32(len(comp)), Raw: uint32(raw)}
	if err := p.write(comp); err != nil {
		return e, err
	}
	p.entries = append(p.entries, e)
	return e, nil
}

func (p *packWriter) full() bool { return p.size >= packTarget }

// finish writes the header, syncs the file and renames it to REPO/data/XX/ID; then it syncs
// that directory. It returns the pack's ID and size.
func (p *packWriter) finish() (ID, int64, error) {
	if err := p.write(encodePackHeader(p.entries)); err != nil {
		p.discard()
		return ID{}, 0, err
	}
	if err := p.bw.Flush(); err != nil {
		p.discard()
		return ID{}, 0, fmt.Errorf("writing %s: %w", p.tmp, err)
	}
	if err := p.f.Sync(); err != nil {
		p.discard()
		return ID{}, 0, fmt.Errorf("syncing %s: %w", p.tmp, err)
	}
	if err := p.f.Close(); err != nil {
		p.f = nil
		p.discard()
		return ID{}, 0, fmt.Errorf("closing %s: %w", p.tmp, err)
	}
	p.f = nil
	var id ID
	p.h.Sum(id[:0])
	final := packPath(p.repo, id)
	if err := os.Rename(p.tmp, final); err != nil {
		p.discard()
		return ID{}, 0, fmt.Errorf("moving a pack into place: %w", err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return id, p.size, err
	}
	return id, p.size, nil
}

// discard removes the unfinished pack.
func (p *packWriter) discard() {
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
	os.Remove(p.tmp)
}

func encodePackHeader(entries []packEntry) []byte {
	b := make([]byte, 0, 4+len(entries)*packEntryLen+4+packTailLen)
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = appendEntry(b, e)
	}
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	b = binary.BigEndian.AppendUint32(b, uint32(len(b)))
	return append(b, packEndMagic...)
}

func appendEntry(b []byte, e packEntry) []byte {
	b = append(b, byte(e.Type))
	b = append(b, e.ID[:]...)
	b = binary.BigEndian.AppendUint32(b, e.Offset)
	b = binary.BigEndian.AppendUint32(b, e.Length)
	return binary.BigEndian.AppendUint32(b, e.Raw)
}

func decodeEntry(b []byte) packEntry {
	var e packEntry
	e.Type = BlobType(b[0])
	copy(e.ID[:], b[1:33])
	e.Offset = binary.BigEndian.Uint32(b[33:])
	e.Length = binary.BigEndian.Uint32(b[37:])
	e.Raw = binary.BigEndian.Uint32(b[41:])
	return e
}

// parsePack checks a whole pack file's framing and returns its header entries.
func parsePack(b []byte) ([]packEntry, error) {
	if len(b) < packHeadLen+4+4+packTailLen {
		return nil, fmt.Errorf("%d bytes is too short for a pack", len(b))
	}
	if !bytes.Equal(b[:len(packMagic)], []byte(packMagic)) {
		return nil, fmt.Errorf("bad magic at the start")
	}
	if v := binary.BigEndian.Uint32(b[len(packMagic):]); v != packVersion {
		return nil, fmt.Errorf("pack format %d, this host-example reads %d", v, packVersion)
	}
	tail := b[len(b)-packTailLen:]
	if !bytes.Equal(tail[4:], []byte(packEndMagic)) {
		return nil, fmt.Errorf("bad magic at the end (truncated?)")
	}
	hlen := int(binary.BigEndian.Uint32(tail))
	if hlen < 8 || hlen > len(b)-packHeadLen-packTailLen {
		return nil, fmt.Errorf("header length %d does not fit", hlen)
	}
	h := b[len(b)-packTailLen-hlen : len(b)-packTailLen]
	body, sum := h[:len(h)-4], binary.BigEndian.Uint32(h[len(h)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, fmt.Errorf("header fails its checksum (crc32c %08x, stored %08x)", got, sum)
	}
	n := int(binary.BigEndian.Uint32(body))
	if 4+n*packEntryLen != len(body) {
		return nil, fmt.Errorf("header lists %d blobs in %d bytes", n, len(body))
	}
	end := uint64(len(b) - packTailLen - hlen)
	entries := make([]packEntry, n)
	for i := range entries {
		e := decodeEntry(body[4+i*packEntryLen:])
		if uint64(e.Offset) < uint64(packHeadLen) || uint64(e.Offset)+uint64(e.Length) > end {
			return nil, fmt.Errorf("blob %s lies outside the pack's data (offset %d, length %d)", e.ID.Short(), e.Offset, e.Length)
		}
		entries[i] = e
	}
	return entries, nil
}

// packPath is REPO/data/XX/ID.
func packPath(repoDir string, id ID) string {
	s := id.String()
	return filepath.Join(repoDir, dataDir, s[:2], s)
}
