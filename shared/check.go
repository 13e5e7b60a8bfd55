package shared

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
)

// ErrBadStream is what every consumer of a record stream returns, wrapped in a *StreamError,
// when the stream breaks one of the rules StreamChecker owns. The host's store, merge and
// restore and the plugin's restore all reject a forged stream with the same text.
var ErrBadStream = errors.New("bad stream")

// StreamError names the record that broke a rule and the rule. Index is the record's
// 1-based position in the stream (Progress records count).
type StreamError struct {
	Index uint64
	Kind  RecordKind
	Rule  string
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("%v: record %d (%s): %s", ErrBadStream, e.Index, e.Kind, e.Rule)
}

func (e *StreamError) Unwrap() error { return ErrBadStream }

// Limits every consumer applies. They are part of the stream format.
const (
	// MaxTablespacePages is the most pages an InnoDB tablespace can have (page numbers are
	// 32-bit).
	MaxTablespacePages = math.MaxUint32
	// RedoBlockSize is the unit of the redo a stream carries.
	RedoBlockSize = 512
	// MaxReorderBytes is how far a page batch of a whole file (Tablespace.Incremental false)
	// may end past the bytes of that file that arrived so far. A source copies a file with
	// parallel readers (at most 64, each holding one record's worth of pages), so its batches
	// arrive slightly out of order; the bound keeps a forged offset from making a consumer
	// create a huge sparse file before the trailer shows the stream is short.
	MaxReorderBytes = 64 << 20
)

// readableFormats are the Header.StreamFormat values this package reads; StreamFormat is the
// one it writes. A change of the codec or the digest bumps StreamFormat and keeps the old
// value here, with its codec, for as long as stored streams of it may exist.
var readableFormats = []uint32{1, 2}

// ruleOneField is the rule a record with no or several fields breaks; the gRPC server, which
// cannot encode such a record, reports it with the same words.
const ruleOneField = "a record has exactly one field set; this one has none or several"

// reservedPaths are datadir paths a restore writes itself; a stream may not name them.
var reservedPaths = []string{"#innodb_redo"}

// StreamChecker enforces every rule of the record stream, record by record, so a consumer can
// write or store each record as soon as Check accepted it. See the package documentation for
// the rules. It keeps per-file state proportional to the records that arrived, never to the
// sizes or offsets they claim.
type StreamChecker struct {
	n       uint64 // records seen
	err     error  // sticky
	header  *Header
	trailer *Trailer
	digest  *Digester

	files      map[uint32]*checkedFile
	paths      map[string]string // path → what names it
	redoNext   uint64
	binlogName string
	binlogFrom uint64 // offset of the first binlog chunk
	binlogNext uint64
	chunks     map[string]uint64 // file path → bytes arrived
	arrived    StreamCounts
	partial    bool // a Tablespace marked Incremental arrived
	wholeOnly  bool // NewRestoreChecker: refuse Incremental tablespaces

	// listed: NewListChecker; records arrive without payloads and listedLen is the length of
	// the current one's, records counts what the digest would.
	listed    bool
	listedLen uint64
	records   uint64
}

// StreamCounts are the counts a Trailer declares and the checker compares with what arrived.
type StreamCounts struct {
	Tablespaces uint64 // distinct Tablespace.FileIndex values
	Pages       uint64 // pages in PageBatch records
	PageBytes   uint64 // bytes of PageBatch.Data
	RedoBytes   uint64 // bytes of RedoSegment.Data
	BinlogBytes uint64 // bytes of BinlogChunk.Data
	Files       uint64 // distinct FileChunk.Path values
}

type checkedFile struct {
	ts    Tablespace
	spans []span // pages arrived: sorted, disjoint, adjacent ones merged
	pages uint64
}

type span struct{ first, end uint64 }

// NewStreamChecker returns a checker expecting a Header.
func NewStreamChecker() *StreamChecker {
	return &StreamChecker{digest: NewDigester(), files: map[uint32]*checkedFile{}, paths: map[string]string{}, chunks: map[string]uint64{}}
}

