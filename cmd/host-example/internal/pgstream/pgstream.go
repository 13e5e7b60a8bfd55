package pgstream

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

const (
	// Magic opens every stream.
	Magic = "PGTKPIPE"
	// Version is the stream format version this package writes and reads.
	Version = 1
	// MaxFrame bounds a frame's payload, so that a damaged length cannot make a reader
	// allocate without limit. A source's records are far smaller (shared.MaxRecordBytes).
	MaxFrame = 64 << 20
	// maxMeta bounds the metadata frame.
	maxMeta = 1 << 20
)

// Frame types.
const (
	frameMeta   = 'M'
	frameRecord = 'R'
	frameEnd    = 'E'
)

const (
	headLen = 1 + 4 + 4 // type, length, crc
	endLen  = 8 + sha256.Size
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors a Reader returns wrap one of these.
var (
	// ErrTruncated: the input ended before the stream's end frame.
	ErrTruncated = errors.New("truncated")
	// ErrDamaged: a frame fails its checksum, or the stream does not match its end frame.
	ErrDamaged = errors.New("damaged")
	// ErrNotStream: the input does not start with a pagetrack stream.
	ErrNotStream = errors.New("not a pagetrack stream")
)

// Meta is the host's metadata of the snapshot a stream holds: the 'M' frame, as JSON. The
// source's own metadata (LSNs, binlog position, GTID set, counts) is in its Header and
// Trailer records. Readers ignore fields they do not know; fields are added, never renamed.
type Meta struct {
	// ID is the snapshot's id: 16 hex characters.
	ID string `json:"id"`
	// Time is when the host started the backup.
	Time time.Time `json:"time"`
	// Host names the program that wrote the stream ("host-example").
	Host string `json:"host"`
	// Source and SourceType are the source block's name and type; the type names the
	// plugin that restores it.
	Source     string `json:"source"`
	SourceType string `json:"source_type"`
	// Kind is "full" or "incremental".
	Kind string `json:"kind"`
	// Parent is the id of the stream an incremental builds on, ParentSHA256 that stream's
	// SHA-256 (the one its end frame carries, hex). Both are empty for a full backup.
	Parent       string `json:"parent"`
	ParentSHA256 string `json:"parent_sha256"`
	// Config holds the source's non-sensitive configuration attributes.
	Config map[string]any `json:"config,omitempty"`
}

// Incremental reports whether the stream builds on a parent.
func (m *Meta) Incremental() bool { return m.Kind == shared.KindIncremental || m.Parent != "" }

// End is what a stream's end frame says.
type End struct {
	// Records is the number of record frames.
	Records uint64
	// SHA256 is the digest of every byte before the end frame.
	SHA256 []byte
	// Bytes is the stream's length, end frame included.
	Bytes int64
}

// Hex is the SHA-256 in hex, as Meta.ParentSHA256 names it.
func (e *End) Hex() string { return hex.EncodeToString(e.SHA256) }

// Writer writes one stream. It buffers; Close writes the end frame and flushes.
type Writer struct {
	bw    *bufio.Writer
	h     hash.Hash
	n     uint64
	bytes int64
	buf   []byte
	err   error // sticky
	end   *End
}

// NewWriter starts a stream on w with its magic, version and metadata frame.
func NewWriter(w io.Writer, meta *Meta) (*Writer, error) {
	js, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	if len(js) > maxMeta {
		return nil, fmt.Errorf("stream metadata of %d bytes exceeds the %d-byte limit", len(js), maxMeta)
	}
	sw := &Writer{bw: bufio.NewWriterSize(w, 1<<20), h: sha256.New()}
	sw.write(binary.BigEndian.AppendUint32([]byte(Magic), Version))
	sw.frame(frameMeta, js)
	return sw, sw.err
}

func (w *Writer) write(p []byte) {
	if w.err != nil {
		return
	}
	w.h.Write(p)
	n, err := w.bw.Write(p)
	w.bytes += int64(n)
	w.err = err
}

func (w *Writer) frame(typ byte, payload []byte) {
	var head [headLen]byte
	head[0] = typ
	binary.BigEndian.PutUint32(head[1:5], uint32(len(payload)))
	crc := crc32.Update(crc32.Checksum(head[:5], castagnoli), castagnoli, payload)
	binary.BigEndian.PutUint32(head[5:9], crc)
	w.write(head[:])
	w.write(payload)
}

// WriteRecord writes one record. Progress records are advisory and not written.
func (w *Writer) WriteRecord(rec *shared.Record) error {
	if w.end != nil {
		return errors.New("pgstream: write after Close")
	}
	if rec.Progress != nil {
		return w.err
	}
	w.buf = shared.AppendRecord(w.buf[:0], rec)
	switch {
	case len(w.buf) <= 1:
		return errors.New("pgstream: empty record")
	case len(w.buf) > MaxFrame:
		return fmt.Errorf("pgstream: a record of %d bytes exceeds the %d-byte frame limit", len(w.buf), MaxFrame)
	}
	w.frame(frameRecord, w.buf)
	w.n++
	return w.err
}

// Records is the number of records written so far.
func (w *Writer) Records() uint64 { return w.n }

// Close writes the end frame and flushes. It does not close the underlying writer.
func (w *Writer) Close() (*End, error) {
	if w.end != nil {
		return w.end, nil
	}
	if w.err != nil {
		return nil, w.err
	}
	sum := w.h.Sum(nil)
	w.frame(frameEnd, append(binary.BigEndian.AppendUint64(nil, w.n), sum...))
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	if w.err != nil {
		return nil, w.err
	}
	w.end = &End{Records: w.n, SHA256: sum, Bytes: w.bytes}
	return w.end, nil
}

// Reader reads the streams of one input, one after the other.
type Reader struct {
	br     *bufio.Reader
	offset int64 // bytes of the input consumed
	count  int   // streams started
	cur    *Stream
}

// NewReader reads streams from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 256<<10)}
}

