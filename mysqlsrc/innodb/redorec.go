package innodb

import (
	"errors"
	"fmt"
)

// RedoRecord is one parsed redo record.
type RedoRecord struct {
	Type RedoRecordType
	// Space and Page name the page a RedoPageChange record changes; a RedoSpaceEvent record
	// has the space only (Page is whatever the record carried, usually 0). Both are 0 for
	// RedoNoPage records.
	Space, Page uint32
	// StartLSN is the LSN of the record's type byte; EndLSN the LSN just past its last byte.
	StartLSN, EndLSN uint64
	// Name is the file name of MLOG_FILE_CREATE, _DELETE and _RENAME (the old name); NewName
	// the new name of MLOG_FILE_RENAME.
	Name, NewName string
}

// RedoGroup is the records of one mini-transaction: the unit InnoDB applies atomically, and the
// unit of trust here. A group is either one record flagged MLOG_SINGLE_REC_FLAG, a lone
// MLOG_DUMMY_RECORD, or records ending with MLOG_MULTI_REC_END.
type RedoGroup struct {
	StartLSN, EndLSN uint64
	Records          []RedoRecord
}

// RedoParseError says that the redo from LSN on cannot be trusted: a record is of a type this
// parser does not know, or malformed, or a block is damaged or encrypted. Redo records carry
// no length, so nothing after the bad record can be found either: the caller must treat the
// whole range from LSN to the end it wanted as untrusted.
type RedoParseError struct {
	LSN       uint64 // start of the group (mini-transaction) that could not be parsed
	RecordLSN uint64 // the record or block at fault
	Type      uint8  // the raw type byte of the record at fault (flag included); 0 for blocks
	Reason    string
	// Err classifies the failure: ErrRedoUnknownRecord, ErrRedoMalformed, ErrRedoBlock or
	// ErrRedoEncrypted. errors.Is sees it through the RedoParseError.
	Err error
}

// Classes of RedoParseError.
var (
	ErrRedoUnknownRecord = errors.New("unknown redo record type")
	ErrRedoMalformed     = errors.New("malformed redo record")
	ErrRedoBlock         = errors.New("bad redo block")
	ErrRedoEncrypted     = errors.New("redo log is encrypted (innodb_redo_log_encrypt): record bodies are unreadable")
)

func (e *RedoParseError) Error() string {
	if e.Type == 0 {
		return fmt.Sprintf("redo untrusted from lsn %d: %v: %s", e.LSN, e.Err, e.Reason)
	}
	return fmt.Sprintf("redo untrusted from lsn %d: %v at lsn %d (%v, byte 0x%02x): %s",
		e.LSN, e.Err, e.RecordLSN, RedoRecordType(e.Type&^mlogSingleRecFlag), e.Type, e.Reason)
}

func (e *RedoParseError) Unwrap() error { return e.Err }

// errRecordShort means the record continues past the bytes at hand: not an error in itself,
// the caller needs more of the log.
var errRecordShort = errors.New("redo record continues past the data")

// unknownType is a record type this parser cannot walk past.
type unknownType RedoRecordType

func (u unknownType) Error() string {
	return fmt.Sprintf("record type %d is not one redo format 6 uses", uint8(u))
}

// malformed is a record that cannot be what the server writes.
type malformed string

func (m malformed) Error() string { return string(m) }

// recReader reads a record body with a sticky error: after the first failure every read
// returns zero and the failure stays in err, so a body parser reads all its fields and checks
// once. It never reads past b.
type recReader struct {
	b        []byte
	off      int
	pageSize int
	err      error
}

func (r *recReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *recReader) failf(format string, args ...any) {
	r.fail(malformed(fmt.Sprintf(format, args...)))
}

// take returns the next n bytes, or nil (and records errRecordShort) if there are fewer.
func (r *recReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.fail(errRecordShort)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *recReader) skip(n int) { r.take(n) }

func (r *recReader) u8() uint8 {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *recReader) u16() uint16 {
	if p := r.take(2); p != nil {
		return be.Uint16(p)
	}
	return 0
}

func (r *recReader) u32() uint32 {
	if p := r.take(4); p != nil {
		return be.Uint32(p)
	}
	return 0
}

func (r *recReader) u64() uint64 {
	if p := r.take(8); p != nil {
		return be.Uint64(p)
	}
	return 0
}

