package innodb

import "fmt"

// RedoRecordType is the type byte of a redo record (mlog_id_t) with MLOG_SINGLE_REC_FLAG masked
// off. The numbers are those of MySQL 8.0.30 and later; the types that 8.0.27 and earlier wrote
// for index records (and that later servers still parse) keep their old numbers and carry an
// "8027" suffix.
type RedoRecordType uint8

// The record types of redo format 6. Types 23, 28, 47, 54..56 and 60 are gone (or debug-only) and
// count as unknown, as does MLOG_TEST (66), which only unit tests of the server write.
const (
	Mlog1Byte                      RedoRecordType = 1
	Mlog2Bytes                     RedoRecordType = 2
	Mlog4Bytes                     RedoRecordType = 4
	Mlog8Bytes                     RedoRecordType = 8
	MlogRecInsert8027              RedoRecordType = 9
	MlogRecClustDeleteMark8027     RedoRecordType = 10
	MlogRecSecDeleteMark           RedoRecordType = 11
	MlogRecUpdateInPlace8027       RedoRecordType = 13
	MlogRecDelete8027              RedoRecordType = 14
	MlogListEndDelete8027          RedoRecordType = 15
	MlogListStartDelete8027        RedoRecordType = 16
	MlogListEndCopyCreated8027     RedoRecordType = 17
	MlogPageReorganize8027         RedoRecordType = 18
	MlogPageCreate                 RedoRecordType = 19
	MlogUndoInsert                 RedoRecordType = 20
	MlogUndoEraseEnd               RedoRecordType = 21
	MlogUndoInit                   RedoRecordType = 22
	MlogUndoHdrReuse               RedoRecordType = 24
	MlogUndoHdrCreate              RedoRecordType = 25
	MlogRecMinMark                 RedoRecordType = 26
	MlogIbufBitmapInit             RedoRecordType = 27
	MlogInitFilePage               RedoRecordType = 29
	MlogWriteString                RedoRecordType = 30
	MlogMultiRecEnd                RedoRecordType = 31
	MlogDummyRecord                RedoRecordType = 32
	MlogFileCreate                 RedoRecordType = 33
	MlogFileRename                 RedoRecordType = 34
	MlogFileDelete                 RedoRecordType = 35
	MlogCompRecMinMark             RedoRecordType = 36
	MlogCompPageCreate             RedoRecordType = 37
	MlogCompRecInsert8027          RedoRecordType = 38
	MlogCompRecClustDeleteMark8027 RedoRecordType = 39
	MlogCompRecSecDeleteMark       RedoRecordType = 40
	MlogCompRecUpdateInPlace8027   RedoRecordType = 41
	MlogCompRecDelete8027          RedoRecordType = 42
	MlogCompListEndDelete8027      RedoRecordType = 43
	MlogCompListStartDelete8027    RedoRecordType = 44
	MlogCompListEndCopyCreated8027 RedoRecordType = 45
	MlogCompPageReorganize8027     RedoRecordType = 46
	MlogZipWriteNodePtr            RedoRecordType = 48
	MlogZipWriteBlobPtr            RedoRecordType = 49
	MlogZipWriteHeader             RedoRecordType = 50
	MlogZipPageCompress            RedoRecordType = 51
	MlogZipPageCompressNoData8027  RedoRecordType = 52
	MlogZipPageReorganize8027      RedoRecordType = 53
	MlogPageCreateRtree            RedoRecordType = 57
	MlogCompPageCreateRtree        RedoRecordType = 58
	MlogInitFilePage2              RedoRecordType = 59
	MlogIndexLoad                  RedoRecordType = 61
	MlogTableDynamicMeta           RedoRecordType = 62
	MlogPageCreateSDI              RedoRecordType = 63
	MlogCompPageCreateSDI          RedoRecordType = 64
	MlogFileExtend                 RedoRecordType = 65
	MlogTest                       RedoRecordType = 66
	MlogRecInsert                  RedoRecordType = 67
	MlogRecClustDeleteMark         RedoRecordType = 68
	MlogRecDelete                  RedoRecordType = 69
	MlogRecUpdateInPlace           RedoRecordType = 70
	MlogListEndCopyCreated         RedoRecordType = 71
	MlogPageReorganize             RedoRecordType = 72
	MlogZipPageReorganize          RedoRecordType = 73
	MlogZipPageCompressNoData      RedoRecordType = 74
	MlogListEndDelete              RedoRecordType = 75
	MlogListStartDelete            RedoRecordType = 76
)

// mlogSingleRecFlag marks the first (and only) record of a mini-transaction that wrote one
// record; such a group has no MLOG_MULTI_REC_END.
const mlogSingleRecFlag = 0x80

