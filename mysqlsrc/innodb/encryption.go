package innodb

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
)

// Encryption at rest (CREATE TABLE … ENCRYPTION='Y', encrypted general and undo tablespaces,
// innodb_redo_log_encrypt). Each encrypted tablespace, and the redo log, has its own 32-byte key
// and 32-byte IV, stored encrypted with a master key from the keyring in an encryption
// information record: on page 0 of the tablespace (EncryptionInfoOffset), or in the redo file
// block at offset 1024. The record:
//
//	offset size field
//	0      3    magic: "lCA" (version 1, 5.7.11), "lCB" (version 2), "lCC" (version 3, 8.0.5+)
//	3      4    master key id (versions 1 and 2 may use 8 bytes: 4 more zero bytes)
//	7      36   server uuid (versions 2 and 3) naming the master key INNODBKey-<uuid>-<id>
//	43     64   AES-256-ECB(master key, tablespace key ‖ IV)
//	107    4    crc32c of the decrypted 64 bytes
//
// Master key id 0 is the built-in bootstrap key "DefaultMasterKey" padded with zeros to 32 bytes.
//
// A page is encrypted after its checksum is computed (and after transparent compression): the
// 38-byte FIL header stays clear, bytes 38..end (trailer included) are AES-256-CBC encrypted with
// the tablespace key and the first 16 bytes of the IV. CBC needs whole 16-byte blocks, so InnoDB
// encrypts the largest multiple of 16 bytes from offset 38 and then, if bytes are left over,
// encrypts the last 32 bytes of the data again (covering the tail and the end of the first pass),
// each pass starting from the same IV. Decryption runs the two passes backwards. Then the type
// is restored: FIL_PAGE_ENCRYPTED (15) keeps the original type at offset 28 (the server puts it
// back and zeros 28..29); FIL_PAGE_COMPRESSED_AND_ENCRYPTED (16) becomes FIL_PAGE_COMPRESSED
// (14), and only the compressed bytes were encrypted: from 38 to 38 + the compressed size at
// offset 32; FIL_PAGE_ENCRYPTED_RTREE (17) becomes FIL_PAGE_RTREE (17854).
//
// Redo blocks are encrypted the same way after their checksum is computed, with the 12-byte
// header clear and the 500 bytes after it encrypted; bit 15 of data_len marks them.

const (
	encryptionKeyLen   = 32
	encryptionMagicLen = 3
	serverUUIDLen      = 36
	// EncryptionInfoSize is the length of a version 3 encryption information record.
	EncryptionInfoSize = encryptionMagicLen + 4 + serverUUIDLen + 2*encryptionKeyLen + 4
	// redoEncryptionInfoOffset is where the record sits in a redo file (measured on 9.7.4: 48
	// bytes into the block at file offset 1024).
	redoEncryptionInfoOffset = 1024 + 48
)

var (
	encryptionMagicV1 = []byte("lCA")
	encryptionMagicV2 = []byte("lCB")
	encryptionMagicV3 = []byte("lCC")
)

// defaultMasterKey is the master key of id 0, used while bootstrapping.
var defaultMasterKey = func() []byte {
	k := make([]byte, encryptionKeyLen)
	copy(k, "DefaultMasterKey")
	return k
}()

const (
	pageTypeRTree = 17854 // FIL_PAGE_RTREE
	// pageOriginalType holds the type of a FIL_PAGE_ENCRYPTED page before encryption.
	pageOriginalType = filPageFlushLSN + 2
)

// ErrNoEncryptionInfo means a tablespace or redo file carries no encryption information record.
var ErrNoEncryptionInfo = errors.New("no encryption information")

// EncryptionInfo is a parsed encryption information record: which master key encrypts the
// tablespace key, and the encrypted key.
type EncryptionInfo struct {
	Version     int    // 1, 2 or 3
	MasterKeyID uint32 // 0 = the built-in bootstrap key
	ServerUUID  string // the server that created the master key; empty for version 1
	sealed      [2 * encryptionKeyLen]byte
	crc         uint32
}

// TablespaceKey is the decrypted key and IV of one tablespace or of the redo log.
type TablespaceKey struct {
	Key [encryptionKeyLen]byte
	IV  [encryptionKeyLen]byte // CBC uses the first 16 bytes
}