// compressed reads mach_parse_compressed's 1..5-byte integer. The first byte says the length:
// 0xxxxxxx 7 bits, 10xxxxxx +1 byte 14 bits, 110xxxxx +2 21 bits, 1110xxxx +3 28 bits,
// 11110000 +4 32 bits; and the "extended" forms for values near 2^32: 111110xx +1 byte,
// 1111110x +2, 11111110 +3, or'ed onto 0xFFFFFC00, 0xFFFE0000 and 0xFF000000. The writer never
// produces 0xF1..0xF7 or 0xFF as a first byte, so those are malformed.
func (r *recReader) compressed() uint32 {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail(errRecordShort)
		return 0
	}
	first := r.b[r.off]
	switch {
	case first < 0x80:
		r.off++
		return uint32(first)
	case first < 0xC0:
		return uint32(r.u16()) & 0x3FFF
	case first < 0xE0:
		return r.u24() & 0x1FFFFF
	case first < 0xF0:
		return r.u32() & 0x0FFFFFFF
	case first == 0xF0:
		r.skip(1)
		return r.u32()
	case first < 0xF8:
		r.failf("compressed integer starts with 0x%02x", first)
		return 0
	case first < 0xFC:
		return uint32(r.u16())&0x3FF | 0xFFFFFC00
	case first < 0xFE:
		return r.u24()&0x1FFFF | 0xFFFE0000
	case first == 0xFE:
		r.skip(1)
		return r.u24() | 0xFF000000
	}
	r.failf("compressed integer starts with 0x%02x", first)
	return 0
}

func (r *recReader) u24() uint32 {
	if p := r.take(3); p != nil {
		return uint32(p[0])<<16 | uint32(p[1])<<8 | uint32(p[2])
	}
	return 0
}

// u64Compressed reads mach_u64_parse_compressed: a compressed high word, then 4 bytes.
func (r *recReader) u64Compressed() uint64 {
	high := r.compressed()
	return uint64(high)<<32 | uint64(r.u32())
}

// u64MuchCompressed reads mach_parse_u64_much_compressed: a compressed 32-bit value, or 0xFF
// followed by the compressed high and low words.
func (r *recReader) u64MuchCompressed() uint64 {
	if r.err == nil && r.off < len(r.b) && r.b[r.off] == 0xFF {
		r.skip(1)
		high := r.compressed()
		return uint64(high)<<32 | uint64(r.compressed())
	}
	return uint64(r.compressed())
}

// pageOffset reads a 2-byte offset within a page and checks it is below the page size.
func (r *recReader) pageOffset(what string) uint16 {
	off := r.u16()
	if r.err == nil && int(off) >= r.pageSize {
		r.failf("%s %d is not below the page size %d", what, off, r.pageSize)
	}
	return off
}

// parseRecordHeader reads the type byte and, for page and file records, the compressed space
// id and page number (mlog_parse_initial_log_record).
func parseRecordHeader(r *recReader, rec *RedoRecord) {
	rec.Type = RedoRecordType(r.u8() &^ mlogSingleRecFlag)
	switch rec.Type {
	case MlogMultiRecEnd, MlogDummyRecord, MlogTableDynamicMeta:
		return
	}
	rec.Space = r.compressed()
	rec.Page = r.compressed()
}

// parseRecordBody reads the body of rec.Type after the header, as recv_parse_or_apply_log_rec_body
// does when it only parses. An unknown type is malformed.
func parseRecordBody(r *recReader, rec *RedoRecord) {
	t := rec.Type
	switch t {
	case MlogMultiRecEnd, MlogDummyRecord:
	case MlogTableDynamicMeta:
		parseDynamicMeta(r)
	case Mlog1Byte, Mlog2Bytes, Mlog4Bytes, Mlog8Bytes:
		parseNBytes(r, t)
	case MlogWriteString:
		off := r.pageOffset("MLOG_WRITE_STRING offset")
		n := r.u16()
		if r.err == nil && int(off)+int(n) > r.pageSize {
			r.failf("MLOG_WRITE_STRING of %d bytes at %d runs past the page end", n, off)
		}
		r.skip(int(n))
	case MlogFileCreate:
		r.skip(4) // tablespace flags
		rec.Name = parseFileName(r, "MLOG_FILE_CREATE")
	case MlogFileDelete:
		rec.Name = parseFileName(r, "MLOG_FILE_DELETE")
	case MlogFileRename:
		rec.Name = parseFileName(r, "MLOG_FILE_RENAME")
		rec.NewName = parseFileName(r, "MLOG_FILE_RENAME")
	case MlogFileExtend:
		r.skip(8) // offset where the zero-filling starts
		if size := r.u64(); r.err == nil && size == 0 {
			r.failf("MLOG_FILE_EXTEND by 0 bytes")
		}
	case MlogIndexLoad:
		r.skip(8)
	default:
		parsePageRecordBody(r, t)
	}
}

