// Package innodb reads, checks and writes the InnoDB on-disk structures a hot physical backup
// touches: data pages (checksums), page 0 of a tablespace (space id, page size, size) and the
// redo log of MySQL 8.0.30 and later (format 6: file header, checkpoint blocks, data blocks).
// It does no I/O; callers hand it byte slices.
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
package innodb
