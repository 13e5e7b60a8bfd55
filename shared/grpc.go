package shared

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sourcev1 "github.com/pagetrack/pagetrack/shared/proto"
)

// MaxRecordBytes bounds one Record on the wire: its protobuf encoding (records wire) or its
// codec encoding (frames wire) never exceeds it. A
// plugin's server refuses to send a larger record and fails the backup with an Internal error
// that says so; a host's client refuses to send one on restore.
const MaxRecordBytes = 1 << 20

// MaxPayloadBytes is the most bytes a Source may put in the Data of one PageBatch,
// RedoSegment, BinlogChunk or FileChunk. The 64 KiB between it and MaxRecordBytes are
// headroom for the record's other fields (names, paths, offsets) and protobuf framing.
const MaxPayloadBytes = MaxRecordBytes - 64<<10

// grpcMessageLimit is the gRPC message size limit both ends set: a little above MaxRecordBytes,
// so that a RestoreMessage wrapping a record of MaxRecordBytes still passes.
const grpcMessageLimit = MaxRecordBytes + 64<<10

// GRPCDialOptions are the options a host passes as plugin.ClientConfig.GRPCDialOptions: they
// let the client send and receive messages of up to a little more than MaxRecordBytes,
// whatever gRPC's defaults are.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(grpcMessageLimit),
		grpc.MaxCallSendMsgSize(grpcMessageLimit),
	)}
}

// GRPCServerOptions are the matching options for the plugin's gRPC server; Serve uses them.
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(grpcMessageLimit),
		grpc.MaxSendMsgSize(grpcMessageLimit),
	}
}

// ---------------------------------------------------------------------------------------------
// Errors: the one place each way.

// toStatus turns an error of the implementation into the gRPC status the host receives, with
// secrets stripped from its message.
func toStatus(err error, secrets ...string) error {
	code := codes.Internal
	switch {
	case errors.Is(err, ErrInvalidConfig):
		code = codes.InvalidArgument
	case errors.Is(err, ErrPrecondition):
		code = codes.FailedPrecondition
	case errors.Is(err, ErrNoTrailer), errors.Is(err, ErrBadStream):
		code = codes.DataLoss
	case errors.Is(err, ErrUnsupported):
		code = codes.Unimplemented
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, Redact(err.Error(), secrets...))
}

// fromStatus turns an error of a call into the error the host sees in process: the kinds come
// back as *KindError, so errors.Is works the same on both sides. ctx is the caller's context.
func (c *gRPCClient) fromStatus(ctx context.Context, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err // not from gRPC: a conversion error of ours
	}
	code, msg := st.Code(), st.Message()
	switch code {
	case codes.InvalidArgument:
		return &KindError{Kind: ErrInvalidConfig, Msg: msg}
	case codes.FailedPrecondition:
		return &KindError{Kind: ErrPrecondition, Msg: msg}
	case codes.Unimplemented:
		return &KindError{Kind: ErrUnsupported, Msg: msg}
	case codes.DataLoss:
		// Both kinds travel as DataLoss; a StreamError's text starts with ErrBadStream's.
		if strings.HasPrefix(msg, ErrBadStream.Error()+":") {
			return &KindError{Kind: ErrBadStream, Msg: msg}
		}
		return &KindError{Kind: ErrNoTrailer, Msg: msg}
	case codes.Canceled, codes.DeadlineExceeded:
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr // the caller gave up
		}
		// The plugin's copy of the caller's deadline may expire a moment before the caller's.
		if dl, ok := ctx.Deadline(); ok && code == codes.DeadlineExceeded && time.Until(dl) < deadlineSkew {
			return context.DeadlineExceeded
		}
	}
	// Unavailable: the connection broke. Canceled with the plugin gone: go-plugin saw the
	// process exit, or the host closed the connection.
	if code == codes.Unavailable || c.gone() {
		return fmt.Errorf("%w: %s", ErrPluginShutdown, msg)
	}
	switch code {
	case codes.Canceled:
		return &KindError{Kind: context.Canceled, Msg: msg}
	case codes.DeadlineExceeded:
		return &KindError{Kind: context.DeadlineExceeded, Msg: msg}
	}
	return errors.New(msg)
}

// deadlineSkew is how far ahead of the caller's deadline a DeadlineExceeded from the plugin
// still counts as the caller's own.
const deadlineSkew = 100 * time.Millisecond