// Next starts the next stream: it reads the magic, the version and the metadata frame. It
// returns io.EOF when the input ends where a stream could begin (never before the first
// stream: an empty input is ErrTruncated). The previous stream must have been read to its end.
func (r *Reader) Next() (*Stream, error) {
	if r.cur != nil && r.cur.end == nil {
		return nil, errors.New("pgstream: Next before the previous stream was read to its end")
	}
	if _, err := r.br.Peek(1); err == io.EOF {
		if r.count == 0 {
			return nil, fmt.Errorf("%w: the input is empty", ErrTruncated)
		}
		return nil, io.EOF
	}
	s := &Stream{r: r, Index: r.count + 1, start: r.offset, h: sha256.New()}
	r.count++
	r.cur = s
	head := make([]byte, len(Magic)+4)
	if err := s.read(head); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, s.fail(fmt.Errorf("%w: the input ends %d bytes into it, inside the stream's opening", ErrTruncated, s.offset()))
		}
		return nil, s.fail(err)
	}
	if !bytes.Equal(head[:len(Magic)], []byte(Magic)) {
		if r.count == 1 {
			return nil, s.fail(fmt.Errorf("%w: the input does not start with %q (is it the output of `host-example backup --stdout`?)", ErrNotStream, Magic))
		}
		return nil, s.fail(fmt.Errorf("%w: the input holds bytes after stream %d that do not start another stream", ErrNotStream, r.count-1))
	}
	if v := binary.BigEndian.Uint32(head[len(Magic):]); v != Version {
		return nil, s.fail(fmt.Errorf("the stream is in format version %d; this host-example reads version %d: use a host-example of the release that wrote it", v, Version))
	}
	typ, payload, err := s.frame()
	if err != nil {
		return nil, s.fail(err)
	}
	if typ != frameMeta {
		return nil, s.fail(fmt.Errorf("%w: its first frame is of type %q, not the metadata frame", ErrDamaged, typ))
	}
	if err := json.Unmarshal(payload, &s.Meta); err != nil {
		return nil, s.fail(fmt.Errorf("%w: its metadata frame does not decode: %v", ErrDamaged, err))
	}
	return s, nil
}

// Stream is one stream of a Reader's input. It is a shared.RecordStream.
type Stream struct {
	// Meta is the stream's metadata frame.
	Meta Meta
	// Index is the stream's position in the input, from 1.
	Index int

	r       *Reader
	start   int64 // input offset of the magic
	h       hash.Hash
	records uint64
	end     *End
	err     error // sticky
}

var _ shared.RecordStream = (*Stream)(nil)

