package shared

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	sourcev1 "github.com/pagetrack/pagetrack/shared/proto"
)

// The frames wire (BackupFrames, RestoreFrames; doc.go argues it). The old Backup and Restore
// calls stay served, and a host falls back to them when a plugin answers UNIMPLEMENTED.

// Wire names how records cross between host and plugin.
type Wire int32

const (
	// WireAuto: frames over the bulk socket when the host can make one, else frames in the
	// call's messages; the per-field Record messages with a plugin that has no frames.
	WireAuto Wire = iota
	// WireRecords: one protobuf Record per message (Backup, Restore), the wire before issue 11.
	WireRecords
	// WireFrames: frames in FrameBatch messages of the gRPC call.
	WireFrames
	// WireBulk: frames over a unix socket the host listens on (backups; restores use WireFrames).
	WireBulk
)

func (w Wire) String() string {
	switch w {
	case WireRecords:
		return "records"
	case WireFrames:
		return "frames"
	case WireBulk:
		return "bulk"
	}
	return "auto"
}

// SetWire makes a Source dispensed by ClientPlugins use wire (for tests and benchmarks; a
// host keeps WireAuto). It reports false for any other Source.
func SetWire(src Source, wire Wire) bool {
	c, ok := src.(*gRPCClient)
	if ok {
		c.wire.Store(int32(wire))
	}
	return ok
}

// LastWire reports the wire the last backup or restore of a dispensed Source used: WireAuto
// before the first, or for another Source.
func LastWire(src Source) Wire {
	if c, ok := src.(*gRPCClient); ok {
		return Wire(c.used.Load())
	}
	return WireAuto
}

const (
	// grpcBatchBytes is the most frames a FrameBatch message holds: one record of
	// MaxRecordBytes (with its length) fits, and the message stays under grpcMessageLimit.
	grpcBatchBytes = MaxRecordBytes + frameHeadBytes
	// bulkBatchBytes is how many bytes of small frames the bulk socket's writer gathers
	// before a write.
	bulkBatchBytes = 256 << 10
	// bulkTokenBytes is the size of the token that proves a bulk connection is the plugin's.
	bulkTokenBytes = 32
	// bulkConnectTimeout bounds connecting to the bulk socket and presenting the token.
	bulkConnectTimeout = 10 * time.Second
	// framesHeaderKey is the header a RestoreFrames server sends before anything else, so a
	// host knows the call is served before it sends any record.
	framesHeaderKey = "pagetrack-frames"
	// bulkAck is the byte a host answers a bulk connection's token with.
	bulkAck = 'A'
)

// ---------------------------------------------------------------------------------------------
// Plugin side.

// BackupFrames is Backup over frames, in the call's messages or over the host's bulk socket.
func (s *gRPCServer) BackupFrames(req *sourcev1.BackupRequest, stream grpc.ServerStreamingServer[sourcev1.FrameBatch]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	var sink frameSink = batchSink{send: func(b []byte) error { return stream.Send(&sourcev1.FrameBatch{Frames: b}) }}
	batch := grpcBatchBytes
	var conn net.Conn
	if path := req.GetBulkSocket(); path != "" {
		var err error
		if conn, err = dialBulk(ctx, path, req.GetBulkToken()); err != nil {
			return status.Errorf(codes.FailedPrecondition, "the plugin cannot connect to the host's bulk socket %s: %v", path, err)
		}
		defer conn.Close()
		defer context.AfterFunc(ctx, func() { conn.Close() })()
		sink, batch = connSink{conn: conn}, bulkBatchBytes
	}
	cfg := configFromProto(req.GetConfig())
	breq := &BackupRequest{Config: cfg}
	if req.GetBase() != nil {
		breq.Base = &BaseSnapshot{State: req.GetBase().GetState()}
	}
	records, err := s.impl.Backup(ctx, breq)
	if err != nil {
		return toStatus(err, s.secrets(ctx, cfg)...)
	}
	err = s.sendFrames(ctx, records, newFrameWriter(sink, batch), cfg)
	if err == nil && conn != nil {
		if err = conn.Close(); err != nil { // the host reads the end of the frames from it
			err = status.Errorf(codes.Internal, "closing the bulk socket: %v", err)
		}
	}
	return err
}