// gone reports whether the plugin process or the connection to it has ended.
func (c *gRPCClient) gone() bool {
	if c.doneCtx != nil && c.doneCtx.Err() != nil {
		return true
	}
	return c.conn != nil && c.conn.GetState() == connectivity.Shutdown
}

// ---------------------------------------------------------------------------------------------
// Client: what a host holds after dispensing PluginName.

type gRPCClient struct {
	client sourcev1.SourceClient
	conn   *grpc.ClientConn
	// doneCtx is cancelled by go-plugin when the plugin process exits.
	doneCtx context.Context

	wire     atomic.Int32 // the Wire to use (SetWire); WireAuto by default
	used     atomic.Int32 // the Wire of the last backup or restore (LastWire)
	noFrames atomic.Bool  // the plugin answered UNIMPLEMENTED to a frames call
}

var (
	_ Source      = (*gRPCClient)(nil)
	_ PageChecker = (*gRPCClient)(nil)
)

// callContext derives the context of one call: ctx, also cancelled when the plugin exits.
// release must be called when the call is over.
func (c *gRPCClient) callContext(ctx context.Context) (_ context.Context, release func()) {
	ctx, cancel := context.WithCancel(ctx)
	stop := func() bool { return false }
	if c.doneCtx != nil {
		if c.doneCtx.Err() != nil {
			cancel() // now: AfterFunc would cancel from a goroutine of its own, maybe too late
		} else {
			stop = context.AfterFunc(c.doneCtx, cancel)
		}
	}
	return ctx, func() {
		stop()
		cancel()
	}
}

func (c *gRPCClient) Schema(ctx context.Context) (*Schema, error) {
	cctx, release := c.callContext(ctx)
	defer release()
	resp, err := c.client.Schema(cctx, &sourcev1.SchemaRequest{})
	if err != nil {
		return nil, c.fromStatus(ctx, err)
	}
	return schemaFromProto(resp), nil
}

func (c *gRPCClient) ValidateConfig(ctx context.Context, cfg Config) error {
	pcfg, err := configToProto(cfg)
	if err != nil {
		return err
	}
	cctx, release := c.callContext(ctx)
	defer release()
	if _, err := c.client.ValidateConfig(cctx, &sourcev1.ValidateConfigRequest{Config: pcfg}); err != nil {
		return c.fromStatus(ctx, err)
	}
	return nil
}

func (c *gRPCClient) Purge(ctx context.Context, req *PurgeRequest) (*PurgeResult, error) {
	if req == nil {
		return nil, InvalidConfig("Purge needs a PurgeRequest, got nil")
	}
	pcfg, err := configToProto(req.Config)
	if err != nil {
		return nil, err
	}
	cctx, release := c.callContext(ctx)
	defer release()
	resp, err := c.client.Purge(cctx, &sourcev1.PurgeRequest{Config: pcfg, FloorLsn: req.FloorLSN})
	if err != nil {
		return nil, c.fromStatus(ctx, err)
	}
	return &PurgeResult{PurgedUpTo: resp.GetPurgedUpTo(), Message: resp.GetMessage()}, nil
}

