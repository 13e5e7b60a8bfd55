package repo

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/pagetrack/pagetrack/shared"
)

const (
	streamMagic   = "PGTKSTRM"
	streamVersion = 1
	// maxFrame bounds one stored record, so that a damaged length cannot make a reader
	// allocate without limit.
	maxFrame = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameWriter writes the decompressed form of a stream file into a zstd encoder.
type frameWriter struct {
	zw  *zstd.Encoder
	buf []byte
}

func newFrameWriter(w io.Writer) (*frameWriter, error) {
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, err
	}
	fw := &frameWriter{zw: zw}
	head := append([]byte(streamMagic), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(head[len(streamMagic):], streamVersion)
	if _, err := zw.Write(head); err != nil {
		zw.Close()
		return nil, err
	}
	return fw, nil
}

func (fw *frameWriter) append(rec *shared.Record) error {
	// Reserve the frame header, encode the record after it, then fill the header in.
	b := append(fw.buf[:0], make([]byte, 8)...)
	b = shared.AppendRecord(b, rec)
	payload := b[8:]
	if len(payload) <= 1 {
		return fmt.Errorf("record has no content")
	}
	if len(payload) > maxFrame {
		return fmt.Errorf("record of %d bytes exceeds the %d-byte limit of a stored record", len(payload), maxFrame)
	}
	binary.BigEndian.PutUint32(b[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[4:8], crc32.Checksum(payload, castagnoli))
	fw.buf = b
	_, err := fw.zw.Write(b)
	return err
}

// close flushes the zstd stream (it does not close the underlying writer).
func (fw *frameWriter) close() error { return fw.zw.Close() }

// frameReader reads records back from a stream file.
type frameReader struct {
	zr    *zstd.Decoder
	br    *bufio.Reader
	n     int // frames read
	err   error
	stats ReadStats
}

func newFrameReader(r io.Reader) (*frameReader, error) {
	zr, err := zstd.NewReader(r)
	if err != nil {
		return nil, err
	}
	fr := &frameReader{zr: zr, br: bufio.NewReaderSize(zr, 1<<20)}
	head := make([]byte, len(streamMagic)+4)
	if _, err := io.ReadFull(fr.br, head); err != nil {
		zr.Close()
		return nil, fmt.Errorf("%w: cannot read the stream file header: %v", ErrCorrupt, err)
	}
	if !bytes.Equal(head[:len(streamMagic)], []byte(streamMagic)) {
		zr.Close()
		return nil, fmt.Errorf("%w: not a pagetrack stream file (bad magic)", ErrCorrupt)
	}
	if v := binary.BigEndian.Uint32(head[len(streamMagic):]); v != streamVersion {
		zr.Close()
		return nil, fmt.Errorf("stream file format %d is not one this host-example reads (%d); use a newer host-example", v, streamVersion)
	}
	return fr, nil
}

// next returns the next record, or io.EOF after the last complete frame.
func (fr *frameReader) next(keep PageFilter) (*shared.Record, error) {
	if fr.err != nil {
		return nil, fr.err
	}
	rec, err := fr.read(keep)
	if err != nil {
		fr.err = err
	}
	return rec, err
}

// pageHeadLen is the encoded head of a PageBatch: kind, FileIndex, FirstPage, data length.
const pageHeadLen = 1 + 4 + 8 + 8

func (fr *frameReader) read(keep PageFilter) (*shared.Record, error) {
	for {
		var head [8]byte
		if _, err := io.ReadFull(fr.br, head[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fr.damaged(err)
		}
		n := binary.BigEndian.Uint32(head[0:4])
		if n == 0 || n > maxFrame {
			return nil, fmt.Errorf("%w: record %d has an impossible length %d", ErrCorrupt, fr.n+1, n)
		}
		if keep != nil && n >= pageHeadLen {
			p, err := fr.br.Peek(pageHeadLen)
			if err != nil {
				return nil, fr.damaged(unexpectedEOF(err))
			}
			// A head that does not add up is left to the full read, whose checksum and
			// decoding report it.
			if dataLen := binary.BigEndian.Uint64(p[13:21]); p[0] == 'P' && dataLen == uint64(n)-pageHeadLen &&
				!keep(binary.BigEndian.Uint32(p[1:5]), binary.BigEndian.Uint64(p[5:13]), dataLen) {
				if _, err := fr.br.Discard(int(n)); err != nil {
					return nil, fr.damaged(unexpectedEOF(err))
				}
				fr.n++
				fr.stats.Records++
				fr.stats.Skipped++
				fr.stats.Bytes += 8 + uint64(n)
				fr.stats.SkippedBytes += 8 + uint64(n)
				continue
			}
		}
		return fr.decode(head, n)
	}
}

func (fr *frameReader) decode(head [8]byte, n uint32) (*shared.Record, error) {
	payload := make([]byte, n)
	if _, err := io.ReadFull(fr.br, payload); err != nil {
		return nil, fr.damaged(err)
	}
	fr.n++
	fr.stats.Records++
	fr.stats.Bytes += 8 + uint64(n)
	if got, want := crc32.Checksum(payload, castagnoli), binary.BigEndian.Uint32(head[4:8]); got != want {
		return nil, fmt.Errorf("%w: record %d fails its checksum (crc32c %08x, stored %08x)", ErrCorrupt, fr.n, got, want)
	}
	rec, err := shared.DecodeRecord(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: record %d does not decode: %v", ErrCorrupt, fr.n, err)
	}
	fr.stats.Decoded++
	return rec, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (fr *frameReader) damaged(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the stream file ends in the middle of record %d", ErrCorrupt, fr.n+1)
	}
	return fmt.Errorf("%w: decompressing record %d: %v", ErrCorrupt, fr.n+1, err)
}

func (fr *frameReader) close() { fr.zr.Close() }
