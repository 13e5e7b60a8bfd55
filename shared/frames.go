package shared

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// Frames are how the frames wire (BackupFrames, RestoreFrames; the choice is argued in doc.go)
// carries records: a big-endian u32 length n, 1 ≤ n ≤ MaxRecordBytes, then n bytes of one
// record's codec encoding (AppendRecord). The codec is the one encoding of a record, so the
// wire needs no change when a stream format adds fields, and a receiver decodes with
// DecodeRecord, whose payloads alias the frame: nothing is converted field by field.

// frameHeadBytes is the size of a frame's length prefix.
const frameHeadBytes = 4

// frameRule words a refusal of a forged frame.
func frameError(n uint64, rule string) error {
	return &StreamError{Index: n, Kind: RecordInvalid, Rule: rule}
}

// checkFrameLen refuses a claimed frame length before anything is allocated for it.
func checkFrameLen(n uint64, size uint32) error {
	switch {
	case size == 0:
		return frameError(n, "an empty frame (a frame holds one record's encoding)")
	case size > MaxRecordBytes:
		return frameError(n, fmt.Sprintf("a frame of %d bytes, over the %d-byte limit (MaxRecordBytes)", size, MaxRecordBytes))
	}
	return nil
}

// decodeFrame decodes the record a frame of n holds; a malformed encoding is ErrBadStream.
func decodeFrame(n uint64, b []byte) (*Record, error) {
	if len(b) == 1 && b[0] == invalidRecordFrame[0] {
		return &Record{}, nil // the consumer's StreamChecker refuses it
	}
	r, err := DecodeRecord(b)
	if err != nil {
		return nil, frameError(n, fmt.Sprintf("the frame holds no valid record encoding (%v)", err))
	}
	return r, nil
}

// ---------------------------------------------------------------------------------------------
// Sending.

// frameSink takes a run of bytes made of whole frames. bulk reports whether it sends large
// payloads without copying them (a socket: writev), which makes the writer pass them apart.
type frameSink interface {
	write(bufs ...[]byte) error
	bulk() bool
}

// frameWriter batches records into frames for a sink: small records gather in buf until it
// holds batchBytes or the writer is flushed; a large payload of a bulk sink is passed as it
// is after its head, never copied.
type frameWriter struct {
	sink       frameSink
	buf        []byte
	batchBytes int
	n          uint64 // records written, for messages
	what       string // "backup" or "restore", for messages
}

// frameTooLargeError: a record whose encoding exceeds MaxRecordBytes (its source's fault).
type frameTooLargeError struct{ msg string }

func (e *frameTooLargeError) Error() string { return e.msg }

// invalidRecordFrame is the encoding a record with no field set (or several) travels as: a
// kind byte no record has, so the receiver yields an empty Record and its StreamChecker
// refuses it with the error every consumer gives.
var invalidRecordFrame = []byte{byte(RecordInvalid)}

// bulkPayloadBytes is the payload size from which a bulk sink gets the payload apart.
const bulkPayloadBytes = 32 << 10

func newFrameWriter(sink frameSink, batchBytes int) *frameWriter {
	return &frameWriter{sink: sink, batchBytes: batchBytes, what: "backup", buf: make([]byte, 0, batchBytes+64<<10)}
}

// add appends r's frame, sending what is batched when the frame would not fit.
func (w *frameWriter) add(r *Record) error {
	w.n++
	start := len(w.buf)
	w.buf = append(w.buf, 0, 0, 0, 0)
	var payload []byte
	w.buf, payload = appendRecordHead(w.buf, r)
	size := len(w.buf) - start - frameHeadBytes + len(payload)
	if size > MaxRecordBytes {
		w.buf = w.buf[:start]
		return &frameTooLargeError{fmt.Sprintf("%s record %d (%s) encodes to %d bytes, over the %d-byte limit (MaxRecordBytes): the source must keep payloads within MaxPayloadBytes (%d)",
			w.what, w.n, r.Kind(), size, MaxRecordBytes, MaxPayloadBytes)}
	}
	binary.BigEndian.PutUint32(w.buf[start:], uint32(size))
	return w.place(start, payload)
}

// addFrame appends a frame holding enc as it is.
func (w *frameWriter) addFrame(enc []byte) error {
	w.n++
	start := len(w.buf)
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(enc)))
	return w.place(start, enc)
}

// place completes the frame whose head is w.buf[start:] with its payload: passed apart to
// a bulk sink when large, else batched (the batch sent first when the frame would not fit).
func (w *frameWriter) place(start int, payload []byte) error {
	if w.sink.bulk() && len(payload) >= bulkPayloadBytes {
		err := w.sink.write(w.buf, payload)
		w.buf = w.buf[:0]
		return err
	}
	if start > 0 && len(w.buf)+len(payload) > w.batchBytes {
		// The batch is full: send it without this frame, which starts the next one.
		head := append([]byte(nil), w.buf[start:]...)
		if err := w.sink.write(w.buf[:start]); err != nil {
			return err
		}
		w.buf = append(w.buf[:0], head...)
	}
	w.buf = append(w.buf, payload...)
	if len(w.buf) >= w.batchBytes {
		return w.flush()
	}
	return nil
}

