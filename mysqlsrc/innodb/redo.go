package innodb

import (
	"errors"
	"fmt"
)

// Redo log file layout (format 6, Log_format::VERSION_8_0_30).
const (
	RedoBlockSize        = 512
	RedoDataOffset       = 2048 // file offset of the first data block; start_lsn is the LSN of this byte
	RedoFormat           = 6    // Log_format::VERSION_8_0_30
	RedoBlockHeaderSize  = 12
	RedoBlockTrailerSize = 4
)

// Flags in the redo file header.
const (
	RedoFlagNoLogging      = 1 // innodb_redo_log disabled: the data files are not crash safe
	RedoFlagCrashUnsafe    = 2
	RedoFlagNotInitialized = 4 // the file is being created
	RedoFlagFileFull       = 8 // the server has moved on to the next file
)

// Errors that CheckRedoBlockAt (and the other redo parsers, for ErrBadChecksum) wrap, so that a
// redo follower can tell "not written yet" from damage with errors.Is.
var (
	ErrBadChecksum   = errors.New("bad checksum")
	ErrBlockMismatch = errors.New("block number mismatch (stale or not yet written)")
	ErrDataLenRange  = errors.New("data_len out of range")
)

// redoChecksumOffset is where every 512-byte redo block (header, checkpoint and data blocks)
// keeps crc32c of the bytes before it.
const redoChecksumOffset = RedoBlockSize - RedoBlockTrailerSize

// Header block fields, at file offset 0.
const (
	redoHdrFormat     = 0  // u32
	redoHdrLogUUID    = 4  // u32
	redoHdrStartLSN   = 8  // u64
	redoHdrCreator    = 16 // char[32], NUL-terminated
	redoHdrCreatorEnd = 48
	redoHdrFlags      = 48 // u32
)

// maxCreatorLen leaves room for the terminating NUL in the 32-byte creator field.
const maxCreatorLen = redoHdrCreatorEnd - redoHdrCreator - 1

// checkpointLSNOffset is where a checkpoint block keeps its LSN.
const checkpointLSNOffset = 8

// Data block header fields.
const (
	redoBlkHdrNo         = 0 // u32, bit 31 = legacy flush bit
	redoBlkDataLen       = 4 // u16, bit 15 = encrypted
	redoBlkFirstRecGroup = 6 // u16
	redoBlkEpochNo       = 8 // u32
)

const (
	redoFlushBit     = 1 << 31
	redoEncryptedBit = 1 << 15
	// redoMaxHdrNo is LOG_BLOCK_MAX_NO: block numbers wrap after this many blocks, and the
	// epoch number counts the wraps.
	redoMaxHdrNo = 1 << 30
)

// redoBlockChecksumOK reports whether the 512-byte block b carries crc32c(b[0:508]) at 508, and
// returns both values for the error message.
func redoBlockChecksumOK(b []byte) (ok bool, stored, computed uint32) {
	stored, computed = be.Uint32(b[redoChecksumOffset:]), RedoBlockChecksum(b)
	return stored == computed, stored, computed
}

func checkRedoBlockLen(b []byte) error {
	if len(b) != RedoBlockSize {
		return fmt.Errorf("%d bytes, want %d", len(b), RedoBlockSize)
	}
	return nil
}

// RedoBlockChecksum returns crc32c(b[0:508]), the checksum of any 512-byte redo block.
func RedoBlockChecksum(b []byte) uint32 { return crc32c(b[:redoChecksumOffset]) }

// SetRedoBlockChecksum stores RedoBlockChecksum(b) at b[508:512].
func SetRedoBlockChecksum(b []byte) {
	be.PutUint32(b[redoChecksumOffset:RedoBlockSize], RedoBlockChecksum(b))
}

// RedoFileHeader is the first block of a #ib_redoN file.
type RedoFileHeader struct {
	Format   uint32
	LogUUID  uint32 // random, the same in all files of one server
	StartLSN uint64 // LSN of the byte at file offset RedoDataOffset; a multiple of 512
	Creator  string // e.g. "MySQL 9.7.4"; at most 31 bytes
	Flags    uint32 // RedoFlag*
}