// parsePageRecordBody handles the B-tree, undo, compressed-page and page-init records.
func parsePageRecordBody(r *recReader, t RedoRecordType) {
	switch t {
	case MlogRecInsert, MlogRecClustDeleteMark, MlogRecUpdateInPlace, MlogRecDelete,
		MlogListEndDelete, MlogListStartDelete, MlogListEndCopyCreated, MlogPageReorganize,
		MlogZipPageReorganize, MlogZipPageCompressNoData:
		parseIndex(r)
		parseIndexRecordBody(r, t)
	case MlogRecInsert8027, MlogCompRecInsert8027, MlogRecClustDeleteMark8027, MlogCompRecClustDeleteMark8027,
		MlogRecUpdateInPlace8027, MlogCompRecUpdateInPlace8027, MlogRecDelete8027, MlogCompRecDelete8027,
		MlogListEndDelete8027, MlogCompListEndDelete8027, MlogListStartDelete8027, MlogCompListStartDelete8027,
		MlogListEndCopyCreated8027, MlogCompListEndCopyCreated8027, MlogPageReorganize8027,
		MlogCompPageReorganize8027, MlogZipPageReorganize8027, MlogZipPageCompressNoData8027:
		parseIndex8027(r, isCompact8027(t))
		parseIndexRecordBody(r, t)
	case MlogCompRecSecDeleteMark:
		parseIndex8027(r, true)
		parseSecDeleteMark(r)
	case MlogRecSecDeleteMark:
		parseSecDeleteMark(r)
	case MlogPageCreate, MlogCompPageCreate, MlogPageCreateRtree, MlogCompPageCreateRtree,
		MlogPageCreateSDI, MlogCompPageCreateSDI, MlogUndoEraseEnd, MlogIbufBitmapInit,
		MlogInitFilePage, MlogInitFilePage2:
		// No body.
	case MlogUndoInsert:
		r.skip(int(r.u16()))
	case MlogUndoInit:
		r.compressed() // undo page type
	case MlogUndoHdrCreate, MlogUndoHdrReuse:
		r.u64Compressed() // transaction id
	case MlogRecMinMark, MlogCompRecMinMark:
		r.pageOffset("record offset")
	case MlogZipWriteNodePtr:
		parseZipWrite(r, 4) // REC_NODE_PTR_SIZE
	case MlogZipWriteBlobPtr:
		parseZipWrite(r, 20) // BTR_EXTERN_FIELD_REF_SIZE
	case MlogZipWriteHeader:
		parseZipWriteHeader(r)
	case MlogZipPageCompress:
		size, trailer := r.u16(), r.u16()
		r.skip(8 + int(size) + int(trailer)) // FIL_PAGE_PREV and _NEXT, then the compressed page
	default:
		r.fail(unknownType(t))
	}
}

// isCompact8027 reports whether an 8.0.27-format index record carries a compact index
// descriptor. MLOG_COMP_PAGE_REORGANIZE_8027 and MLOG_ZIP_* always do; MLOG_PAGE_REORGANIZE_8027
// never does.
func isCompact8027(t RedoRecordType) bool {
	switch t {
	case MlogCompRecInsert8027, MlogCompRecClustDeleteMark8027, MlogCompRecUpdateInPlace8027,
		MlogCompRecDelete8027, MlogCompListEndDelete8027, MlogCompListStartDelete8027,
		MlogCompListEndCopyCreated8027, MlogCompPageReorganize8027, MlogZipPageReorganize8027,
		MlogZipPageCompressNoData8027:
		return true
	}
	return false
}