// NewRestoreChecker returns a checker for the stream a source restores from: on top of every
// rule, each file must be whole (no Tablespace marked Incremental), since a restore writes
// one datadir and the host sends an incremental snapshot as the merge of its chain.
func NewRestoreChecker() *StreamChecker {
	c := NewStreamChecker()
	c.wholeOnly = true
	return c
}

// NewListChecker returns a checker for a stream's record list: its records with their
// payloads left out, each given with its payload's length (CheckListed). It applies every
// rule but the digest, which needs the payloads: a host verified the digest when it stored
// the stream, and verifies every payload it reads back against its own hash. Chain merges
// (package shared/chain) plan from record lists through it, so a stored stream that breaks a
// rule is refused with the same error as the stream itself.
func NewListChecker() *StreamChecker {
	c := NewStreamChecker()
	c.listed = true
	return c
}

// CheckListed is Check for a record list's record: r's payload is left out (nil) and n is its
// length. Only a NewListChecker accepts it.
func (c *StreamChecker) CheckListed(r *Record, n uint64) error {
	if !c.listed {
		panic("shared: CheckListed on a checker not made by NewListChecker")
	}
	c.listedLen = n
	return c.Check(r)
}

// Header is the stream's Header once Check accepted it, else nil.
func (c *StreamChecker) Header() *Header { return c.header }

// Trailer is the stream's Trailer once Check verified it, else nil.
func (c *StreamChecker) Trailer() *Trailer { return c.trailer }

// Arrived is what the records accepted so far carried.
func (c *StreamChecker) Arrived() StreamCounts { return c.arrived }

// Tablespace returns the newest accepted Tablespace record for index.
func (c *StreamChecker) Tablespace(index uint32) (Tablespace, bool) {
	f, ok := c.files[index]
	if !ok {
		return Tablespace{}, false
	}
	return f.ts, true
}

// Check accepts the next record or returns a *StreamError (wrapping ErrBadStream). After an
// error every later call returns the same error.
func (c *StreamChecker) Check(r *Record) error {
	if c.err != nil {
		return c.err
	}
	c.n++
	kind := r.Kind()
	if rule := c.check(r, kind); rule != "" {
		c.err = &StreamError{Index: c.n, Kind: kind, Rule: rule}
		return c.err
	}
	return nil
}

// End is called when the stream ended (io.EOF): it returns ErrNoTrailer if no verified
// Trailer arrived, or the error Check returned before.
func (c *StreamChecker) End() error {
	if c.err != nil {
		return c.err
	}
	if c.trailer == nil {
		return ErrNoTrailer
	}
	return nil
}

// CheckStream reads s to its end through a StreamChecker and returns what a host records of
// it. It keeps no record.
func CheckStream(s RecordStream) (*StreamSummary, error) {
	c := NewStreamChecker()
	for {
		r, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := c.Check(r); err != nil {
			return nil, err
		}
	}
	if err := c.End(); err != nil {
		return nil, err
	}
	sum := Summarize(c.header, c.trailer)
	return &sum, nil
}

func (c *StreamChecker) check(r *Record, kind RecordKind) string {
	switch {
	case kind == RecordInvalid:
		return ruleOneField
	case c.trailer != nil:
		return "the record follows the Trailer; nothing may follow it"
	case c.header == nil && kind != RecordHeader && kind != RecordProgress:
		return "the stream does not start with a Header"
	}
	if c.listed {
		if kind != RecordProgress && kind != RecordTrailer {
			c.records++
		}
	} else {
		c.digest.Add(r)
	}
	switch kind {
	case RecordHeader:
		return c.checkHeader(r.Header)
	case RecordTablespace:
		return c.checkTablespace(r.Tablespace)
	case RecordPages:
		return c.checkPages(r.Pages)
	case RecordRedo:
		return c.checkRedo(r.Redo)
	case RecordBinlog:
		return c.checkBinlog(r.Binlog)
	case RecordFile:
		return c.checkFile(r.File)
	case RecordTrailer:
		return c.checkTrailer(r.Trailer)
	}
	return "" // Progress is advisory
}

