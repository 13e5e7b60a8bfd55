package shared

import "time"

// StreamSummary is what a host records about a verified stream: the Header's and the
// Trailer's fields a host keeps, spelled out once. SourceState is opaque to the host and
// handed back as BaseSnapshot.State for an incremental on this backup.
type StreamSummary struct {
	Kind              string // KindFull or KindIncremental
	Method            string // MethodFull, MethodPageTracking or MethodLSNScan
	FallbackReason    string
	StreamFormat      uint32
	ServerVersion     string
	ServerUUID        string
	PageSize          uint32
	CheckpointLSN     uint64
	EndLSN            uint64
	MaxPageLSN        uint64
	BaseCheckpointLSN uint64
	BinlogFile        string
	BinlogPos         uint64
	BinlogFrom        uint64 // the binlog delta's start in BinlogFile (0: the whole file)
	BinlogWritten     uint64 // binlog the server wrote since the base's position
	GTIDExecuted      string
	GTIDMode          string
	StartedAt         time.Time
	FinishedAt        time.Time

	Counts  StreamCounts
	Records uint64
	Digest  []byte

	PagesInSet uint64
	PagesRead  uint64
	BytesRead  uint64
	BytesSent  uint64

	CheckpointWaitMicros   uint64
	PagesBeforeBase        uint64
	PagesBeforeBaseSkipped uint64

	SourceState []byte
}

// Summarize turns a verified stream's Header and Trailer (StreamChecker.Header and Trailer)
// into its StreamSummary.
func Summarize(h *Header, t *Trailer) StreamSummary {
	return StreamSummary{
		Kind: t.Kind, Method: t.Method, FallbackReason: t.FallbackReason,
		StreamFormat: h.StreamFormat, ServerVersion: h.ServerVersion, ServerUUID: h.ServerUUID,
		PageSize: h.PageSize, CheckpointLSN: h.CheckpointLSN, EndLSN: t.EndLSN,
		MaxPageLSN: t.MaxPageLSN, BaseCheckpointLSN: t.BaseCheckpointLSN,
		BinlogFile: t.BinlogFile, BinlogPos: t.BinlogPos, BinlogFrom: t.BinlogFrom, BinlogWritten: t.BinlogWritten, GTIDExecuted: t.GTIDExecuted, GTIDMode: h.GTIDMode,
		StartedAt: h.StartedAt, FinishedAt: t.FinishedAt,
		Counts: StreamCounts{
			Tablespaces: t.Tablespaces, Pages: t.Pages, PageBytes: t.PageBytes,
			RedoBytes: t.RedoBytes, BinlogBytes: t.BinlogBytes, Files: t.Files,
		},
		Records: t.Records, Digest: t.Digest,
		PagesInSet: t.PagesInSet, PagesRead: t.PagesRead, BytesRead: t.BytesRead, BytesSent: t.BytesSent,
		CheckpointWaitMicros: t.CheckpointWaitMicros, PagesBeforeBase: t.PagesBeforeBase, PagesBeforeBaseSkipped: t.PagesBeforeBaseSkipped,
		SourceState: t.SourceState,
	}
}

// Summary is Summarize of the checked stream; valid only after End returned nil.
func (c *StreamChecker) Summary() StreamSummary { return Summarize(c.header, c.trailer) }