// parseIndexRecordBody reads what follows the index descriptor of an index record.
func parseIndexRecordBody(r *recReader, t RedoRecordType) {
	switch t {
	case MlogRecInsert, MlogRecInsert8027, MlogCompRecInsert8027:
		parseInsert(r)
	case MlogRecClustDeleteMark, MlogRecClustDeleteMark8027, MlogCompRecClustDeleteMark8027:
		r.skip(2) // flags, value
		parseSysVals(r)
		r.pageOffset("record offset")
	case MlogRecUpdateInPlace, MlogRecUpdateInPlace8027, MlogCompRecUpdateInPlace8027:
		r.skip(1) // flags
		parseSysVals(r)
		r.pageOffset("record offset")
		parseUpdateVector(r)
	case MlogRecDelete, MlogRecDelete8027, MlogCompRecDelete8027,
		MlogListEndDelete, MlogListStartDelete, MlogListEndDelete8027, MlogCompListEndDelete8027,
		MlogListStartDelete8027, MlogCompListStartDelete8027:
		r.pageOffset("record offset")
	case MlogListEndCopyCreated, MlogListEndCopyCreated8027, MlogCompListEndCopyCreated8027:
		// The copied records, as a run of insert records of the given total length.
		r.skip(int(r.u32()))
	case MlogPageReorganize, MlogPageReorganize8027, MlogCompPageReorganize8027:
		// Nothing: only the compressed variants log the compression level.
	case MlogZipPageReorganize, MlogZipPageReorganize8027, MlogZipPageCompressNoData, MlogZipPageCompressNoData8027:
		if level := r.u8(); r.err == nil && level > 9 {
			r.failf("compression level %d", level)
		}
	}
}

// parseInsert reads page_cur_parse_insert_rec's body: the cursor record's offset, then the
// length of the record's end segment times two, its low bit saying whether the info bits, the
// origin offset and the mismatch index follow, then the end segment.
func parseInsert(r *recReader) {
	r.pageOffset("cursor record offset")
	endSegLen := r.compressed()
	if r.err == nil && int64(endSegLen) >= int64(r.pageSize)*2 {
		r.failf("insert end segment length %d", endSegLen>>1)
		return
	}
	if endSegLen&1 != 0 {
		r.skip(1) // info and status bits
		if origin := r.compressed(); r.err == nil && int(origin) >= r.pageSize {
			r.failf("insert origin offset %d", origin)
		}
		if mismatch := r.compressed(); r.err == nil && int(mismatch) >= r.pageSize {
			r.failf("insert mismatch index %d", mismatch)
		}
	}
	r.skip(int(endSegLen >> 1))
}

// parseSysVals reads row_upd_parse_sys_vals: the DB_TRX_ID position, the 7-byte roll pointer
// and the transaction id.
func parseSysVals(r *recReader) {
	r.compressed()
	r.skip(7)
	r.u64Compressed()
}

// parseUpdateVector reads row_upd_index_parse: info bits, the field count, and per field its
// number and length (0xFFFFFFFF = SQL NULL, no data) and data.
func parseUpdateVector(r *recReader) {
	r.skip(1)
	n := r.compressed()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.compressed() // field number; + REC_MAX_N_FIELDS for virtual columns
		if length := r.compressed(); length != 0xFFFFFFFF {
			r.skip(int(length))
		}
	}
}

func parseSecDeleteMark(r *recReader) {
	r.skip(1) // value
	r.pageOffset("record offset")
}

// parseZipWrite reads page_zip_parse_write_node_ptr/_blob_ptr: offsets in the page and in the
// compressed page, then n bytes.
func parseZipWrite(r *recReader, n int) {
	r.pageOffset("record offset")
	r.pageOffset("compressed page offset")
	r.skip(n)
}

// parseZipWriteHeader reads page_zip_parse_write_header: a 1-byte offset and a 1-byte length,
// both within the page header (below PAGE_DATA, 94), then the bytes.
func parseZipWriteHeader(r *recReader) {
	off, n := r.u8(), r.u8()
	if r.err == nil && (n == 0 || int(off)+int(n) >= pageData) {
		r.failf("compressed page header write of %d bytes at %d", n, off)
	}
	r.skip(int(n))
}

// pageData is PAGE_DATA, where the records of an index page start.
const pageData = 38 + 36 + 2*10