// ParseRedoFileHeader parses the first 512 bytes of a redo file. It checks the crc32c at 508,
// that the format is 6 (the error names the format it found) and that start_lsn is a multiple
// of 512 and the creator is NUL-terminated, as mysqld requires.
func ParseRedoFileHeader(b []byte) (RedoFileHeader, error) {
	if len(b) < RedoBlockSize {
		return RedoFileHeader{}, fmt.Errorf("redo file header: %d bytes, want %d", len(b), RedoBlockSize)
	}
	b = b[:RedoBlockSize]
	if ok, stored, computed := redoBlockChecksumOK(b); !ok {
		return RedoFileHeader{}, fmt.Errorf("redo file header: %w: stored 0x%08x, computed 0x%08x", ErrBadChecksum, stored, computed)
	}
	h := RedoFileHeader{
		Format:   be.Uint32(b[redoHdrFormat:]),
		LogUUID:  be.Uint32(b[redoHdrLogUUID:]),
		StartLSN: be.Uint64(b[redoHdrStartLSN:]),
		Flags:    be.Uint32(b[redoHdrFlags:]),
	}
	if h.Format != RedoFormat {
		return RedoFileHeader{}, fmt.Errorf("redo file header: format %d, want %d (MySQL 8.0.30 and later)", h.Format, RedoFormat)
	}
	if h.StartLSN%RedoBlockSize != 0 {
		return RedoFileHeader{}, fmt.Errorf("redo file header: start_lsn %d is not a multiple of %d", h.StartLSN, RedoBlockSize)
	}
	creator, err := parseCreator(b[redoHdrCreator:redoHdrCreatorEnd])
	if err != nil {
		return RedoFileHeader{}, fmt.Errorf("redo file header: %w", err)
	}
	h.Creator = creator
	return h, nil
}

func parseCreator(field []byte) (string, error) {
	for i, c := range field {
		if c == 0 {
			return string(field[:i]), nil
		}
	}
	return "", fmt.Errorf("creator %q is not NUL-terminated", field)
}

// Encode returns the 512-byte header block with its checksum. A creator longer than 31 bytes is
// cut to 31 so the field keeps its terminating NUL.
func (h RedoFileHeader) Encode() []byte {
	b := make([]byte, RedoBlockSize)
	be.PutUint32(b[redoHdrFormat:], h.Format)
	be.PutUint32(b[redoHdrLogUUID:], h.LogUUID)
	be.PutUint64(b[redoHdrStartLSN:], h.StartLSN)
	creator := h.Creator
	if len(creator) > maxCreatorLen {
		creator = creator[:maxCreatorLen]
	}
	copy(b[redoHdrCreator:], creator)
	be.PutUint32(b[redoHdrFlags:], h.Flags)
	SetRedoBlockChecksum(b)
	return b
}

// ParseCheckpointBlock returns the LSN of the checkpoint block at file offset 512 or 1536. An
// all-zero block (crc included) is an unused slot and returns 0, nil; so does a block with a
// valid crc and LSN 0, which mysqld also ignores.
func ParseCheckpointBlock(b []byte) (uint64, error) {
	if err := checkRedoBlockLen(b); err != nil {
		return 0, fmt.Errorf("redo checkpoint block: %w", err)
	}
	if IsZeroPage(b) {
		return 0, nil
	}
	if ok, stored, computed := redoBlockChecksumOK(b); !ok {
		return 0, fmt.Errorf("redo checkpoint block: %w: stored 0x%08x, computed 0x%08x", ErrBadChecksum, stored, computed)
	}
	return be.Uint64(b[checkpointLSNOffset:]), nil
}

// EncodeCheckpointBlock returns a 512-byte checkpoint block holding lsn, with its checksum.
func EncodeCheckpointBlock(lsn uint64) []byte {
	b := make([]byte, RedoBlockSize)
	be.PutUint64(b[checkpointLSNOffset:], lsn)
	SetRedoBlockChecksum(b)
	return b
}

// RedoBlockHeader is the 12-byte header of a redo data block.
type RedoBlockHeader struct {
	HdrNo         uint32 // with the flush bit (bit 31) masked off
	DataLen       uint16 // bytes in use, header included; bit 15 (encrypted) masked off
	Encrypted     bool
	FirstRecGroup uint16 // offset of the first mini-transaction that starts in the block; 0 = none
	EpochNo       uint32
}

// RedoHdrNo returns the block number InnoDB writes into the block that starts at lsn.
func RedoHdrNo(lsn uint64) uint32 { return uint32(lsn/RedoBlockSize%redoMaxHdrNo) + 1 }

// RedoEpochNo returns the epoch number InnoDB writes into the block that starts at lsn: how
// many times the block number has wrapped, plus one.
func RedoEpochNo(lsn uint64) uint32 { return uint32(lsn/RedoBlockSize/redoMaxHdrNo) + 1 }

// ParseRedoBlock parses a 512-byte redo data block after checking its checksum. It does not know
// where the block belongs: use CheckRedoBlockAt for blocks read from the log.
func ParseRedoBlock(b []byte) (RedoBlockHeader, error) {
	h, err := parseRedoBlock(b)
	if err != nil {
		return RedoBlockHeader{}, fmt.Errorf("redo block: %w", err)
	}
	return h, nil
}

func parseRedoBlock(b []byte) (RedoBlockHeader, error) {
	if err := checkRedoBlockLen(b); err != nil {
		return RedoBlockHeader{}, err
	}
	if ok, stored, computed := redoBlockChecksumOK(b); !ok {
		return RedoBlockHeader{}, fmt.Errorf("%w: stored 0x%08x, computed 0x%08x", ErrBadChecksum, stored, computed)
	}
	dataLen := be.Uint16(b[redoBlkDataLen:])
	return RedoBlockHeader{
		HdrNo:         be.Uint32(b[redoBlkHdrNo:]) &^ redoFlushBit,
		DataLen:       dataLen &^ redoEncryptedBit,
		Encrypted:     dataLen&redoEncryptedBit != 0,
		FirstRecGroup: be.Uint16(b[redoBlkFirstRecGroup:]),
		EpochNo:       be.Uint32(b[redoBlkEpochNo:]),
	}, nil
}