// EncryptionInfoOffset returns where page 0 keeps the encryption information: right after the
// extent descriptor array, whose size depends on the logical page size (extent size and
// descriptor size) and the physical one (descriptors per page). For 16 KiB pages it is 10390.
func EncryptionInfoOffset(flags FSPFlags) int {
	logical, physical := flags.LogicalPageSize(), flags.PhysicalPageSize()
	extentPages := 64 // 1 MiB extents up to 16 KiB pages; 2 and 4 MiB for 32 and 64 KiB
	switch logical {
	case 4 << 10:
		extentPages = 256
	case 8 << 10:
		extentPages = 128
	}
	xdesSize := 24 + extentPages*2/8 // list node, state, id; then 2 bits per page
	const xdesArrOffset = filHeaderSize + 112
	return xdesArrOffset + xdesSize*(physical/extentPages)
}

// ParsePage0EncryptionInfo reads the encryption information record from page 0 (at least
// EncryptionInfoOffset+EncryptionInfoSize bytes of it). It fails with ErrNoEncryptionInfo when
// the flags do not say the tablespace is encrypted.
func ParsePage0EncryptionInfo(page0 []byte) (EncryptionInfo, error) {
	p0, err := ParsePage0(page0)
	if err != nil {
		return EncryptionInfo{}, err
	}
	if !p0.Flags.Encrypted() {
		return EncryptionInfo{}, fmt.Errorf("space %d: FSP flags 0x%x without the encryption bit: %w", p0.SpaceID, uint32(p0.Flags), ErrNoEncryptionInfo)
	}
	off := EncryptionInfoOffset(p0.Flags)
	if len(page0) < off+EncryptionInfoSize {
		return EncryptionInfo{}, fmt.Errorf("space %d: page 0 has %d bytes, the encryption information ends at %d", p0.SpaceID, len(page0), off+EncryptionInfoSize)
	}
	info, err := ParseEncryptionInfo(page0[off:])
	if err != nil {
		return EncryptionInfo{}, fmt.Errorf("space %d: %w", p0.SpaceID, err)
	}
	return info, nil
}

// ParseRedoEncryptionInfo reads the redo log's encryption information from the first 1536
// bytes of a redo file. All zeros (redo encryption never enabled) is ErrNoEncryptionInfo.
func ParseRedoEncryptionInfo(head []byte) (EncryptionInfo, error) {
	if len(head) < 1024+RedoBlockSize {
		return EncryptionInfo{}, fmt.Errorf("redo file head: %d bytes, need %d", len(head), 1024+RedoBlockSize)
	}
	block := head[1024 : 1024+RedoBlockSize]
	if IsZeroPage(block) {
		return EncryptionInfo{}, fmt.Errorf("redo encryption block: %w", ErrNoEncryptionInfo)
	}
	// Unlike the other header blocks this one carries no checksum (9.7.4 leaves 508..511 zero):
	// the record's own crc32c, checked by Unseal, is what guards it.
	return ParseEncryptionInfo(head[redoEncryptionInfoOffset:])
}

// ParseEncryptionInfo parses an encryption information record (b may be longer).
func ParseEncryptionInfo(b []byte) (EncryptionInfo, error) {
	if len(b) < EncryptionInfoSize {
		return EncryptionInfo{}, fmt.Errorf("encryption information: %d bytes, need %d", len(b), EncryptionInfoSize)
	}
	var info EncryptionInfo
	switch magic := b[:encryptionMagicLen]; {
	case bytes.Equal(magic, encryptionMagicV3):
		info.Version = 3
	case bytes.Equal(magic, encryptionMagicV2):
		info.Version = 2
	case bytes.Equal(magic, encryptionMagicV1):
		return EncryptionInfo{}, errors.New("encryption information version 1 (MySQL 5.7.11) names its master key by server_id: rotate the master key on the server (ALTER INSTANCE ROTATE INNODB MASTER KEY) to rewrite it")
	case IsZeroPage(b[:EncryptionInfoSize]):
		return EncryptionInfo{}, fmt.Errorf("encryption information: all zero: %w", ErrNoEncryptionInfo)
	default:
		return EncryptionInfo{}, fmt.Errorf("encryption information: magic %q, want %q", magic, encryptionMagicV3)
	}
	b = b[encryptionMagicLen:]
	info.MasterKeyID = be.Uint32(b)
	b = b[4:]
	if info.Version == 2 && be.Uint32(b) == 0 { // an 8-byte key id
		if len(b) < EncryptionInfoSize-encryptionMagicLen {
			return EncryptionInfo{}, errors.New("encryption information version 2 with an 8-byte key id: truncated")
		}
		b = b[4:]
	}
	info.ServerUUID = string(b[:serverUUIDLen])
	if info.MasterKeyID != 0 && !isServerUUID(info.ServerUUID) {
		return EncryptionInfo{}, fmt.Errorf("encryption information: server uuid %q is not a uuid", info.ServerUUID)
	}
	b = b[serverUUIDLen:]
	copy(info.sealed[:], b)
	info.crc = be.Uint32(b[len(info.sealed):])
	return info, nil
}