// dialBulk connects to the host's bulk socket and presents the token.
func dialBulk(ctx context.Context, path string, token []byte) (net.Conn, error) {
	d := net.Dialer{Timeout: bulkConnectTimeout}
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	// The host answers the token with one byte once it has taken the connection: only then
	// may the call end, so a host never sees the call's outcome before a connection it holds.
	_ = conn.SetDeadline(time.Now().Add(bulkConnectTimeout))
	ack := []byte{0}
	if _, err := conn.Write(token); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := io.ReadFull(conn, ack); err != nil || ack[0] != bulkAck {
		conn.Close()
		return nil, fmt.Errorf("the host did not take the connection (%v)", err)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// sendFrames sends a backup's records until io.EOF, as statuses for the host.
func (s *gRPCServer) sendFrames(ctx context.Context, records RecordStream, w *frameWriter, cfg Config) error {
	recvErr, err := pumpFrames(ctx, records, w, false)
	switch {
	case recvErr != nil:
		return toStatus(recvErr, s.secrets(ctx, cfg)...)
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return toStatus(ctx.Err())
	}
	var se *StreamError
	if errors.As(err, &se) {
		return toStatus(err) // a record that cannot be encoded
	}
	var tooLarge *frameTooLargeError
	if errors.As(err, &tooLarge) {
		return status.Error(codes.Internal, err.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err // the call's own error
	}
	return status.Errorf(codes.Internal, "sending frames: %v", err)
}

// pumpFrames adds records to w until io.EOF (then flushes and returns nil, nil). A goroutine
// reads records ahead of the writer, so producing the next record (reading, digesting)
// overlaps sending this one, and the writer sends what it has gathered whenever no record is
// ready: small records travel together, none waits for a later one. recvErr is the error
// records ended with, after what came before it was sent; err any other (the writer's, ctx's,
// a record that cannot be framed). A record with no field set is refused with the stream
// kernel's error on the plugin's side; on the host's side (a restore) it is sent as
// invalidRecordFrame for the plugin's StreamChecker to refuse.
//
// On the host's side it returns only once the reader is done with records, which the caller
// may close then; a plugin's source may block in Recv past its context, so there it does not
// wait.
func pumpFrames(ctx context.Context, records RecordStream, w *frameWriter, hostSide bool) (recvErr, err error) {
	ctx, cancel := context.WithCancel(ctx)
	readerDone := make(chan struct{})
	defer func() {
		cancel() // stops the reader when the writer gives up
		if hostSide {
			<-readerDone
		}
	}()
	type next struct {
		r   *Record
		err error
	}
	ahead := make(chan next, 8)
	go func() {
		defer close(readerDone)
		for {
			r, err := records.Recv()
			select {
			case ahead <- next{r, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		var n next
		select {
		case n = <-ahead:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		switch {
		case n.err != nil:
			// What arrived before the error reaches the receiver first, as on the old wire.
			if err := w.flush(); err != nil {
				return nil, err
			}
			if n.err == io.EOF {
				return nil, nil
			}
			return n.err, nil
		case n.r.Kind() != RecordInvalid:
			err = w.add(n.r)
		case hostSide:
			err = w.addFrame(invalidRecordFrame)
		default:
			return nil, &StreamError{Index: w.n + 1, Kind: RecordInvalid, Rule: ruleOneField}
		}
		var tooLarge *frameTooLargeError
		if errors.As(err, &tooLarge) {
			if ferr := w.flush(); ferr != nil { // the records before it reach the receiver
				return nil, ferr
			}
			return nil, err
		}
		if err == nil && len(ahead) == 0 {
			err = w.flush()
		}
		if err != nil {
			return nil, err
		}
	}
}

// batchSink sends frames as FrameBatch messages.
type batchSink struct{ send func([]byte) error }

func (s batchSink) bulk() bool { return false }
func (s batchSink) write(bufs ...[]byte) error {
	if len(bufs) == 1 {
		return s.send(bufs[0])
	}
	var b []byte
	for _, p := range bufs {
		b = append(b, p...)
	}
	return s.send(b)
}

// RestoreFrames is Restore over frames in the call's messages.
func (s *gRPCServer) RestoreFrames(stream grpc.ClientStreamingServer[sourcev1.FrameBatch, sourcev1.RestoreResult]) error {
	if err := stream.SendHeader(metadata.Pairs(framesHeaderKey, "1")); err != nil {
		return err
	}
	first, err := stream.Recv()
	if err == io.EOF {
		return status.Error(codes.InvalidArgument, "restore stream ended before its request")
	}
	if err != nil {
		return err
	}
	preq := first.GetRestore()
	if preq == nil || len(first.GetFrames()) != 0 {
		return status.Error(codes.InvalidArgument, "the first RestoreFrames message must carry the RestoreRequest and no frames")
	}
	ctx := stream.Context()
	frames := &batchReader{next: func() ([]byte, error) {
		msg, err := stream.Recv()
		if err == io.EOF {
			return nil, io.EOF
		}
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, err
		}
		if msg.GetRestore() != nil {
			return nil, InvalidConfig("a RestoreFrames message after the first carries a RestoreRequest")
		}
		return msg.GetFrames(), nil
	}}
	req := restoreRequestFromProto(preq)
	res, err := s.impl.Restore(ctx, req, frames)
	if err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(restoreResultToProto(res))
}

// ---------------------------------------------------------------------------------------------
// Host side.

// errNoFrames: the plugin does not serve the frames calls; the caller uses the old ones.
var errNoFrames = errors.New("the plugin does not serve the frames wire")

// framesWire returns the wire a call should try first (WireRecords: the old calls only).
func (c *gRPCClient) framesWire() Wire {
	w := Wire(c.wire.Load())
	if w == WireAuto && c.noFrames.Load() {
		return WireRecords
	}
	return w
}

// backupFrames starts BackupFrames: over a bulk socket unless wire is WireFrames or the host
// cannot listen on one. errNoFrames when the plugin answers UNIMPLEMENTED.
func (c *gRPCClient) backupFrames(ctx context.Context, preq *sourcev1.BackupRequest, wire Wire) (*clientFrameStream, error) {
	var ln *bulkListener
	if wire != WireFrames {
		var err error
		if ln, err = listenBulk(); err != nil && wire == WireBulk {
			return nil, fmt.Errorf("the bulk socket: %w", err)
		}
	}
	if ln != nil {
		defer ln.close()
		preq.BulkSocket, preq.BulkToken = ln.path, ln.token
	}
	cctx, release := c.callContext(ctx)
	stream, err := c.client.BackupFrames(cctx, preq)
	if err != nil {
		release()
		return nil, c.fromStatus(ctx, err)
	}
	s := &clientFrameStream{c: c, ctx: ctx, release: release}
	if ln == nil {
		s.wire = WireFrames
		s.frames = &batchReader{next: func() ([]byte, error) {
			msg, err := stream.Recv()
			if err == nil {
				return msg.GetFrames(), nil
			}
			if err == io.EOF {
				return nil, io.EOF
			}
			return nil, c.fromStatus(ctx, err)
		}}
		s.outcome = func() error { return nil } // the messages' own end says it
		return s, nil
	}
	// The call carries no message over a bulk socket, only its outcome.
	outcome := make(chan error, 1)
	go func() {
		_, err := stream.Recv()
		switch {
		case err == nil:
			err = errors.New("the plugin sent a message on a BackupFrames call over the bulk socket")
		case err == io.EOF:
			err = nil
		default:
			err = c.fromStatus(ctx, err)
		}
		outcome <- err
	}()
	conn, err := ln.accept(outcome)
	if err != nil {
		release()
		if errors.Is(err, ErrUnsupported) {
			// UNIMPLEMENTED before connecting: the plugin has no BackupFrames.
			return nil, fmt.Errorf("%w: %w", errNoFrames, err)
		}
		return nil, err
	}
	stopClose := context.AfterFunc(cctx, func() { conn.Close() })
	s.wire = WireBulk
	s.frames = newConnReader(conn)
	s.outcome = func() error {
		conn.Close() // a plugin still writing fails now instead of blocking
		return <-outcome
	}
	s.release = func() {
		stopClose()
		conn.Close()
		release()
	}
	return s, nil
}

// bulkListener is the unix socket of one backup, in a directory only this user can enter.
type bulkListener struct {
	ln    *net.UnixListener
	dir   string
	path  string
	token []byte
}

// maxSocketPath is the longest unix socket path Linux takes (sun_path is 108 bytes).
const maxSocketPath = 107

func listenBulk() (*bulkListener, error) {
	token := make([]byte, bulkTokenBytes)
	if _, err := rand.Read(token); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pagetrack-bulk-") // mode 0700
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "s")
	if len(path) > maxSocketPath {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("the socket path %s is longer than a unix socket path may be", path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &bulkListener{ln: ln, dir: dir, path: path, token: token}, nil
}

func (l *bulkListener) close() {
	l.ln.Close()
	os.RemoveAll(l.dir)
}

// accept waits for the plugin's connection and checks its token, or for the call's outcome
// if the call ends first (the plugin refused the backup or has no BackupFrames).
func (l *bulkListener) accept(outcome <-chan error) (net.Conn, error) {
	type accepted struct {
		conn net.Conn
		err  error
	}
	got := make(chan accepted, 1)
	go func() {
		conn, err := l.ln.Accept()
		got <- accepted{conn, err}
	}()
	// The plugin ends the call only after the host's answer to its token, so an outcome first
	// means it never connected (no BackupFrames, a refusal, a socket it could not reach).
	var a accepted
	select {
	case a = <-got:
	case err := <-outcome:
		l.close()
		if a := <-got; a.conn != nil {
			a.conn.Close()
		}
		if err == nil {
			err = errors.New("the plugin ended BackupFrames without connecting to the bulk socket")
		}
		return nil, err
	}
	if a.err != nil {
		return nil, fmt.Errorf("accepting the plugin's bulk connection: %w", a.err)
	}
	token := make([]byte, len(l.token))
	_ = a.conn.SetDeadline(time.Now().Add(bulkConnectTimeout))
	if _, err := io.ReadFull(a.conn, token); err != nil || subtle.ConstantTimeCompare(token, l.token) != 1 {
		a.conn.Close()
		return nil, fmt.Errorf("the connection to the bulk socket %s did not present the backup's token", l.path)
	}
	if _, err := a.conn.Write([]byte{bulkAck}); err != nil {
		a.conn.Close()
		return nil, fmt.Errorf("answering the plugin's bulk connection: %w", err)
	}
	_ = a.conn.SetDeadline(time.Time{})
	return a.conn, nil
}

// clientFrameStream is the RecordStream a host reads a backup over frames from.
type clientFrameStream struct {
	c       *gRPCClient
	ctx     context.Context
	wire    Wire
	frames  RecordStream // the records of the frames; io.EOF where they end cleanly
	outcome func() error // the call's outcome once the frames ended
	release func()
	first   *Record // received by Backup, not yet returned
	err     error   // sticky: io.EOF or the error that ended the stream
}

// start waits for the first record, as Backup does on every wire: errors the source reports
// before streaming come back from Backup itself.
func (s *clientFrameStream) start() (RecordStream, error) {
	first, err := s.recv()
	if err != nil && err != io.EOF {
		if s.wire == WireFrames && errors.Is(err, ErrUnsupported) {
			// UNIMPLEMENTED before any frame: no BackupFrames (or a source that refuses
			// backups as unsupported, which then refuses again on the old call).
			return nil, fmt.Errorf("%w: %w", errNoFrames, err)
		}
		return nil, err
	}
	s.first = first
	return s, nil
}

func (s *clientFrameStream) Recv() (*Record, error) {
	if r := s.first; r != nil {
		s.first = nil
		return r, nil
	}
	return s.recv()
}

func (s *clientFrameStream) recv() (*Record, error) {
	if s.err != nil {
		return nil, s.err
	}
	r, err := s.frames.Recv()
	if err == nil {
		return r, nil
	}
	s.err = s.end(err)
	s.release()
	return nil, s.err
}

// end decides what ends the stream once the frames stopped with err. A forged frame is the
// stream's fault at once; any other end (a clean one, a cut in a frame, a broken socket)
// waits for the call's outcome, which explains it best (the plugin's error, its exit).
func (s *clientFrameStream) end(err error) error {
	if ctxErr := s.ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var se *StreamError
	var cut *truncatedFrames
	if errors.As(err, &se) && !errors.As(err, &cut) {
		return err
	}
	if out := s.outcome(); out != nil {
		return out
	}
	if ctxErr := s.ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if err != io.EOF && s.c.gone() {
		return fmt.Errorf("%w: %v", ErrPluginShutdown, err)
	}
	return err
}

// restoreFrames sends a restore over RestoreFrames; errNoFrames when the plugin answers
// UNIMPLEMENTED (before a record was taken from records, so the old call can have them).
func (c *gRPCClient) restoreFrames(ctx context.Context, req *RestoreRequest, records RecordStream) (*RestoreResult, error) {
	cctx, release := c.callContext(ctx)
	defer release()
	stream, err := c.client.RestoreFrames(cctx)
	if err != nil {
		return nil, c.fromStatus(ctx, err)
	}
	if md, _ := stream.Header(); len(md.Get(framesHeaderKey)) == 0 {
		_, err := stream.CloseAndRecv()
		if err == nil {
			err = errors.New("the plugin ended RestoreFrames without a result")
		}
		err = c.fromStatus(ctx, err)
		if errors.Is(err, ErrUnsupported) {
			return nil, fmt.Errorf("%w: %w", errNoFrames, err)
		}
		return nil, err
	}
	err = stream.Send(&sourcev1.FrameBatch{Restore: restoreRequestToProto(req)})
	if err == nil {
		w := newFrameWriter(batchSink{send: func(b []byte) error { return stream.Send(&sourcev1.FrameBatch{Frames: b}) }}, grpcBatchBytes)
		w.what = "restore"
		var recvErr error
		if recvErr, err = pumpFrames(cctx, records, w, true); recvErr != nil {
			return nil, recvErr
		}
		var tooLarge *frameTooLargeError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
	}
	// io.EOF from Send means the plugin ended the call early; CloseAndRecv says why.
	if err != nil && err != io.EOF {
		return nil, c.fromStatus(ctx, err)
	}
	res, err := stream.CloseAndRecv()
	if err != nil {
		return nil, c.fromStatus(ctx, err)
	}
	return restoreResultFromProto(res), nil
}