func (c *StreamChecker) checkHeader(h *Header) string {
	switch {
	case c.header != nil:
		return "a second Header; a stream has exactly one"
	case !slices.Contains(readableFormats, h.StreamFormat):
		return fmt.Sprintf("stream format %d is not one this version reads (%v); use a matching version of pagetrack", h.StreamFormat, readableFormats)
	case !validPageSize(h.PageSize):
		return fmt.Sprintf("page size %d is not one InnoDB allows (4, 8, 16, 32 or 64 KiB)", h.PageSize)
	}
	if h.BinlogBasename != "" {
		if err := checkFileName(h.BinlogBasename); err != nil {
			return "the binlog base name " + err.Error()
		}
	}
	if rule := checkLocations(h); rule != "" {
		return rule
	}
	if rule := checkEncryptionFields(h); rule != "" {
		return rule
	}
	c.header = h
	c.redoNext = h.CheckpointLSN / RedoBlockSize * RedoBlockSize
	return ""
}

// checkLocations: format 1 has no Locations nor DataFilePath; from format 2 each Location
// has a unique ID ≥ 1, a known role (data_home_dir, undo_dir and binlog_dir at most once
// each, binlog_dir only with a BinlogBasename) and an absolute, clean OriginalPath; every
// file of DataFilePath is a bare file name.
func checkLocations(h *Header) string {
	if h.StreamFormat < 2 {
		if len(h.Locations) > 0 || h.DataFilePath != "" {
			return fmt.Sprintf("a format %d Header carries Locations or a DataFilePath, which format 2 introduced", h.StreamFormat)
		}
		return ""
	}
	ids := map[uint32]bool{}
	roles := map[string]bool{}
	for _, l := range h.Locations {
		switch l.Role {
		case RoleInnoDBDirectory:
		case RoleDataHomeDir, RoleUndoDir, RoleBinlogDir:
			if roles[l.Role] {
				return fmt.Sprintf("location %d: a second location of role %s", l.ID, l.Role)
			}
			roles[l.Role] = true
		default:
			return fmt.Sprintf("location %d has the unknown role %q", l.ID, l.Role)
		}
		if l.ID == 0 || ids[l.ID] {
			return fmt.Sprintf("location id %d is zero or used twice", l.ID)
		}
		ids[l.ID] = true
		if err := checkLocationPath(l.OriginalPath); err != nil {
			return fmt.Sprintf("location %d: %v", l.ID, err)
		}
	}
	if roles[RoleBinlogDir] && h.BinlogBasename == "" {
		return "a binlog_dir location in a stream whose Header names no binlog base name"
	}
	if h.DataFilePath != "" {
		for _, entry := range strings.Split(h.DataFilePath, ";") {
			name, _, _ := strings.Cut(entry, ":")
			if err := checkFileName(name); err != nil {
				return "the data file path " + err.Error()
			}
		}
	}
	return ""
}

// EncryptedBinlogHeaderBytes is the encryption header of a MySQL binary log written with
// binlog_encryption, which the server's binlog positions do not count: the one value besides 0
// a Header's BinlogHeaderBytes may have.
const EncryptedBinlogHeaderBytes = 512

// MaxMasterKeys bounds Header.MasterKeys: a server references one InnoDB master key per
// rotation still sealing some page 0, plus the redo's and the binlog's.
const MaxMasterKeys = 1024

// maxMasterKeyLen bounds one keyring id (MySQL's data_id is at most 256 characters).
const maxMasterKeyLen = 256

