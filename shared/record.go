package shared

// RecordKind names which field of a Record is set. Its values are the record codec's kind
// bytes (see codec.go), so the codec, the digest and every message agree on one list.
type RecordKind byte

// The record kinds, in the order a stream may carry them.
const (
	RecordInvalid    RecordKind = 0 // no field or more than one field set
	RecordHeader     RecordKind = 'H'
	RecordTablespace RecordKind = 'T'
	RecordPages      RecordKind = 'P'
	RecordRedo       RecordKind = 'R'
	RecordBinlog     RecordKind = 'B'
	RecordFile       RecordKind = 'F'
	RecordProgress   RecordKind = 'G'
	RecordTrailer    RecordKind = 'Z'
)

// String names the kind as the Go type of its field ("PageBatch"), for messages.
func (k RecordKind) String() string {
	switch k {
	case RecordHeader:
		return "Header"
	case RecordTablespace:
		return "Tablespace"
	case RecordPages:
		return "PageBatch"
	case RecordRedo:
		return "RedoSegment"
	case RecordBinlog:
		return "BinlogChunk"
	case RecordFile:
		return "FileChunk"
	case RecordProgress:
		return "Progress"
	case RecordTrailer:
		return "Trailer"
	}
	return "invalid record"
}

// Kind reports which field of r is set: RecordInvalid for a nil record, one with no field set
// or one with more than one.
func (r *Record) Kind() RecordKind {
	if r == nil {
		return RecordInvalid
	}
	kind, n := RecordInvalid, 0
	for _, f := range []struct {
		set  bool
		kind RecordKind
	}{
		{r.Header != nil, RecordHeader}, {r.Tablespace != nil, RecordTablespace},
		{r.Pages != nil, RecordPages}, {r.Redo != nil, RecordRedo},
		{r.Binlog != nil, RecordBinlog}, {r.File != nil, RecordFile},
		{r.Progress != nil, RecordProgress}, {r.Trailer != nil, RecordTrailer},
	} {
		if f.set {
			kind, n = f.kind, n+1
		}
	}
	if n != 1 {
		return RecordInvalid
	}
	return kind
}

// Payload returns the bytes a data record carries (the Data of a PageBatch, RedoSegment,
// BinlogChunk or FileChunk) and nil for every other kind.
func (r *Record) Payload() []byte {
	switch r.Kind() {
	case RecordPages:
		return r.Pages.Data
	case RecordRedo:
		return r.Redo.Data
	case RecordBinlog:
		return r.Binlog.Data
	case RecordFile:
		return r.File.Data
	}
	return nil
}