var redoRecordTypeNames = map[RedoRecordType]string{
	Mlog1Byte: "MLOG_1BYTE", Mlog2Bytes: "MLOG_2BYTES", Mlog4Bytes: "MLOG_4BYTES", Mlog8Bytes: "MLOG_8BYTES",
	MlogRecInsert8027: "MLOG_REC_INSERT_8027", MlogRecClustDeleteMark8027: "MLOG_REC_CLUST_DELETE_MARK_8027",
	MlogRecSecDeleteMark: "MLOG_REC_SEC_DELETE_MARK", MlogRecUpdateInPlace8027: "MLOG_REC_UPDATE_IN_PLACE_8027",
	MlogRecDelete8027: "MLOG_REC_DELETE_8027", MlogListEndDelete8027: "MLOG_LIST_END_DELETE_8027",
	MlogListStartDelete8027: "MLOG_LIST_START_DELETE_8027", MlogListEndCopyCreated8027: "MLOG_LIST_END_COPY_CREATED_8027",
	MlogPageReorganize8027: "MLOG_PAGE_REORGANIZE_8027", MlogPageCreate: "MLOG_PAGE_CREATE",
	MlogUndoInsert: "MLOG_UNDO_INSERT", MlogUndoEraseEnd: "MLOG_UNDO_ERASE_END", MlogUndoInit: "MLOG_UNDO_INIT",
	MlogUndoHdrReuse: "MLOG_UNDO_HDR_REUSE", MlogUndoHdrCreate: "MLOG_UNDO_HDR_CREATE",
	MlogRecMinMark: "MLOG_REC_MIN_MARK", MlogIbufBitmapInit: "MLOG_IBUF_BITMAP_INIT",
	MlogInitFilePage: "MLOG_INIT_FILE_PAGE", MlogWriteString: "MLOG_WRITE_STRING",
	MlogMultiRecEnd: "MLOG_MULTI_REC_END", MlogDummyRecord: "MLOG_DUMMY_RECORD",
	MlogFileCreate: "MLOG_FILE_CREATE", MlogFileRename: "MLOG_FILE_RENAME", MlogFileDelete: "MLOG_FILE_DELETE",
	MlogCompRecMinMark: "MLOG_COMP_REC_MIN_MARK", MlogCompPageCreate: "MLOG_COMP_PAGE_CREATE",
	MlogCompRecInsert8027: "MLOG_COMP_REC_INSERT_8027", MlogCompRecClustDeleteMark8027: "MLOG_COMP_REC_CLUST_DELETE_MARK_8027",
	MlogCompRecSecDeleteMark: "MLOG_COMP_REC_SEC_DELETE_MARK", MlogCompRecUpdateInPlace8027: "MLOG_COMP_REC_UPDATE_IN_PLACE_8027",
	MlogCompRecDelete8027: "MLOG_COMP_REC_DELETE_8027", MlogCompListEndDelete8027: "MLOG_COMP_LIST_END_DELETE_8027",
	MlogCompListStartDelete8027: "MLOG_COMP_LIST_START_DELETE_8027", MlogCompListEndCopyCreated8027: "MLOG_COMP_LIST_END_COPY_CREATED_8027",
	MlogCompPageReorganize8027: "MLOG_COMP_PAGE_REORGANIZE_8027", MlogZipWriteNodePtr: "MLOG_ZIP_WRITE_NODE_PTR",
	MlogZipWriteBlobPtr: "MLOG_ZIP_WRITE_BLOB_PTR", MlogZipWriteHeader: "MLOG_ZIP_WRITE_HEADER",
	MlogZipPageCompress: "MLOG_ZIP_PAGE_COMPRESS", MlogZipPageCompressNoData8027: "MLOG_ZIP_PAGE_COMPRESS_NO_DATA_8027",
	MlogZipPageReorganize8027: "MLOG_ZIP_PAGE_REORGANIZE_8027", MlogPageCreateRtree: "MLOG_PAGE_CREATE_RTREE",
	MlogCompPageCreateRtree: "MLOG_COMP_PAGE_CREATE_RTREE", MlogInitFilePage2: "MLOG_INIT_FILE_PAGE2",
	MlogIndexLoad: "MLOG_INDEX_LOAD", MlogTableDynamicMeta: "MLOG_TABLE_DYNAMIC_META",
	MlogPageCreateSDI: "MLOG_PAGE_CREATE_SDI", MlogCompPageCreateSDI: "MLOG_COMP_PAGE_CREATE_SDI",
	MlogFileExtend: "MLOG_FILE_EXTEND", MlogTest: "MLOG_TEST",
	MlogRecInsert: "MLOG_REC_INSERT", MlogRecClustDeleteMark: "MLOG_REC_CLUST_DELETE_MARK",
	MlogRecDelete: "MLOG_REC_DELETE", MlogRecUpdateInPlace: "MLOG_REC_UPDATE_IN_PLACE",
	MlogListEndCopyCreated: "MLOG_LIST_END_COPY_CREATED", MlogPageReorganize: "MLOG_PAGE_REORGANIZE",
	MlogZipPageReorganize: "MLOG_ZIP_PAGE_REORGANIZE", MlogZipPageCompressNoData: "MLOG_ZIP_PAGE_COMPRESS_NO_DATA",
	MlogListEndDelete: "MLOG_LIST_END_DELETE", MlogListStartDelete: "MLOG_LIST_START_DELETE",
}

// String returns the server's name for the type, or "unknown type N".
func (t RedoRecordType) String() string {
	if name, ok := redoRecordTypeNames[t]; ok {
		return name
	}
	return fmt.Sprintf("unknown type %d", uint8(t))
}

// RedoRecordKind says what a record means to a change tracker.
type RedoRecordKind uint8

const (
	// RedoPageChange records change one page, named by Space and Page.
	RedoPageChange RedoRecordKind = iota + 1
	// RedoSpaceEvent records concern a whole tablespace: a file created, deleted, renamed or
	// extended, or an index built without page-level redo (MLOG_INDEX_LOAD).
	RedoSpaceEvent
	// RedoNoPage records change no page: MLOG_MULTI_REC_END, MLOG_DUMMY_RECORD and
	// MLOG_TABLE_DYNAMIC_META (table metadata kept in the redo and the DD buffer table).
	RedoNoPage
)

// Kind returns what the record type means to a change tracker.
func (t RedoRecordType) Kind() RedoRecordKind {
	switch t {
	case MlogFileCreate, MlogFileRename, MlogFileDelete, MlogFileExtend, MlogIndexLoad:
		return RedoSpaceEvent
	case MlogMultiRecEnd, MlogDummyRecord, MlogTableDynamicMeta:
		return RedoNoPage
	}
	return RedoPageChange
}