// checkEncryptionFields checks the Header's encryption fields (an optional tail in every
// format): keyring ids sorted without repeats and printable, the redo encryption block one
// redo block long, the binlog header 0 or an encrypted binlog's.
func checkEncryptionFields(h *Header) string {
	if len(h.MasterKeys) > MaxMasterKeys {
		return fmt.Sprintf("the Header lists %d master keys, more than %d", len(h.MasterKeys), MaxMasterKeys)
	}
	for i, k := range h.MasterKeys {
		switch {
		case k == "" || len(k) > maxMasterKeyLen:
			return fmt.Sprintf("master key %d has a %d-byte id; keyring ids are 1..%d bytes", i, len(k), maxMasterKeyLen)
		case strings.IndexFunc(k, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
			return fmt.Sprintf("master key %d (%q) is not a printable ASCII keyring id", i, k)
		case i > 0 && k <= h.MasterKeys[i-1]:
			return fmt.Sprintf("master keys are not sorted without repeats (%q after %q)", k, h.MasterKeys[i-1])
		}
	}
	if n := len(h.RedoEncryption); n != 0 && n != RedoBlockSize {
		return fmt.Sprintf("the redo encryption block is %d bytes, not %d", n, RedoBlockSize)
	}
	switch {
	case h.BinlogHeaderBytes != 0 && h.BinlogHeaderBytes != EncryptedBinlogHeaderBytes:
		return fmt.Sprintf("binlog header bytes %d; only 0 or %d (an encrypted binlog's header)", h.BinlogHeaderBytes, EncryptedBinlogHeaderBytes)
	case h.BinlogHeaderBytes != 0 && h.BinlogBasename == "":
		return "binlog header bytes in a stream whose Header names no binlog base name"
	}
	return ""
}

// location returns the Header's Location id.
func (c *StreamChecker) location(id uint32) (Location, bool) {
	for _, l := range c.header.Locations {
		if l.ID == id {
			return l, true
		}
	}
	return Location{}, false
}

func validPageSize(n uint32) bool {
	return n >= 4<<10 && n <= 64<<10 && n&(n-1) == 0
}

// physicalPageSize says whether t's page sizes agree with the server's logical page size:
// the zip size (1..16 KiB, at most the logical size) for a compressed file, else the logical.
func (c *StreamChecker) physicalPageSize(t *Tablespace) string {
	logical := c.header.PageSize
	if t.ZipSize == 0 {
		if t.PageSize != logical {
			return fmt.Sprintf("page size %d is not the server's page size %d (and ZipSize is 0)", t.PageSize, logical)
		}
		return ""
	}
	if t.ZipSize < 1<<10 || t.ZipSize > 16<<10 || t.ZipSize&(t.ZipSize-1) != 0 || t.ZipSize > logical {
		return fmt.Sprintf("zip size %d is not a compressed page size InnoDB allows with %d-byte pages", t.ZipSize, logical)
	}
	if t.PageSize != t.ZipSize {
		return fmt.Sprintf("page size %d is not its zip size %d", t.PageSize, t.ZipSize)
	}
	return ""
}

func (c *StreamChecker) checkTablespace(t *Tablespace) string {
	if err := c.checkPath(t.Path); err != nil {
		return "the Tablespace " + err.Error()
	}
	if rule := c.physicalPageSize(t); rule != "" {
		return "tablespace " + t.Path + ": " + rule
	}
	if t.SizePages > MaxTablespacePages {
		return fmt.Sprintf("tablespace %s claims %d pages, beyond the %d a tablespace can have", t.Path, t.SizePages, uint64(MaxTablespacePages))
	}
	if c.wholeOnly && t.Incremental {
		return fmt.Sprintf("tablespace %s holds only the changed pages of the file: an incremental snapshot is restored from the merge of its chain (full and every incremental up to it), which the host must send", t.Path)
	}
	if f, ok := c.files[t.FileIndex]; ok {
		old := f.ts
		switch {
		case old.Path != t.Path || old.PageSize != t.PageSize || old.ZipSize != t.ZipSize || old.SpaceID != t.SpaceID || old.Incremental != t.Incremental:
			return fmt.Sprintf("tablespace record %d changes path, space id, page size or incremental (%s → %s)", t.FileIndex, old.Path, t.Path)
		case t.SizePages < old.SizePages:
			return fmt.Sprintf("tablespace %s shrinks from %d to %d pages; files only grow during a backup", t.Path, old.SizePages, t.SizePages)
		}
		f.ts = *t
		return ""
	}
	if owner, ok := c.paths[t.Path]; ok {
		return fmt.Sprintf("tablespace %d names %s, which %s already names", t.FileIndex, t.Path, owner)
	}
	c.paths[t.Path] = fmt.Sprintf("tablespace %d", t.FileIndex)
	c.files[t.FileIndex] = &checkedFile{ts: *t}
	c.partial = c.partial || t.Incremental
	c.arrived.Tablespaces++
	return ""
}

// checkPath applies CheckStreamPath and keeps streams off the paths a restore owns.
func (c *StreamChecker) checkPath(p string) error {
	if err := CheckStreamPath(p); err != nil {
		return err
	}
	for _, r := range reservedPaths {
		if p == r || strings.HasPrefix(p, r+"/") {
			return fmt.Errorf("names %s, which a restore writes itself", p)
		}
	}
	if b := c.header.BinlogBasename; b != "" && p == BinlogPath(c.header, b+".index") {
		return fmt.Errorf("names %s, the binlog index a restore writes itself", p)
	}
	if id, _, ok := SplitExternalPath(p); ok {
		if _, declared := c.location(id); id == 0 || !declared {
			return fmt.Errorf("names %s, which is not %s/<id>/<path> with the id of a Location the Header declares", p, ExternalDir)
		}
	}
	return nil
}

func checkPayload(n uint64) string {
	if n > MaxPayloadBytes {
		return fmt.Sprintf("carries %d bytes, over the %d-byte limit (MaxPayloadBytes)", n, MaxPayloadBytes)
	}
	return ""
}

// size is the length of the current record's payload data.
func (c *StreamChecker) size(data []byte) uint64 {
	if c.listed {
		return c.listedLen
	}
	return uint64(len(data))
}

func (c *StreamChecker) checkPages(p *PageBatch) string {
	f, ok := c.files[p.FileIndex]
	if !ok {
		return fmt.Sprintf("page batch for file %d, which no earlier Tablespace record announced", p.FileIndex)
	}
	if rule := checkPayload(c.size(p.Data)); rule != "" {
		return "the page batch " + rule
	}
	size := uint64(f.ts.PageSize)
	n := c.size(p.Data) / size
	switch {
	case c.size(p.Data) == 0 || c.size(p.Data)%size != 0:
		return fmt.Sprintf("page batch for %s is %d bytes, not a whole, non-zero number of %d-byte pages", f.ts.Path, c.size(p.Data), size)
	case p.FirstPage > f.ts.SizePages || n > f.ts.SizePages-p.FirstPage:
		return fmt.Sprintf("page batch for %s holds pages %d..%d, beyond the %d pages its Tablespace declares", f.ts.Path, p.FirstPage, p.FirstPage+n-1, f.ts.SizePages)
	case !f.ts.Incremental && (p.FirstPage+n)*size > (f.pages+n)*size+MaxReorderBytes:
		return fmt.Sprintf("page batch for %s starts at page %d, but only %d pages of the file arrived so far (a whole file's batches may run at most %d bytes ahead)", f.ts.Path, p.FirstPage, f.pages, MaxReorderBytes)
	}
	spans, ok := addSpan(f.spans, p.FirstPage, p.FirstPage+n)
	if !ok {
		return fmt.Sprintf("page batch for %s holds pages %d..%d, some of which arrived already", f.ts.Path, p.FirstPage, p.FirstPage+n-1)
	}
	f.spans = spans
	f.pages += n
	c.arrived.Pages += n
	c.arrived.PageBytes += c.size(p.Data)
	return ""
}

// addSpan inserts [first, end) into sorted disjoint spans, merging neighbours; false if it
// overlaps one.
func addSpan(spans []span, first, end uint64) ([]span, bool) {
	i := sort.Search(len(spans), func(i int) bool { return spans[i].end > first })
	if i < len(spans) && spans[i].first < end {
		return spans, false
	}
	left := i > 0 && spans[i-1].end == first
	right := i < len(spans) && spans[i].first == end
	switch {
	case left && right:
		spans[i-1].end = spans[i].end
		return slices.Delete(spans, i, i+1), true
	case left:
		spans[i-1].end = end
	case right:
		spans[i].first = first
	default:
		return slices.Insert(spans, i, span{first, end}), true
	}
	return spans, true
}

func (c *StreamChecker) checkRedo(s *RedoSegment) string {
	if rule := checkPayload(c.size(s.Data)); rule != "" {
		return "the redo segment " + rule
	}
	switch {
	case s.StartLSN != c.redoNext:
		return fmt.Sprintf("redo segment starts at LSN %d, expected %d: redo is contiguous from the checkpoint's block, without gaps or overlaps", s.StartLSN, c.redoNext)
	case c.size(s.Data) == 0 || c.size(s.Data)%RedoBlockSize != 0:
		return fmt.Sprintf("redo segment at LSN %d is %d bytes, not a whole, non-zero number of %d-byte blocks", s.StartLSN, c.size(s.Data), RedoBlockSize)
	case s.StartLSN > math.MaxUint64-c.size(s.Data):
		return fmt.Sprintf("redo segment at LSN %d runs past the largest LSN", s.StartLSN)
	}
	c.redoNext += c.size(s.Data)
	c.arrived.RedoBytes += c.size(s.Data)
	return ""
}

func (c *StreamChecker) checkBinlog(b *BinlogChunk) string {
	if c.header.BinlogBasename == "" {
		return "a binlog chunk in a stream whose Header names no binlog base name"
	}
	if err := checkFileName(b.Name); err != nil {
		return "the binlog chunk " + err.Error()
	}
	if rule := checkPayload(c.size(b.Data)); rule != "" {
		return "the binlog chunk " + rule
	}
	switch {
	case c.binlogName != "" && b.Name != c.binlogName:
		return fmt.Sprintf("a second binlog file %s after %s; a stream carries one", b.Name, c.binlogName)
	case c.binlogName != "" && b.Offset != c.binlogNext:
		return fmt.Sprintf("binlog chunk of %s at offset %d, but the chunks so far end at %d: binlog chunks are contiguous", b.Name, b.Offset, c.binlogNext)
	case c.binlogName == "" && b.Offset != 0 && c.wholeOnly:
		return fmt.Sprintf("binlog chunk of %s starts at offset %d: the stream holds only the binlog written since its base; an incremental snapshot is restored from the merge of its chain, which the host must send", b.Name, b.Offset)
	case c.binlogName == "":
		p := BinlogPath(c.header, b.Name)
		if owner, ok := c.paths[p]; ok {
			return fmt.Sprintf("binlog file %s is a path %s already names", p, owner)
		}
		c.paths[p] = "the binlog"
		c.binlogName = b.Name
		c.binlogFrom, c.binlogNext = b.Offset, b.Offset
	}
	c.binlogNext += c.size(b.Data)
	c.arrived.BinlogBytes += c.size(b.Data)
	return ""
}

func (c *StreamChecker) checkFile(f *FileChunk) string {
	if err := c.checkPath(f.Path); err != nil {
		return "the file chunk " + err.Error()
	}
	if rule := checkPayload(c.size(f.Data)); rule != "" {
		return "the file chunk " + rule
	}
	got, seen := c.chunks[f.Path]
	if f.Offset != got {
		return fmt.Sprintf("file chunk of %s at offset %d, but %d bytes of it arrived so far: file chunks are contiguous from offset 0", f.Path, f.Offset, got)
	}
	if !seen {
		if owner, ok := c.paths[f.Path]; ok {
			return fmt.Sprintf("file chunk names %s, which %s already names", f.Path, owner)
		}
		c.paths[f.Path] = "a file chunk"
		c.arrived.Files++
	}
	c.chunks[f.Path] = got + c.size(f.Data)
	return ""
}

func (c *StreamChecker) checkTrailer(t *Trailer) string {
	h := c.header
	switch {
	case t.CheckpointLSN != h.CheckpointLSN:
		return fmt.Sprintf("the Trailer's checkpoint LSN %d differs from the Header's %d", t.CheckpointLSN, h.CheckpointLSN)
	case t.EndLSN < h.CheckpointLSN:
		return fmt.Sprintf("the end point %d lies before the checkpoint %d", t.EndLSN, h.CheckpointLSN)
	case t.MaxPageLSN > t.EndLSN:
		return fmt.Sprintf("the backup holds a page with LSN %d beyond its end point %d; it cannot be recovered", t.MaxPageLSN, t.EndLSN)
	case t.EndLSN > math.MaxUint64-RedoBlockSize:
		return fmt.Sprintf("the end point %d is beyond any LSN a server reaches", t.EndLSN)
	case t.Kind != KindFull && t.Kind != KindIncremental:
		return fmt.Sprintf("kind %q is neither %q nor %q", t.Kind, KindFull, KindIncremental)
	case t.Kind == KindFull && c.partial:
		return "a full backup holds only the changed pages of a file (a Tablespace marked Incremental)"
	}
	if want := (t.EndLSN/RedoBlockSize + 1) * RedoBlockSize; c.redoNext != want {
		return fmt.Sprintf("the redo runs from LSN %d to %d, but the end point %d needs it to end at %d, the end of its block",
			h.CheckpointLSN/RedoBlockSize*RedoBlockSize, c.redoNext, t.EndLSN, want)
	}
	if rule := c.checkTrailerBinlog(t); rule != "" {
		return rule
	}
	if rule := c.checkCounts(t); rule != "" {
		return rule
	}
	if rule := c.checkWholeFiles(); rule != "" {
		return rule
	}
	if c.listed {
		if t.Records != c.records {
			return fmt.Sprintf("the Trailer counts %d records, %d arrived", t.Records, c.records)
		}
		c.trailer = t
		return ""
	}
	if t.Records != c.digest.Records() {
		return fmt.Sprintf("the Trailer counts %d records, %d arrived", t.Records, c.digest.Records())
	}
	if !bytes.Equal(t.Digest, c.digest.Sum()) {
		return fmt.Sprintf("the digest does not match the %d records", c.digest.Records())
	}
	c.trailer = t
	return ""
}

func (c *StreamChecker) checkTrailerBinlog(t *Trailer) string {
	if t.BinlogFile == "" {
		if c.binlogName != "" || t.BinlogPos != 0 || t.BinlogFrom != 0 {
			return fmt.Sprintf("the Trailer names no binlog file (position %d), but binlog %q arrived", t.BinlogPos, c.binlogName)
		}
		return ""
	}
	switch {
	case t.BinlogFrom != 0 && t.Kind != KindIncremental:
		return fmt.Sprintf("the Trailer says the binlog of %s starts at offset %d, but only an incremental carries a binlog delta", t.BinlogFile, t.BinlogFrom)
	case t.BinlogFrom != 0 && c.wholeOnly:
		return fmt.Sprintf("the binlog of %s starts at offset %d: the stream holds only the binlog written since its base; an incremental snapshot is restored from the merge of its chain, which the host must send", t.BinlogFile, t.BinlogFrom)
	case c.binlogName == "" && t.BinlogFrom != 0:
		// A delta of no bytes: the base ended where this backup does.
		if t.BinlogPos != t.BinlogFrom {
			return fmt.Sprintf("the Trailer names binlog %s from %d up to position %d, but no binlog chunk arrived", t.BinlogFile, t.BinlogFrom, t.BinlogPos)
		}
		if owner, ok := c.paths[t.BinlogFile]; ok {
			return fmt.Sprintf("binlog file %s is a path %s already names", t.BinlogFile, owner)
		}
		if err := checkFileName(t.BinlogFile); err != nil {
			return "the Trailer's binlog file " + err.Error()
		}
		return ""
	case c.binlogName == "":
		return fmt.Sprintf("the Trailer names binlog %s up to position %d, but no binlog chunk arrived", t.BinlogFile, t.BinlogPos)
	case c.binlogName != t.BinlogFile:
		return fmt.Sprintf("the Trailer names binlog %s, but the chunks are of %s", t.BinlogFile, c.binlogName)
	case c.binlogFrom != c.binlogOffset(t.BinlogFrom):
		return fmt.Sprintf("the Trailer says the binlog of %s starts at offset %d, but its chunks start at %d", t.BinlogFile, c.binlogOffset(t.BinlogFrom), c.binlogFrom)
	case c.header.BinlogHeaderBytes == 0 && c.binlogNext != t.BinlogPos:
		return fmt.Sprintf("the Trailer's binlog position is %d, but the chunks of %s end at %d", t.BinlogPos, t.BinlogFile, c.binlogNext)
	case c.binlogNext != t.BinlogPos+uint64(c.header.BinlogHeaderBytes):
		return fmt.Sprintf("the Trailer's binlog position is %d (offset %d past the %d-byte header positions do not count), but the chunks of %s end at %d", t.BinlogPos, t.BinlogPos+uint64(c.header.BinlogHeaderBytes), c.header.BinlogHeaderBytes, t.BinlogFile, c.binlogNext)
	}
	return ""
}

// binlogOffset is where in the binlog file the server's position pos lies: positions do not
// count the Header's BinlogHeaderBytes (an encrypted binlog's header), except that position 0,
// a whole file's start, is offset 0.
func (c *StreamChecker) binlogOffset(pos uint64) uint64 {
	if pos == 0 {
		return 0
	}
	return pos + uint64(c.header.BinlogHeaderBytes)
}

func (c *StreamChecker) checkCounts(t *Trailer) string {
	a := c.arrived
	for _, n := range []struct {
		what            string
		declared, found uint64
	}{
		{"tablespaces", t.Tablespaces, a.Tablespaces},
		{"pages", t.Pages, a.Pages},
		{"page bytes", t.PageBytes, a.PageBytes},
		{"redo bytes", t.RedoBytes, a.RedoBytes},
		{"binlog bytes", t.BinlogBytes, a.BinlogBytes},
		{"files", t.Files, a.Files},
	} {
		if n.declared != n.found {
			return fmt.Sprintf("the Trailer counts %d %s, %d arrived", n.declared, n.what, n.found)
		}
	}
	return ""
}

// checkWholeFiles: every page of a file not marked Incremental arrived, so a consumer may size
// the file by SizePages without creating pages nobody sent.
func (c *StreamChecker) checkWholeFiles() string {
	indexes := make([]uint32, 0, len(c.files))
	for i := range c.files {
		indexes = append(indexes, i)
	}
	slices.Sort(indexes)
	for _, i := range indexes {
		f := c.files[i]
		if !f.ts.Incremental && f.pages != f.ts.SizePages {
			return fmt.Sprintf("tablespace %s declares %d pages, %d arrived (a file not marked Incremental carries every page)", f.ts.Path, f.ts.SizePages, f.pages)
		}
	}
	return ""
}

// CheckMasterKeys is the rule a restore applies to its keyring before it writes anything: a
// stream whose Header lists master keys (or carries an encrypted redo) is restored only with
// a keyring, named keyring, that holds every key the Header lists. has reports whether the
// keyring holds a keyring id; nil when no keyring was given. The error names the missing ids.
func CheckMasterKeys(h *Header, keyring string, has func(id string) bool) error {
	if len(h.MasterKeys) == 0 && len(h.RedoEncryption) == 0 {
		return nil
	}
	if has == nil {
		return Precondition(fmt.Sprintf("this backup is of an encrypted server and needs keyring keys %v; give the keyring data file that holds them (host-example restore --keyring FILE), kept outside the backup it unlocks; nothing was written", h.MasterKeys))
	}
	var missing []string
	for _, id := range h.MasterKeys {
		if !has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return Precondition(fmt.Sprintf("the keyring %s lacks key(s) %v that this backup needs; give a keyring data file with every key the server used up to this backup (an older snapshot needs the keys from before later rotations); nothing was written", keyring, missing))
	}
	return nil
}