// CheckPages asks the plugin to check pages. A plugin without the capability answers
// Unimplemented, which comes back as ErrUnsupported.
func (c *gRPCClient) CheckPages(ctx context.Context, req *CheckPagesRequest) (*CheckPagesResult, error) {
	if req == nil {
		return nil, InvalidConfig("CheckPages needs a CheckPagesRequest, got nil")
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	cctx, release := c.callContext(ctx)
	defer release()
	resp, err := c.client.CheckPages(cctx, &sourcev1.CheckPagesRequest{PageSize: req.PageSize, Compressed: req.Compressed, Pages: req.Pages})
	if err != nil {
		return nil, c.fromStatus(ctx, err)
	}
	pages := uint32(len(req.Pages) / int(req.PageSize))
	res := &CheckPagesResult{}
	for _, f := range resp.GetFailures() {
		if f.GetIndex() >= pages {
			return nil, fmt.Errorf("the plugin reports page %d of a batch of %d pages as failed", f.GetIndex(), pages)
		}
		res.Failures = append(res.Failures, PageFailure{Index: f.GetIndex(), Reason: f.GetReason()})
	}
	return res, nil
}

// Backup starts the call and waits for its first record, so that errors the source reports
// before streaming (invalid configuration, preconditions) come back from Backup itself, as
// they do in process. To abandon the stream before its end, cancel ctx.
func (c *gRPCClient) Backup(ctx context.Context, req *BackupRequest) (RecordStream, error) {
	if req == nil {
		return nil, InvalidConfig("Backup needs a BackupRequest, got nil")
	}
	pcfg, err := configToProto(req.Config)
	if err != nil {
		return nil, err
	}
	preq := &sourcev1.BackupRequest{Config: pcfg}
	if req.Base != nil {
		preq.Base = &sourcev1.BaseSnapshot{State: req.Base.State}
	}
	if wire := c.framesWire(); wire != WireRecords {
		var rs RecordStream
		s, err := c.backupFrames(ctx, preq, wire)
		if err == nil {
			c.used.Store(int32(s.wire))
			rs, err = s.start()
		}
		if !errors.Is(err, errNoFrames) {
			return rs, err
		}
		c.noFrames.Store(true)
		preq.BulkSocket, preq.BulkToken = "", nil
	}
	c.used.Store(int32(WireRecords))
	cctx, release := c.callContext(ctx)
	stream, err := c.client.Backup(cctx, preq)
	if err != nil {
		release()
		return nil, c.fromStatus(ctx, err)
	}
	s := &clientRecordStream{c: c, ctx: ctx, stream: stream, release: release}
	first, err := s.recv()
	if err != nil && err != io.EOF {
		return nil, err
	}
	s.first = first
	return s, nil
}

// clientRecordStream is the RecordStream a host reads a remote backup from.
type clientRecordStream struct {
	c       *gRPCClient
	ctx     context.Context
	stream  grpc.ServerStreamingClient[sourcev1.Record]
	release func()
	first   *Record // received by Backup, not yet returned
	err     error   // sticky: io.EOF or the error that ended the stream
}

func (s *clientRecordStream) Recv() (*Record, error) {
	if r := s.first; r != nil {
		s.first = nil
		return r, nil
	}
	return s.recv()
}

func (s *clientRecordStream) recv() (*Record, error) {
	if s.err != nil {
		return nil, s.err
	}
	msg, err := s.stream.Recv()
	if err == nil {
		var r *Record
		if r, err = recordFromProto(msg); err == nil {
			return r, nil
		}
		err = fmt.Errorf("plugin sent a malformed record: %w", err)
	} else if err != io.EOF {
		err = s.c.fromStatus(s.ctx, err)
	}
	s.err = err
	s.release() // ends the call if it is not over yet
	return nil, err
}

// Restore sends the request, then every record of records up to its io.EOF, then waits for
// the result. An error from records ends the call and is returned as it is.
func (c *gRPCClient) Restore(ctx context.Context, req *RestoreRequest, records RecordStream) (*RestoreResult, error) {
	if req == nil || records == nil {
		return nil, InvalidConfig("Restore needs a RestoreRequest and a RecordStream")
	}
	if wire := c.framesWire(); wire != WireRecords {
		c.used.Store(int32(WireFrames))
		res, err := c.restoreFrames(ctx, req, records)
		if !errors.Is(err, errNoFrames) {
			return res, err
		}
		c.noFrames.Store(true)
	}
	c.used.Store(int32(WireRecords))
	cctx, release := c.callContext(ctx)
	defer release()
	stream, err := c.client.Restore(cctx)
	if err != nil {
		return nil, c.fromStatus(ctx, err)
	}
	err = stream.Send(&sourcev1.RestoreMessage{Message: &sourcev1.RestoreMessage_Request{
		Request: restoreRequestToProto(req),
	}})
	for n := 1; err == nil; n++ {
		var r *Record
		r, err = records.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		var msg *sourcev1.Record
		if r.Kind() == RecordInvalid {
			// Sent as a record with nothing set: the plugin's StreamChecker refuses it with
			// the error every consumer gives, after it has cleared what it wrote.
			msg = &sourcev1.Record{}
		} else if msg, err = recordToProto(r); err != nil {
			return nil, fmt.Errorf("restore record %d: %w", n, err)
		}
		if size := proto.Size(msg); size > MaxRecordBytes {
			return nil, fmt.Errorf("restore record %d (%s) encodes to %d bytes, over the %d-byte limit (MaxRecordBytes)", n, r.Kind(), size, MaxRecordBytes)
		}
		err = stream.Send(&sourcev1.RestoreMessage{Message: &sourcev1.RestoreMessage_Record{Record: msg}})
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

// ---------------------------------------------------------------------------------------------
// Server: what a plugin process serves.

type gRPCServer struct {
	sourcev1.UnimplementedSourceServer
	impl Source

	mu     sync.Mutex
	schema *Schema // cached on first success, for redaction
}

func (s *gRPCServer) Schema(ctx context.Context, _ *sourcev1.SchemaRequest) (*sourcev1.SchemaResponse, error) {
	sch, err := s.impl.Schema(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return schemaToProto(sch), nil
}

func (s *gRPCServer) ValidateConfig(ctx context.Context, req *sourcev1.ValidateConfigRequest) (*sourcev1.ValidateConfigResponse, error) {
	cfg := configFromProto(req.GetConfig())
	if err := s.impl.ValidateConfig(ctx, cfg); err != nil {
		return nil, toStatus(err, s.secrets(ctx, cfg)...)
	}
	return &sourcev1.ValidateConfigResponse{}, nil
}

func (s *gRPCServer) Purge(ctx context.Context, req *sourcev1.PurgeRequest) (*sourcev1.PurgeResult, error) {
	cfg := configFromProto(req.GetConfig())
	res, err := s.impl.Purge(ctx, &PurgeRequest{Config: cfg, FloorLSN: req.GetFloorLsn()})
	if err != nil {
		return nil, toStatus(err, s.secrets(ctx, cfg)...)
	}
	return &sourcev1.PurgeResult{PurgedUpTo: res.PurgedUpTo, Message: res.Message}, nil
}

// CheckPages serves the optional PageChecker capability: Unimplemented when the
// implementation lacks it.
func (s *gRPCServer) CheckPages(ctx context.Context, req *sourcev1.CheckPagesRequest) (*sourcev1.CheckPagesResult, error) {
	pc, ok := s.impl.(PageChecker)
	if !ok {
		return nil, toStatus(fmt.Errorf("%w: this plugin does not check pages", ErrUnsupported))
	}
	r := &CheckPagesRequest{PageSize: req.GetPageSize(), Compressed: req.GetCompressed(), Pages: req.GetPages()}
	if err := r.Validate(); err != nil {
		return nil, toStatus(err)
	}
	res, err := pc.CheckPages(ctx, r)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &sourcev1.CheckPagesResult{}
	for _, f := range res.Failures {
		out.Failures = append(out.Failures, &sourcev1.PageFailure{Index: f.Index, Reason: f.Reason})
	}
	return out, nil
}

// Backup sends the implementation's records until io.EOF, the first error, or the end of the
// call (the host cancelled or went away).
func (s *gRPCServer) Backup(req *sourcev1.BackupRequest, stream grpc.ServerStreamingServer[sourcev1.Record]) error {
	ctx := stream.Context()
	cfg := configFromProto(req.GetConfig())
	breq := &BackupRequest{Config: cfg}
	if req.GetBase() != nil {
		breq.Base = &BaseSnapshot{State: req.GetBase().GetState()}
	}
	records, err := s.impl.Backup(ctx, breq)
	if err != nil {
		return toStatus(err, s.secrets(ctx, cfg)...)
	}
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return toStatus(ctx.Err())
		default:
		}
		r, err := records.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return toStatus(err, s.secrets(ctx, cfg)...)
		}
		if r == nil || r.Kind() == RecordInvalid {
			// Not encodable: refused here with the error the host's stream kernel gives.
			return toStatus(&StreamError{Index: uint64(n), Kind: RecordInvalid, Rule: ruleOneField})
		}
		msg, err := recordToProto(r)
		if err != nil {
			return status.Errorf(codes.Internal, "backup record %d: %v", n, err)
		}
		if size := proto.Size(msg); size > MaxRecordBytes {
			return status.Errorf(codes.Internal,
				"backup record %d (%s) encodes to %d bytes, over the %d-byte limit (MaxRecordBytes): the source must keep payloads within MaxPayloadBytes (%d)",
				n, r.Kind(), size, MaxRecordBytes, MaxPayloadBytes)
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
}

// Restore reads the request from the first message and hands the rest to the implementation.
func (s *gRPCServer) Restore(stream grpc.ClientStreamingServer[sourcev1.RestoreMessage, sourcev1.RestoreResult]) error {
	first, err := stream.Recv()
	if err == io.EOF {
		return status.Error(codes.InvalidArgument, "restore stream ended before its request")
	}
	if err != nil {
		return err
	}
	preq := first.GetRequest()
	if preq == nil {
		return status.Error(codes.InvalidArgument, "the first Restore message must carry the RestoreRequest")
	}
	req := restoreRequestFromProto(preq)
	res, err := s.impl.Restore(stream.Context(), req, &serverRecordStream{stream: stream})
	if err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(restoreResultToProto(res))
}

// serverRecordStream is the RecordStream a plugin reads a restore from.
type serverRecordStream struct {
	stream grpc.ClientStreamingServer[sourcev1.RestoreMessage, sourcev1.RestoreResult]
	n      int
}

func (r *serverRecordStream) Recv() (*Record, error) {
	msg, err := r.stream.Recv()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		if ctxErr := r.stream.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	r.n++
	pr := msg.GetRecord()
	if pr == nil {
		return nil, InvalidConfig(fmt.Sprintf("restore record %d: the message carries no record (only the first message carries the request)", r.n))
	}
	if pr.GetRecord() == nil {
		return &Record{}, nil // no field set: the implementation's StreamChecker refuses it
	}
	rec, err := recordFromProto(pr)
	if err != nil {
		return nil, InvalidConfig(fmt.Sprintf("restore record %d: %v", r.n, err))
	}
	return rec, nil
}

// secrets returns the values to strip from errors about cfg. It asks the implementation for
// its schema once; if that fails, every string value counts as secret.
func (s *gRPCServer) secrets(ctx context.Context, cfg Config) []string {
	if len(cfg) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.schema == nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if sch, err := s.impl.Schema(ctx); err == nil && sch != nil {
			s.schema = sch
		}
	}
	if s.schema != nil {
		return s.schema.Secrets(cfg)
	}
	var all []string
	for _, v := range cfg {
		if str, ok := v.(string); ok && str != "" {
			all = append(all, str)
		}
	}
	return all
}

// ---------------------------------------------------------------------------------------------
// Conversions between the Go contract and the wire form. Every field is spelled out.

// AttrType's values are the wire enum's numbers.
func schemaToProto(s *Schema) *sourcev1.SchemaResponse {
	resp := &sourcev1.SchemaResponse{}
	if s == nil {
		return resp
	}
	for _, a := range s.Attributes {
		resp.Attributes = append(resp.Attributes, &sourcev1.Attribute{
			Name:        a.Name,
			Type:        sourcev1.AttrType(a.Type),
			Required:    a.Required,
			Sensitive:   a.Sensitive,
			Description: a.Description,
		})
	}
	return resp
}

func schemaFromProto(p *sourcev1.SchemaResponse) *Schema {
	s := &Schema{}
	for _, a := range p.GetAttributes() {
		s.Attributes = append(s.Attributes, Attribute{
			Name:        a.GetName(),
			Type:        AttrType(a.GetType()),
			Required:    a.GetRequired(),
			Sensitive:   a.GetSensitive(),
			Description: a.GetDescription(),
		})
	}
	return s
}

// configToProto encodes cfg; a value that is not a string, an int64, a bool or nil cannot
// cross the boundary and is reported as invalid configuration.
func configToProto(cfg Config) (*sourcev1.Config, error) {
	if cfg == nil {
		return nil, nil
	}
	p := &sourcev1.Config{Values: make(map[string]*sourcev1.Value, len(cfg))}
	for name, v := range cfg {
		var pv sourcev1.Value
		switch v := v.(type) {
		case string:
			pv.Kind = &sourcev1.Value_StringValue{StringValue: v}
		case int64:
			pv.Kind = &sourcev1.Value_IntValue{IntValue: v}
		case bool:
			pv.Kind = &sourcev1.Value_BoolValue{BoolValue: v}
		case nil:
		default:
			return nil, InvalidConfig(fmt.Sprintf("attribute %q has a value of Go type %T; configuration values must be string, int64 or bool", name, v))
		}
		p.Values[name] = &pv
	}
	return p, nil
}

func configFromProto(p *sourcev1.Config) Config {
	if p == nil {
		return nil
	}
	cfg := make(Config, len(p.GetValues()))
	for name, v := range p.GetValues() {
		switch k := v.GetKind().(type) {
		case *sourcev1.Value_StringValue:
			cfg[name] = k.StringValue
		case *sourcev1.Value_IntValue:
			cfg[name] = k.IntValue
		case *sourcev1.Value_BoolValue:
			cfg[name] = k.BoolValue
		default:
			cfg[name] = nil
		}
	}
	return cfg
}

func restoreResultToProto(r *RestoreResult) *sourcev1.RestoreResult {
	if r == nil {
		return &sourcev1.RestoreResult{}
	}
	return &sourcev1.RestoreResult{
		Files:         int64(r.Files),
		Pages:         r.Pages,
		Bytes:         r.Bytes,
		Verified:      r.Verified,
		TablesChecked: int64(r.TablesChecked),
		RecoveredTo:   r.RecoveredTo,
		ServerOptions: r.ServerOptions,
		OptionFile:    r.OptionFile,
	}
}

func restoreResultFromProto(p *sourcev1.RestoreResult) *RestoreResult {
	return &RestoreResult{
		Files:         int(p.GetFiles()),
		Pages:         p.GetPages(),
		Bytes:         p.GetBytes(),
		Verified:      p.GetVerified(),
		TablesChecked: int(p.GetTablesChecked()),
		RecoveredTo:   p.GetRecoveredTo(),
		ServerOptions: p.GetServerOptions(),
		OptionFile:    p.GetOptionFile(),
	}
}

func locationsToProto(ls []Location) []*sourcev1.Location {
	var out []*sourcev1.Location
	for _, l := range ls {
		out = append(out, &sourcev1.Location{Id: l.ID, Role: l.Role, OriginalPath: l.OriginalPath})
	}
	return out
}

func locationsFromProto(ps []*sourcev1.Location) []Location {
	var out []Location
	for _, p := range ps {
		out = append(out, Location{ID: p.GetId(), Role: p.GetRole(), OriginalPath: p.GetOriginalPath()})
	}
	return out
}

// restoreRequestToProto and restoreRequestFromProto are the one conversion of a RestoreRequest
// that both wires (Restore and RestoreFrames) use, so a field cannot cross one and not the other.
func restoreRequestToProto(req *RestoreRequest) *sourcev1.RestoreRequest {
	return &sourcev1.RestoreRequest{TargetDir: req.TargetDir, Verify: req.Verify, Relocations: relocationsToProto(req.Relocations), KeyringFile: req.KeyringFile}
}

func restoreRequestFromProto(p *sourcev1.RestoreRequest) *RestoreRequest {
	return &RestoreRequest{TargetDir: p.GetTargetDir(), Verify: p.GetVerify(), Relocations: relocationsFromProto(p.GetRelocations()), KeyringFile: p.GetKeyringFile()}
}

func relocationsToProto(rs []Relocation) []*sourcev1.Relocation {
	var out []*sourcev1.Relocation
	for _, r := range rs {
		out = append(out, &sourcev1.Relocation{From: r.From, To: r.To})
	}
	return out
}

func relocationsFromProto(ps []*sourcev1.Relocation) []Relocation {
	var out []Relocation
	for _, p := range ps {
		out = append(out, Relocation{From: p.GetFrom(), To: p.GetTo()})
	}
	return out
}

// Times cross as Timestamps, unset for the zero time; they arrive in UTC.
func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeFromProto(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func recordToProto(r *Record) (*sourcev1.Record, error) {
	if r == nil {
		return nil, errors.New("nil record")
	}
	if r.Kind() == RecordInvalid {
		return nil, errors.New("a record has exactly one field set, this one has none or several")
	}
	switch {
	case r.Header != nil:
		h := r.Header
		return &sourcev1.Record{Record: &sourcev1.Record_Header{Header: &sourcev1.Header{
			StreamFormat:        h.StreamFormat,
			ServerVersion:       h.ServerVersion,
			ServerUuid:          h.ServerUUID,
			PageSize:            h.PageSize,
			CheckpointLsn:       h.CheckpointLSN,
			StartedAt:           timeToProto(h.StartedAt),
			BinlogBasename:      h.BinlogBasename,
			GtidMode:            h.GTIDMode,
			LowerCaseTableNames: h.LowerCaseTableNames,
			Locations:           locationsToProto(h.Locations),
			DataFilePath:        h.DataFilePath,
			MasterKeys:          h.MasterKeys,
			RedoEncryption:      h.RedoEncryption,
			BinlogHeaderBytes:   h.BinlogHeaderBytes,
		}}}, nil
	case r.Tablespace != nil:
		t := r.Tablespace
		return &sourcev1.Record{Record: &sourcev1.Record_Tablespace{Tablespace: &sourcev1.Tablespace{
			FileIndex:   t.FileIndex,
			Path:        t.Path,
			SpaceId:     t.SpaceID,
			Flags:       t.Flags,
			PageSize:    t.PageSize,
			ZipSize:     t.ZipSize,
			SizePages:   t.SizePages,
			Incremental: t.Incremental,
		}}}, nil
	case r.Pages != nil:
		p := r.Pages
		return &sourcev1.Record{Record: &sourcev1.Record_Pages{Pages: &sourcev1.PageBatch{
			FileIndex:      p.FileIndex,
			FirstPage:      p.FirstPage,
			Data:           p.Data,
			PageNumbers:    p.PageNumbers,
			HasPageNumbers: p.PageNumbers != nil,
		}}}, nil
	case r.Redo != nil:
		return &sourcev1.Record{Record: &sourcev1.Record_Redo{Redo: &sourcev1.RedoSegment{
			StartLsn: r.Redo.StartLSN,
			Data:     r.Redo.Data,
		}}}, nil
	case r.Binlog != nil:
		b := r.Binlog
		return &sourcev1.Record{Record: &sourcev1.Record_Binlog{Binlog: &sourcev1.BinlogChunk{
			Name:   b.Name,
			Offset: b.Offset,
			Data:   b.Data,
		}}}, nil
	case r.File != nil:
		f := r.File
		return &sourcev1.Record{Record: &sourcev1.Record_File{File: &sourcev1.FileChunk{
			Path:   f.Path,
			Offset: f.Offset,
			Data:   f.Data,
		}}}, nil
	case r.Progress != nil:
		p := r.Progress
		return &sourcev1.Record{Record: &sourcev1.Record_Progress{Progress: &sourcev1.Progress{
			Phase:      p.Phase,
			PagesDone:  p.PagesDone,
			PagesTotal: p.PagesTotal,
			BytesDone:  p.BytesDone,
			BytesTotal: p.BytesTotal,
		}}}, nil
	default:
		t := r.Trailer
		return &sourcev1.Record{Record: &sourcev1.Record_Trailer{Trailer: &sourcev1.Trailer{
			EndLsn:                 t.EndLSN,
			CheckpointLsn:          t.CheckpointLSN,
			MaxPageLsn:             t.MaxPageLSN,
			BinlogFile:             t.BinlogFile,
			BinlogPos:              t.BinlogPos,
			GtidExecuted:           t.GTIDExecuted,
			Tablespaces:            t.Tablespaces,
			Pages:                  t.Pages,
			PageBytes:              t.PageBytes,
			RedoBytes:              t.RedoBytes,
			BinlogBytes:            t.BinlogBytes,
			Files:                  t.Files,
			Records:                t.Records,
			Digest:                 t.Digest,
			FinishedAt:             timeToProto(t.FinishedAt),
			Kind:                   t.Kind,
			Method:                 t.Method,
			FallbackReason:         t.FallbackReason,
			BaseCheckpointLsn:      t.BaseCheckpointLSN,
			PagesInSet:             t.PagesInSet,
			PagesRead:              t.PagesRead,
			BytesRead:              t.BytesRead,
			BytesSent:              t.BytesSent,
			BinlogFrom:             t.BinlogFrom,
			BinlogWritten:          t.BinlogWritten,
			SourceState:            t.SourceState,
			CheckpointWaitMicros:   t.CheckpointWaitMicros,
			PagesBeforeBase:        t.PagesBeforeBase,
			PagesBeforeBaseSkipped: t.PagesBeforeBaseSkipped,
		}}}, nil
	}
}

func recordFromProto(p *sourcev1.Record) (*Record, error) {
	switch k := p.GetRecord().(type) {
	case *sourcev1.Record_Header:
		h := k.Header
		return &Record{Header: &Header{
			StreamFormat:        h.GetStreamFormat(),
			ServerVersion:       h.GetServerVersion(),
			ServerUUID:          h.GetServerUuid(),
			PageSize:            h.GetPageSize(),
			CheckpointLSN:       h.GetCheckpointLsn(),
			StartedAt:           timeFromProto(h.GetStartedAt()),
			BinlogBasename:      h.GetBinlogBasename(),
			GTIDMode:            h.GetGtidMode(),
			LowerCaseTableNames: h.GetLowerCaseTableNames(),
			Locations:           locationsFromProto(h.GetLocations()),
			DataFilePath:        h.GetDataFilePath(),
			MasterKeys:          h.GetMasterKeys(),
			RedoEncryption:      h.GetRedoEncryption(),
			BinlogHeaderBytes:   h.GetBinlogHeaderBytes(),
		}}, nil
	case *sourcev1.Record_Tablespace:
		t := k.Tablespace
		return &Record{Tablespace: &Tablespace{
			FileIndex:   t.GetFileIndex(),
			Path:        t.GetPath(),
			SpaceID:     t.GetSpaceId(),
			Flags:       t.GetFlags(),
			PageSize:    t.GetPageSize(),
			ZipSize:     t.GetZipSize(),
			SizePages:   t.GetSizePages(),
			Incremental: t.GetIncremental(),
		}}, nil
	case *sourcev1.Record_Pages:
		pb := k.Pages
		p := &PageBatch{
			FileIndex: pb.GetFileIndex(),
			FirstPage: pb.GetFirstPage(),
			Data:      pb.GetData(),
		}
		if pb.GetHasPageNumbers() {
			p.PageNumbers = append(make([]uint32, 0, len(pb.GetPageNumbers())), pb.GetPageNumbers()...)
		}
		return &Record{Pages: p}, nil
	case *sourcev1.Record_Redo:
		return &Record{Redo: &RedoSegment{
			StartLSN: k.Redo.GetStartLsn(),
			Data:     k.Redo.GetData(),
		}}, nil
	case *sourcev1.Record_Binlog:
		b := k.Binlog
		return &Record{Binlog: &BinlogChunk{
			Name:   b.GetName(),
			Offset: b.GetOffset(),
			Data:   b.GetData(),
		}}, nil
	case *sourcev1.Record_File:
		f := k.File
		return &Record{File: &FileChunk{
			Path:   f.GetPath(),
			Offset: f.GetOffset(),
			Data:   f.GetData(),
		}}, nil
	case *sourcev1.Record_Progress:
		pr := k.Progress
		return &Record{Progress: &Progress{
			Phase:      pr.GetPhase(),
			PagesDone:  pr.GetPagesDone(),
			PagesTotal: pr.GetPagesTotal(),
			BytesDone:  pr.GetBytesDone(),
			BytesTotal: pr.GetBytesTotal(),
		}}, nil
	case *sourcev1.Record_Trailer:
		t := k.Trailer
		return &Record{Trailer: &Trailer{
			EndLSN:                 t.GetEndLsn(),
			CheckpointLSN:          t.GetCheckpointLsn(),
			MaxPageLSN:             t.GetMaxPageLsn(),
			BinlogFile:             t.GetBinlogFile(),
			BinlogPos:              t.GetBinlogPos(),
			GTIDExecuted:           t.GetGtidExecuted(),
			Tablespaces:            t.GetTablespaces(),
			Pages:                  t.GetPages(),
			PageBytes:              t.GetPageBytes(),
			RedoBytes:              t.GetRedoBytes(),
			BinlogBytes:            t.GetBinlogBytes(),
			Files:                  t.GetFiles(),
			Records:                t.GetRecords(),
			Digest:                 t.GetDigest(),
			FinishedAt:             timeFromProto(t.GetFinishedAt()),
			Kind:                   t.GetKind(),
			Method:                 t.GetMethod(),
			FallbackReason:         t.GetFallbackReason(),
			BaseCheckpointLSN:      t.GetBaseCheckpointLsn(),
			PagesInSet:             t.GetPagesInSet(),
			PagesRead:              t.GetPagesRead(),
			BytesRead:              t.GetBytesRead(),
			BytesSent:              t.GetBytesSent(),
			SourceState:            t.GetSourceState(),
			BinlogFrom:             t.GetBinlogFrom(),
			BinlogWritten:          t.GetBinlogWritten(),
			CheckpointWaitMicros:   t.GetCheckpointWaitMicros(),
			PagesBeforeBase:        t.GetPagesBeforeBase(),
			PagesBeforeBaseSkipped: t.GetPagesBeforeBaseSkipped(),
		}}, nil
	}
	return nil, errors.New("the record has no field set")
}