// CheckRedoBlockAt parses b and checks that it is the block that starts at LSN blockLSN (a
// multiple of 512): its hdr_no and epoch_no must match, which tells a current block from a
// stale one left in a recycled file or from one not yet written. It also checks that data_len
// is within 12..512. Errors wrap ErrBadChecksum, ErrBlockMismatch or ErrDataLenRange; with the
// last two the parsed header is returned as well, for diagnostics.
func CheckRedoBlockAt(b []byte, blockLSN uint64) (RedoBlockHeader, error) {
	h, err := checkRedoBlockAt(b, blockLSN)
	if err != nil {
		return h, fmt.Errorf("redo block at lsn %d: %w", blockLSN, err)
	}
	return h, nil
}

func checkRedoBlockAt(b []byte, blockLSN uint64) (RedoBlockHeader, error) {
	if blockLSN%RedoBlockSize != 0 {
		return RedoBlockHeader{}, fmt.Errorf("lsn is not a multiple of %d", RedoBlockSize)
	}
	h, err := parseRedoBlock(b)
	if err != nil {
		return RedoBlockHeader{}, err
	}
	if wantNo, wantEpoch := RedoHdrNo(blockLSN), RedoEpochNo(blockLSN); h.HdrNo != wantNo || h.EpochNo != wantEpoch {
		return h, fmt.Errorf("%w: hdr_no %d epoch_no %d, want hdr_no %d epoch_no %d", ErrBlockMismatch, h.HdrNo, h.EpochNo, wantNo, wantEpoch)
	}
	if h.DataLen < RedoBlockHeaderSize || h.DataLen > RedoBlockSize {
		return h, fmt.Errorf("%w: %d not in [%d, %d]", ErrDataLenRange, h.DataLen, RedoBlockHeaderSize, RedoBlockSize)
	}
	return h, nil
}

// EncodeRedoBlockHeader writes the 12 header bytes of h into b, with the flush bit clear and
// bit 15 of data_len set if h.Encrypted. It does not update the checksum.
func EncodeRedoBlockHeader(b []byte, h RedoBlockHeader) {
	dataLen := h.DataLen &^ redoEncryptedBit
	if h.Encrypted {
		dataLen |= redoEncryptedBit
	}
	be.PutUint32(b[redoBlkHdrNo:], h.HdrNo&^redoFlushBit)
	be.PutUint16(b[redoBlkDataLen:], dataLen)
	be.PutUint16(b[redoBlkFirstRecGroup:], h.FirstRecGroup)
	be.PutUint32(b[redoBlkEpochNo:RedoBlockHeaderSize], h.EpochNo)
}

// CutRedoBlock turns the 512-byte block b, which starts at blockLSN, into the final block of a
// log that ends exactly at endLSN: data_len becomes endLSN-blockLSN, the bytes from there up to
// the checksum are zeroed, first_rec_group becomes 0 if it points at or past the new end (the
// mini-transaction it names is not in the log), and the checksum is recomputed.
//
// b must pass CheckRedoBlockAt(b, blockLSN) first: recomputing the checksum of a damaged block
// would hide the damage. endLSN must lie in [blockLSN+12, blockLSN+508] (blockLSN+12 is an empty
// block, which is where the LSN lands when the log ends right after a full block), and the block
// must already hold data up to endLSN. On error b is unchanged.
func CutRedoBlock(b []byte, blockLSN, endLSN uint64) error {
	h, err := CheckRedoBlockAt(b, blockLSN)
	if err != nil {
		return fmt.Errorf("cutting: %w", err)
	}
	if endLSN < blockLSN+RedoBlockHeaderSize || endLSN > blockLSN+redoChecksumOffset {
		return fmt.Errorf("cutting redo block at lsn %d: end lsn %d is outside [%d, %d]",
			blockLSN, endLSN, blockLSN+RedoBlockHeaderSize, blockLSN+redoChecksumOffset)
	}
	newLen := uint16(endLSN - blockLSN)
	if h.DataLen < newLen {
		return fmt.Errorf("cutting redo block at lsn %d: it holds data up to lsn %d only (data_len %d), not up to %d",
			blockLSN, blockLSN+uint64(h.DataLen), h.DataLen, endLSN)
	}
	clear(b[newLen:redoChecksumOffset])
	// Rewrite only the two fields that change, keeping the encrypted and flush bits as found.
	be.PutUint16(b[redoBlkDataLen:], newLen|be.Uint16(b[redoBlkDataLen:])&redoEncryptedBit)
	if h.FirstRecGroup >= newLen {
		be.PutUint16(b[redoBlkFirstRecGroup:], 0)
	}
	SetRedoBlockChecksum(b)
	return nil
}