// flush sends what is batched.
func (w *frameWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.sink.write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// connSink sends frames over a connection, large payloads by writev.
type connSink struct{ conn net.Conn }

func (s connSink) bulk() bool { return true }
func (s connSink) write(bufs ...[]byte) error {
	nb := net.Buffers(bufs)
	_, err := nb.WriteTo(s.conn)
	return err
}

// ---------------------------------------------------------------------------------------------
// Receiving.

// splitFrame takes the first frame of b, which must hold it whole.
func splitFrame(n uint64, b []byte) (frame, rest []byte, err error) {
	if len(b) < frameHeadBytes {
		return nil, nil, frameError(n, fmt.Sprintf("a truncated frame (%d bytes of its %d-byte length)", len(b), frameHeadBytes))
	}
	size := binary.BigEndian.Uint32(b)
	if err := checkFrameLen(n, size); err != nil {
		return nil, nil, err
	}
	b = b[frameHeadBytes:]
	if uint64(len(b)) < uint64(size) {
		return nil, nil, frameError(n, fmt.Sprintf("a truncated frame (%d of its %d bytes)", len(b), size))
	}
	return b[:size:size], b[size:], nil
}

// batchReader yields the records of FrameBatch messages: next returns the next batch's
// frames, io.EOF at the end. Frames alias the batch, which the receiver does not reuse.
type batchReader struct {
	next  func() ([]byte, error)
	batch []byte
	n     uint64
}

func (r *batchReader) Recv() (*Record, error) {
	for len(r.batch) == 0 {
		b, err := r.next()
		if err != nil {
			return nil, err
		}
		r.batch = b
	}
	r.n++
	frame, rest, err := splitFrame(r.n, r.batch)
	if err != nil {
		return nil, err
	}
	r.batch = rest
	return decodeFrame(r.n, frame)
}

// truncatedFrames is the StreamError of a frame stream cut inside a frame: the sender's
// exit explains that better than the cut, when it is known.
type truncatedFrames struct{ *StreamError }

func (e *truncatedFrames) Unwrap() error { return e.StreamError }

// connReaderArena is the size of the buffers a connReader reads into, after a first one of
// connReaderFirstArena.
const (
	connReaderArena      = 4 << 20
	connReaderFirstArena = 64 << 10
)

// connReader yields the records of a frame stream read from r (the bulk socket). It reads
// as much as the connection holds into an arena and decodes frames where they lie; a
// returned record aliases its arena, so an arena is never written again once a frame in it
// was returned (a consumer may keep records), and a new one replaces it when full. Nothing
// is allocated for a claimed length before checkFrameLen: at most max(arena, MaxRecordBytes+4).
type connReader struct {
	r        io.Reader
	arena    []byte
	pos, end int // unread bytes: arena[pos:end]
	n        uint64
	err      error // sticky
}

func newConnReader(r io.Reader) *connReader { return &connReader{r: r} }

func (c *connReader) Recv() (*Record, error) {
	if c.err != nil {
		return nil, c.err
	}
	r, err := c.recv()
	if err != nil {
		c.err = err
	}
	return r, err
}

func (c *connReader) recv() (*Record, error) {
	c.n++
	if err := c.fill(frameHeadBytes); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(c.arena[c.pos:])
	if err := checkFrameLen(c.n, size); err != nil {
		return nil, err
	}
	if err := c.fill(frameHeadBytes + int(size)); err != nil {
		return nil, err
	}
	start := c.pos + frameHeadBytes
	c.pos = start + int(size)
	return decodeFrame(c.n, c.arena[start:c.pos:c.pos])
}

// fill makes arena[pos:end] hold at least want bytes, reading what the connection has. A
// clean end before a frame's first byte is io.EOF; an end inside a frame is ErrBadStream.
func (c *connReader) fill(want int) error {
	if c.end-c.pos >= want {
		return nil
	}
	if len(c.arena)-c.pos < want {
		// Too little room: a fresh arena (the old one may back returned records), with the
		// unread tail, a part of one frame, moved over.
		size := connReaderArena
		if c.arena == nil {
			size = connReaderFirstArena // a short stream (an incremental of a few pages) stays small
		}
		arena := make([]byte, max(size, want))
		c.end = copy(arena, c.arena[c.pos:c.end])
		c.arena, c.pos = arena, 0
	}
	for c.end-c.pos < want {
		k, err := c.r.Read(c.arena[c.end:])
		c.end += k
		if c.end-c.pos >= want {
			return nil
		}
		if errors.Is(err, io.EOF) {
			if c.end == c.pos {
				return io.EOF
			}
			return &truncatedFrames{&StreamError{Index: c.n, Kind: RecordInvalid,
				Rule: fmt.Sprintf("the frame stream ends inside a frame (%d bytes of at least %d)", c.end-c.pos, want)}}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