func isServerUUID(s string) bool {
	if len(s) != serverUUIDLen {
		return false
	}
	for i, c := range []byte(s) {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// MasterKeyName is the keyring data_id of the master key the record refers to; empty for id 0
// (the built-in key).
func (e EncryptionInfo) MasterKeyName() string {
	if e.MasterKeyID == 0 {
		return ""
	}
	return fmt.Sprintf("INNODBKey-%s-%d", e.ServerUUID, e.MasterKeyID)
}

// Unseal decrypts the tablespace key and IV with masterKey (32 bytes; ignored for master key id
// 0) and checks them against the record's crc32c. A mismatch means the wrong master key.
func (e EncryptionInfo) Unseal(masterKey []byte) (TablespaceKey, error) {
	if e.MasterKeyID == 0 {
		masterKey = defaultMasterKey
	}
	if len(masterKey) != encryptionKeyLen {
		return TablespaceKey{}, fmt.Errorf("master key %s: %d bytes, want %d", e.MasterKeyName(), len(masterKey), encryptionKeyLen)
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return TablespaceKey{}, err
	}
	var plain [2 * encryptionKeyLen]byte
	for i := 0; i < len(plain); i += aes.BlockSize { // ECB: each block on its own
		block.Decrypt(plain[i:], e.sealed[i:])
	}
	if got := crc32c(plain[:]); got != e.crc {
		return TablespaceKey{}, fmt.Errorf("master key %s does not decrypt the tablespace key (crc32c 0x%08x, recorded 0x%08x): the keyring holds a different key under that name", e.MasterKeyName(), got, e.crc)
	}
	var k TablespaceKey
	copy(k.Key[:], plain[:encryptionKeyLen])
	copy(k.IV[:], plain[encryptionKeyLen:])
	return k, nil
}

// decryptRegion reverses InnoDB's two-pass CBC encryption of data in place.
func (k *TablespaceKey) decryptRegion(data []byte) error {
	block, err := aes.NewCipher(k.Key[:])
	if err != nil {
		return err
	}
	iv := k.IV[:aes.BlockSize]
	mainLen := len(data) / aes.BlockSize * aes.BlockSize
	if mainLen != len(data) {
		if len(data) < 2*aes.BlockSize {
			return fmt.Errorf("encrypted region of %d bytes is too short", len(data))
		}
		tail := data[len(data)-2*aes.BlockSize:]
		cipher.NewCBCDecrypter(block, iv).CryptBlocks(tail, tail)
	}
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(data[:mainLen], data[:mainLen])
	return nil
}

// encryptRegion is InnoDB's two-pass CBC encryption of data in place (decryptRegion reverses it).
func (k *TablespaceKey) encryptRegion(data []byte) error {
	block, err := aes.NewCipher(k.Key[:])
	if err != nil {
		return err
	}
	iv := k.IV[:aes.BlockSize]
	mainLen := len(data) / aes.BlockSize * aes.BlockSize
	if mainLen != len(data) && len(data) < 2*aes.BlockSize {
		return fmt.Errorf("region of %d bytes is too short to encrypt", len(data))
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(data[:mainLen], data[:mainLen])
	if mainLen != len(data) {
		tail := data[len(data)-2*aes.BlockSize:]
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(tail, tail)
	}
	return nil
}

// DecryptPage returns the page p (a whole physical page of an encrypted tablespace) as the
// server sees it after reading: decrypted, its type restored. Pages of other types (page 0,
// never-written zero pages) come back unchanged. The result is a new slice; p is not changed.
// Check the result with PageChecksumKind: a torn page decrypts to garbage that fails it.
func DecryptPage(p []byte, k *TablespaceKey) ([]byte, error) {
	out := bytes.Clone(p)
	if len(p) < filHeaderSize || !IsEncryptedPageType(PageType(p)) {
		return out, nil
	}
	end := len(p)
	t := PageType(p)
	if t == pageTypeCompressedAndEncrypted {
		end = filHeaderSize + int(be.Uint16(p[compSize:]))
		if end > len(p) {
			return nil, fmt.Errorf("page %d: compressed and encrypted, compressed size %d does not fit a %d-byte page", PageNumber(p), end-filHeaderSize, len(p))
		}
	}
	if err := k.decryptRegion(out[filHeaderSize:end]); err != nil {
		return nil, fmt.Errorf("page %d: %w", PageNumber(p), err)
	}
	switch t {
	case pageTypeEncrypted:
		be.PutUint16(out[filPageType:], be.Uint16(p[pageOriginalType:]))
		be.PutUint16(out[pageOriginalType:], 0)
	case pageTypeCompressedAndEncrypted:
		be.PutUint16(out[filPageType:], pageTypeCompressed)
	case pageTypeEncryptedRTree:
		be.PutUint16(out[filPageType:], pageTypeRTree)
	}
	return out, nil
}

// EncryptedPageChecksumKind checks a page of an encrypted tablespace: it decrypts it with k
// and checks the result as PageChecksumKind does. Pages the server left in the clear (page 0,
// zero pages) are checked as they are.
func EncryptedPageChecksumKind(p []byte, zip bool, k *TablespaceKey) (ChecksumKind, error) {
	if err := checkPageLength(len(p), zip); err != nil {
		return 0, err
	}
	plain, err := DecryptPage(p, k)
	if err != nil {
		return 0, err
	}
	return PageChecksumKind(plain, zip)
}

// DecryptRedoBlock returns the 512-byte redo block b decrypted, with the encrypted bit of
// data_len cleared, as the server wrote it before encryption (so its checksum can be checked
// with CheckRedoBlockAt). A block without the bit comes back unchanged. b is not changed.
func DecryptRedoBlock(b []byte, k *TablespaceKey) ([]byte, error) {
	if err := checkRedoBlockLen(b); err != nil {
		return nil, err
	}
	out := bytes.Clone(b)
	dataLen := be.Uint16(b[redoBlkDataLen:])
	if dataLen&redoEncryptedBit == 0 {
		return out, nil
	}
	if err := k.decryptRegion(out[RedoBlockHeaderSize:]); err != nil {
		return nil, err
	}
	be.PutUint16(out[redoBlkDataLen:], dataLen&^redoEncryptedBit)
	return out, nil
}

// EncryptRedoBlock returns the plaintext redo block b (checksum already set over it, encrypted
// bit clear) encrypted as the server writes it: bytes 12..511 encrypted with k and bit 15 of
// data_len set. DecryptRedoBlock reverses it. A restore uses it to re-encrypt the block it cuts
// at the end point, so no redo of an encrypted server is left in the clear. b is not changed.
func EncryptRedoBlock(b []byte, k *TablespaceKey) ([]byte, error) {
	if err := checkRedoBlockLen(b); err != nil {
		return nil, err
	}
	dataLen := be.Uint16(b[redoBlkDataLen:])
	if dataLen&redoEncryptedBit != 0 {
		return nil, errors.New("redo block is already marked encrypted")
	}
	out := bytes.Clone(b)
	if err := k.encryptRegion(out[RedoBlockHeaderSize:]); err != nil {
		return nil, err
	}
	be.PutUint16(out[redoBlkDataLen:], dataLen|redoEncryptedBit)
	return out, nil
}

// RedoBlockEncrypted says whether the redo block b (at least its 12-byte header) is marked
// encrypted: bit 15 of data_len, which stays in the clear.
func RedoBlockEncrypted(b []byte) bool {
	return len(b) >= RedoBlockHeaderSize && be.Uint16(b[redoBlkDataLen:])&redoEncryptedBit != 0
}