// parseNBytes reads mlog_parse_nbytes: a 2-byte page offset and a compressed value (64-bit for
// MLOG_8BYTES) that must fit the width.
func parseNBytes(r *recReader, t RedoRecordType) {
	r.pageOffset("write offset")
	if t == Mlog8Bytes {
		r.u64Compressed()
		return
	}
	v := r.compressed()
	if r.err == nil && (t == Mlog1Byte && v > 0xFF || t == Mlog2Bytes && v > 0xFFFF) {
		r.failf("%v value 0x%x does not fit", t, v)
	}
}

// parseFileName reads a 2-byte length and a NUL-terminated file name of that length.
func parseFileName(r *recReader, what string) string {
	n := r.u16()
	p := r.take(int(n))
	if r.err != nil {
		return ""
	}
	if n < 2 || p[n-1] != 0 {
		r.failf("%s file name %q is not NUL-terminated", what, p)
		return ""
	}
	return string(p[:n-1])
}

// Index descriptor flags of INDEX_LOG_VERSION 1 (8.0.30 and later).
const (
	indexLogVersion   = 1
	indexFlagCompact  = 0x01
	indexFlagVersions = 0x02
	indexFlagInstant  = 0x04
)

// parseIndex reads mlog_parse_index: version 1, a flag byte, then for compact or versioned
// indexes the field count and, for compact ones, the instant column count (if instant), n_uniq
// and a 2-byte length per field; for versioned ones, the list of fields added or dropped
// instantly. The server refuses any other version, and so does this parser.
func parseIndex(r *recReader) {
	if v := r.u8(); r.err == nil && v != indexLogVersion {
		r.failf("index log version %d, want %d", v, indexLogVersion)
		return
	}
	flags := r.u8()
	compact, versioned := flags&indexFlagCompact != 0, flags&indexFlagVersions != 0
	if r.err == nil && flags&^(indexFlagCompact|indexFlagVersions|indexFlagInstant) != 0 {
		r.failf("index flags 0x%02x", flags)
	}
	if !compact && !versioned {
		return
	}
	n := r.u16()
	if compact {
		if flags&indexFlagInstant != 0 {
			r.skip(2) // fields before the first instant ADD COLUMN
		}
		if uniq := r.u16(); r.err == nil && uniq > n {
			r.failf("index n_uniq %d > n %d", uniq, n)
		}
		r.skip(2 * int(n))
	}
	if versioned {
		parseVersionedFields(r)
	}
}

// parseVersionedFields reads a count, then per field its logical and physical position; bit 15
// of the physical position says a version-added byte follows, bit 14 a version-dropped byte.
func parseVersionedFields(r *recReader) {
	n := r.u16()
	for i := 0; i < int(n) && r.err == nil; i++ {
		r.skip(2)
		phys := r.u16()
		if phys&0x8000 != 0 {
			r.skip(1)
		}
		if phys&0x4000 != 0 {
			r.skip(1)
		}
	}
}

// parseIndex8027 reads mlog_parse_index_8027, the descriptor of the old index records: for
// compact indexes the field count, n_uniq and a 2-byte length per field; nothing otherwise.
func parseIndex8027(r *recReader, compact bool) {
	if !compact {
		return
	}
	n, uniq := r.u16(), r.u16()
	if r.err == nil && uniq > n {
		r.failf("index n_uniq %d > n %d", uniq, n)
	}
	r.skip(2 * int(n))
}

// Persistent dynamic metadata types (persistent_type_t).
const (
	pmIndexCorrupted = 1
	pmTableAutoInc   = 2
)

// parseDynamicMeta reads MLOG_TABLE_DYNAMIC_META after its type byte: the table id and the
// metadata version (both much-compressed 64-bit), the metadata type and its value: for
// AUTO_INCREMENT the counter, for corrupted indexes a count and per index its space id and
// index id. The server itself stops the record after the version for a type it does not know;
// this parser calls that malformed.
func parseDynamicMeta(r *recReader) {
	r.u64MuchCompressed() // table id
	r.u64MuchCompressed() // version
	switch typ := r.u8(); {
	case r.err != nil:
	case typ == pmTableAutoInc:
		r.u64MuchCompressed()
	case typ == pmIndexCorrupted:
		n := r.compressed()
		if r.err == nil && n == 0 {
			r.failf("corrupted-index metadata lists no index")
		}
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.compressed()
			r.u64MuchCompressed()
		}
	default:
		r.failf("dynamic metadata type %d", typ)
	}
}