// Recv returns the next record. After the last one it reads the end frame, checks the record
// count and the SHA-256 against it and returns io.EOF; End then returns the end frame.
func (s *Stream) Recv() (*shared.Record, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.end != nil {
		return nil, io.EOF
	}
	sum := s.h.Sum(nil) // of everything before the frame about to be read
	typ, payload, err := s.frame()
	if err != nil {
		return nil, s.fail(err)
	}
	switch typ {
	case frameRecord:
		rec, err := shared.DecodeRecord(payload)
		if err != nil {
			return nil, s.fail(fmt.Errorf("%w: record %d does not decode although its frame's checksum matches: %v", ErrDamaged, s.records+1, err))
		}
		s.records++
		return rec, nil
	case frameEnd:
		if len(payload) != endLen {
			return nil, s.fail(fmt.Errorf("%w: its end frame is %d bytes, not %d", ErrDamaged, len(payload), endLen))
		}
		if n := binary.BigEndian.Uint64(payload[:8]); n != s.records {
			return nil, s.fail(fmt.Errorf("%w: its end frame counts %d records, %d came before it", ErrDamaged, n, s.records))
		}
		if !bytes.Equal(payload[8:], sum) {
			return nil, s.fail(fmt.Errorf("%w: its SHA-256 %x is not the %x its end frame records", ErrDamaged, sum, payload[8:]))
		}
		s.end = &End{Records: s.records, SHA256: sum, Bytes: s.offset()}
		return nil, io.EOF
	case frameMeta:
		return nil, s.fail(fmt.Errorf("%w: a second metadata frame follows record %d", ErrDamaged, s.records))
	default:
		return nil, s.fail(fmt.Errorf("%w: frame after record %d has the unknown type 0x%02x", ErrDamaged, s.records, typ))
	}
}

// End returns the end frame once Recv returned io.EOF, else nil.
func (s *Stream) End() *End { return s.end }

// Records is the number of records read so far.
func (s *Stream) Records() uint64 { return s.records }

// offset is the number of bytes of the stream consumed so far.
func (s *Stream) offset() int64 { return s.r.offset - s.start }

func (s *Stream) fail(err error) error {
	if s.err == nil {
		s.err = err
	}
	return s.err
}

// read fills p from the input and folds it into the stream's hash.
func (s *Stream) read(p []byte) error {
	n, err := io.ReadFull(s.r.br, p)
	s.r.offset += int64(n)
	s.h.Write(p[:n])
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// frame reads one frame and checks its CRC.
func (s *Stream) frame() (byte, []byte, error) {
	at := s.offset()
	var head [headLen]byte
	if err := s.read(head[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, s.truncated(at)
		}
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(head[1:5])
	if n > MaxFrame {
		return 0, nil, fmt.Errorf("%w: the frame at byte %d after record %d has an impossible length %d", ErrDamaged, at, s.records, n)
	}
	payload, err := s.payload(n)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, s.truncated(at)
		}
		return 0, nil, err
	}
	crc := crc32.Update(crc32.Checksum(head[:5], castagnoli), castagnoli, payload)
	if want := binary.BigEndian.Uint32(head[5:9]); crc != want {
		return 0, nil, fmt.Errorf("%w: the frame at byte %d (after record %d) fails its CRC-32C (%08x, stored %08x)", ErrDamaged, at, s.records, crc, want)
	}
	return head[0], payload, nil
}

// payload reads n bytes, allocating as they arrive: a damaged length in a cut stream costs
// no more memory than the bytes that are there.
func (s *Stream) payload(n uint32) ([]byte, error) {
	if n <= 1<<20 {
		p := make([]byte, n)
		return p, s.read(p)
	}
	var buf bytes.Buffer
	got, err := io.CopyN(&buf, s.r.br, int64(n))
	s.r.offset += got
	s.h.Write(buf.Bytes())
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return buf.Bytes(), err
}

func (s *Stream) truncated(at int64) error {
	if s.offset() == at {
		return fmt.Errorf("%w: it ends after record %d (byte %d) without its end frame", ErrTruncated, s.records, at)
	}
	return fmt.Errorf("%w: it ends in the middle of the frame at byte %d, after record %d (or that frame's length is damaged)", ErrTruncated, at, s.records)
}
