// Package innodb reads, checks and writes the InnoDB on-disk structures a hot physical backup
// touches: data pages (checksums), page 0 of a tablespace (space id, page size, size) and the
// redo log of MySQL 8.0.30 and later (format 6: file header, checkpoint blocks, data blocks and
// the records in them).
// It does no file I/O; callers hand it byte slices (or, for redo walks, a reader).
//
// Every integer is big-endian. Redo checksums are CRC-32C (Castagnoli). Page checksums are
// CRC-32C under innodb_checksum_algorithm=crc32 (the default, formulas below), but InnoDB
// accepts on read what any setting wrote, and so does ValidatePage (checksum.go): the legacy
// big-endian crc32, the innodb fold checksum (header) with the old fold of bytes 0..25
// (trailer) — adler32 from 0 for compressed pages — and the none magic 0xDEADBEEF. Under none
// only the LSN copy in the trailer guards against torn reads, and a ROW_FORMAT=COMPRESSED page
// stamped none carries nothing checkable at all. Pages of transparent page compression
// (FIL_PAGE_COMPRESSED, pagecomp.go) are decompressed and then checked. Pages and redo blocks
// of encrypted tablespaces and redo logs are checked after decryption with the tablespace key,
// which page 0 (or the redo file) keeps sealed with a keyring master key (encryption.go).
//
// # Data pages
//
// A tablespace file is an array of pages of the physical page size: innodb_page_size (16 KiB by
// default) or, for ROW_FORMAT=COMPRESSED tables, the table's zip size (KEY_BLOCK_SIZE). Every
// page starts with a 38-byte FIL header:
//
//	offset size field
//	0      4    checksum
//	4      4    page number (FIL_PAGE_OFFSET), equal to the page's index in the file
//	8      4    previous page in a list
//	12     4    next page in a list
//	16     8    FIL_PAGE_LSN: LSN of the newest change written to the page
//	24     2    page type (8 = FSP_HDR, the type of page 0)
//	26     8    flush LSN; written at shutdown on page 0 of ibdata1 only
//	34     4    space id
//
// An uncompressed page ends with an 8-byte FIL trailer: a copy of the checksum, then the low
// 32 bits of FIL_PAGE_LSN. Its checksum is
//
//	crc32c(p[4:26]) XOR crc32c(p[38:size-8])
//
// so the checksum field itself, bytes 26..37 (flush LSN and space id) and the trailer are left
// out. A page whose header and trailer disagree was torn: written or read in two parts.
//
// A compressed page has no trailer. Its checksum, stored at 0, is
//
//	crc32c(p[4:16]) XOR crc32c(p[24:26]) XOR crc32c(p[34:zip_size])
//
// which leaves out FIL_PAGE_LSN and bytes 26..33. A page that is all zeros has never been written
// and is valid in both kinds of file.
//
// # Page 0
//
// Page 0 of every tablespace is an FSP_HDR page: the FIL header is followed by the FSP header.
// The fields used here:
//
//	offset size field
//	38     4    space id; must equal the one at 34
//	46     4    FSP_SIZE: the tablespace's size in pages
//	50     4    FSP_FREE_LIMIT
//	54     4    FSP flags
//
// The FSP flags:
//
//	bit    field
//	0      POST_ANTELOPE (Barracuda row formats)
//	1..4   ZIP_SSIZE: 0 = not compressed, else the zip size is 512<<z (1 KiB..16 KiB)
//	5      ATOMIC_BLOBS (set together with POST_ANTELOPE)
//	6..9   PAGE_SSIZE: 0 = 16 KiB, else the page size is 512<<s (4 KiB..64 KiB)
//	10     DATA_DIR (created with DATA DIRECTORY)
//	11     SHARED (system, mysql.ibd, general tablespaces)
//	12     TEMPORARY
//	13     ENCRYPTION
//	14     SDI (holds serialized dictionary information)
//
// With 16 KiB pages MySQL 9.7 writes 0x4021 for file-per-table tablespaces, 0x4029 and 0x4027
// for KEY_BLOCK_SIZE=8 and 4, 0x4800 for ibdata1, mysql.ibd and general tablespaces, and 0 for
// undo tablespaces.
//
// # Redo log (format 6)
//
// The redo log lives in #innodb_redo/#ib_redoN files (#ib_redoN_tmp are spares). LSNs count
// every byte of the log, block headers and trailers included. Each file starts with four
// 512-byte blocks, then data blocks from file offset 2048 on; the byte at offset 2048 has LSN
// start_lsn, so the file covers [start_lsn, start_lsn+file_size-2048).
//
//	file offset  block
//	0            file header
//	512          checkpoint slot 1
//	1024         encryption information (all zero when redo encryption is off)
//	1536         checkpoint slot 2
//	2048...      data blocks
//
// Every one of these blocks but the encryption one carries crc32c of its first 508 bytes in its
// last 4 bytes; the encryption block keeps its record 48 bytes in, guarded by the record's own
// crc32c (encryption.go).
//
// The file header:
//
//	offset size field
//	0      4    format: 6 for MySQL 8.0.30 and later
//	4      4    log uuid, the same in every file of a server
//	8      8    start_lsn, a multiple of 512
//	16     32   creator, NUL-terminated (e.g. "MySQL 9.7.4")
//	48     4    flags: 1 NO_LOGGING, 2 CRASH_UNSAFE, 4 NOT_INITIALIZED, 8 FILE_FULL
//	508    4    crc32c(0..507)
//
// A checkpoint block holds the checkpoint LSN at offset 8. mysqld writes checkpoints only into the
// file that contains the checkpoint LSN, alternating between the two slots, and recovery takes the
// largest valid one. An all-zero slot is unused.
//
// A data block:
//
//	offset size field
//	0      4    hdr_no = (lsn/512 mod 2^30) + 1; bit 31 is an old flush flag, ignored
//	4      2    data_len: bytes used, header included; 512 = full. Bit 15 = encrypted
//	6      2    first_rec_group: offset of the first mini-transaction starting here; 0 = none
//	8      4    epoch_no = lsn/512/2^30 + 1
//	12     496  log records
//	508    4    crc32c(0..507)
//
// A block is the one expected at an LSN only if its checksum, hdr_no and epoch_no all match:
// recycled files keep stale blocks from their previous life, and only those checks tell them
// apart. A block with data_len below 512 is the end of the log.
//
// # Redo records (redorec.go, redowalk.go)
//
// The record bytes of consecutive blocks (12..data_len, at most 508) form one stream; InnoDB
// counts them as sn, and lsn = sn/496*512 + sn%496 + 12, so a record that ends where a block's
// record area ends ends at the next block's offset 12. Records carry no length: the only way to
// find where one ends is to parse its body, so RedoWalker parses every record type of format 6.
// A record starts with its type byte (mlog_id_t; bit 7 is MLOG_SINGLE_REC_FLAG), then, except
// for MLOG_MULTI_REC_END (31), MLOG_DUMMY_RECORD (32) and MLOG_TABLE_DYNAMIC_META (62), the
// space id and page number as compressed integers. A compressed integer's first byte gives its
// length: 0xxxxxxx is 7 bits; 10, 110, 1110 prefixes add 1, 2, 3 bytes (14, 21, 28 bits);
// 0xF0 is followed by 4 bytes; 0xF8..0xFB, 0xFC..0xFD and 0xFE (+1, +2, +3 bytes) encode values
// near 2^32 (page FIL_NULL, space ids of mysql.ibd and undo tablespaces). A 64-bit "compressed"
// value is a compressed high word and 4 bytes; a "much compressed" one is a compressed value,
// or 0xFF and two compressed words.
//
// A mini-transaction writes one group: a single record with the flag set, a lone
// MLOG_DUMMY_RECORD, or records without the flag ending with MLOG_MULTI_REC_END. The group is
// the unit of trust: RedoWalker hands out a group only when all of it parsed, and after each
// group that reaches into later blocks it checks their first_rec_group (0 in blocks the group
// fills, the next group's offset in the block where it ends), which catches a record parsed to
// the wrong length. A block that fails CheckRedoBlockAt, ends before the walk's end LSN or has
// the encrypted bit, an unknown type (including MLOG_TEST, 66, which only the server's unit
// tests write) or a body the server could not have written gives a *RedoParseError: the range
// from its LSN on is untrusted, since nothing after the bad record can be found.
//
// The bodies (after space and page; "off" is a 2-byte page offset below innodb_page_size,
// "c" a compressed integer, "c64" a 64-bit compressed one):
//
//	1/2/4BYTES             off, c (must fit 1 or 2 bytes for 1BYTE, 2BYTES)
//	8BYTES                 off, c64
//	WRITE_STRING           off, 2-byte length n, n bytes (off+n within the page)
//	REC_INSERT             index, off, c L; if L&1: info byte, c origin, c mismatch; L>>1 bytes
//	REC_CLUST_DELETE_MARK  index, flags, value, sys, off
//	REC_UPDATE_IN_PLACE    index, flags, sys, off, info byte, c n, n × (c field, c len, len
//	                       bytes unless len is 0xFFFFFFFF, SQL NULL)
//	REC_SEC_DELETE_MARK    value byte, off (COMP_REC_SEC_DELETE_MARK: an 8027 index first)
//	REC_DELETE, LIST_END_DELETE, LIST_START_DELETE   index, off
//	REC_MIN_MARK, COMP_REC_MIN_MARK                  off
//	LIST_END_COPY_CREATED  index, 4-byte length n, n bytes of insert records
//	PAGE_REORGANIZE        index; ZIP_PAGE_REORGANIZE and ZIP_PAGE_COMPRESS_NO_DATA: index,
//	                       compression level byte (0..9)
//	ZIP_WRITE_NODE_PTR     off, off in the compressed page, 4 bytes (20 for ZIP_WRITE_BLOB_PTR)
//	ZIP_WRITE_HEADER       offset byte, length byte n (offset+n < 94), n bytes
//	ZIP_PAGE_COMPRESS      2-byte size, 2-byte trailer size, 8 + size + trailer bytes
//	UNDO_INSERT            2-byte length n, n bytes
//	UNDO_INIT              c undo page type; UNDO_HDR_CREATE, _REUSE: c64 transaction id
//	FILE_CREATE            4-byte space flags, name; FILE_DELETE name; FILE_RENAME old, new
//	                       name (a name is a 2-byte length and that many bytes, NUL included)
//	FILE_EXTEND            8-byte offset, 8-byte size (not 0)
//	INDEX_LOAD             8 bytes
//	TABLE_DYNAMIC_META     (no space/page) much-compressed table id and version, a type byte:
//	                       2 AUTO_INCREMENT, a much-compressed counter; 1 corrupted indexes,
//	                       c n ≥ 1, n × (c space id, much-compressed index id)
//	PAGE_CREATE, COMP_PAGE_CREATE and their _RTREE and _SDI forms, INIT_FILE_PAGE(2),
//	UNDO_ERASE_END, IBUF_BITMAP_INIT   nothing
//
// "sys" is the DB_TRX_ID position (c), the 7-byte roll pointer and the transaction id (c64).
// "index" describes the index, version 1 (MySQL 8.0.30 on; the server refuses any other, and so
// does the parser): version byte, flag byte (1 compact, 2 versioned, 4 instant); then, unless
// neither compact nor versioned, a 2-byte field count n; for compact indexes the field count
// before the first instant column (2 bytes, if instant), n_uniq (2 bytes) and 2 bytes per field;
// for versioned ones a 2-byte count and per field a 2-byte logical and physical position, bits
// 15 and 14 of the latter each adding a version byte. The index records of 8.0.27 and earlier
// (types 9..18 and 38..53 with an _8027 suffix) carry the old descriptor: for compact ones
// n, n_uniq and 2 bytes per field, nothing otherwise; servers of format 6 no longer write them.
//
// ChangedPages reports each page a group changes with the group's end LSN, which is the
// FIL_PAGE_LSN the change gives the page, and reports file operations and MLOG_INDEX_LOAD (an
// index built without page redo) as whole-space events. It does not report pages a
// mini-transaction only held latched: InnoDB stamps those with its end LSN too (mysqlsrc/doc.go
// has the measurement), so a page-LSN scan finds pages whose only change is that stamp.
package innodb
