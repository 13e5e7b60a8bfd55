package innodb

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/mysqlsrc/keyring"
)

// testdata/encrypted holds pages, redo blocks and the keyring data file of a real MySQL 9.7.4
// server running component_keyring_file with table, undo and redo encryption on;
// encrypted_gen_test.go (build tag pagegen) regenerates them and lists what each file is.

func readEncrypted(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "encrypted", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testKeyring(t *testing.T) *keyring.Keyring {
	t.Helper()
	k, err := keyring.Load(filepath.Join("testdata", "encrypted", "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// unseal reads the encryption information of a page 0 and decrypts its tablespace key with the
// master key the test keyring holds under the recorded name.
func unseal(t *testing.T, info EncryptionInfo) TablespaceKey {
	t.Helper()
	master, err := testKeyring(t).InnoDBMasterKey(info.ServerUUID, info.MasterKeyID)
	if err != nil {
		t.Fatal(err)
	}
	k, err := info.Unseal(master)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func page0Key(t *testing.T, name string) (EncryptionInfo, TablespaceKey) {
	t.Helper()
	info, err := ParsePage0EncryptionInfo(readEncrypted(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return info, unseal(t, info)
}

// TestEncryptedPage0: page 0 of every encrypted tablespace kind keeps a version 3 record at
// 10390 naming a master key the keyring holds; the rotation re-sealed the same tablespace key
// under master key 2.
func TestEncryptedPage0(t *testing.T) {
	want := map[string]uint32{"enc-page0-key1.page": 1, "enc-page0-key2.page": 2, "zlib-page0.page": 2, "undo-page0.page": 2, "zip8-page0.page": 2}
	for name, id := range want {
		zip := strings.HasPrefix(name, "zip8")
		p := readEncrypted(t, name)
		p0, err := ParsePage0(p)
		if err != nil || !p0.Flags.Encrypted() {
			t.Fatalf("%s: flags 0x%x (%v), want the encryption bit", name, uint32(p0.Flags), err)
		}
		wantOff := 10390
		if zip {
			wantOff = 5270
		}
		if off := EncryptionInfoOffset(p0.Flags); off != wantOff || !bytes.Equal(p[off:off+3], []byte("lCC")) {
			t.Fatalf("%s: encryption information offset %d holds %q", name, off, p[off:off+3])
		}
		info, _ := page0Key(t, name)
		if info.Version != 3 || info.MasterKeyID != id || !strings.HasPrefix(info.MasterKeyName(), "INNODBKey-") {
			t.Fatalf("%s: %+v (name %s), want version 3, master key %d", name, info, info.MasterKeyName(), id)
		}
		// Page 0 itself is never encrypted and validates as it is.
		if kind, err := PageChecksumKind(p, zip); err != nil || kind != ChecksumCRC32 {
			t.Fatalf("%s: %v %v", name, kind, err)
		}
	}
	_, k1 := page0Key(t, "enc-page0-key1.page")
	_, k2 := page0Key(t, "enc-page0-key2.page")
	if k1 != k2 {
		t.Fatal("the rotation changed the tablespace key; it should only re-seal it")
	}
}

// TestWrongMasterKeyRefused: the record's crc32c tells a wrong master key from the right one.
func TestWrongMasterKeyRefused(t *testing.T) {
	info, err := ParsePage0EncryptionInfo(readEncrypted(t, "enc-page0-key2.page"))
	if err != nil {
		t.Fatal(err)
	}
	old, err := testKeyring(t).InnoDBMasterKey(info.ServerUUID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := info.Unseal(old); err == nil || !strings.Contains(err.Error(), "does not decrypt") {
		t.Fatalf("unsealing with master key 1 instead of 2: %v", err)
	}
	if _, err := testKeyring(t).InnoDBMasterKey(info.ServerUUID, 3); err == nil || !strings.Contains(err.Error(), "-3") {
		t.Fatalf("a missing master key: %v", err)
	}
}

// TestEncryptedPagesValidate: every encrypted page kind the server wrote is refused without
// the key and validates with it, decrypting to its original type.
func TestEncryptedPagesValidate(t *testing.T) {
	for _, tc := range []struct {
		page0, page         string
		stored, decryptedTo uint16
		zip                 bool
	}{
		{"enc-page0-key1.page", "enc-index-v1.page", 15, 17855, false},
		{"enc-page0-key2.page", "enc-index-v2.page", 15, 17855, false},
		{"zlib-page0.page", "zlib-index.page", 16, pageTypeCompressed, false},
		{"undo-page0.page", "undo-data.page", 15, 2, false},
		{"zip8-page0.page", "zip8-index.page", 15, 17855, true},
	} {
		t.Run(tc.page, func(t *testing.T) {
			_, k := page0Key(t, tc.page0)
			p := readEncrypted(t, tc.page)
			if PageType(p) != tc.stored {
				t.Fatalf("stored type %d, want %d", PageType(p), tc.stored)
			}
			if err := ValidatePage(p, tc.zip); !errors.Is(err, ErrEncryptedPage) {
				t.Fatalf("without the key: %v", err)
			}
			plain, err := DecryptPage(p, &k)
			if err != nil {
				t.Fatal(err)
			}
			if PageType(plain) != tc.decryptedTo || !bytes.Equal(plain[:filPageType], p[:filPageType]) {
				t.Fatalf("decrypted type %d (want %d), or the header changed", PageType(plain), tc.decryptedTo)
			}
			if kind, err := EncryptedPageChecksumKind(p, tc.zip, &k); err != nil || kind != ChecksumCRC32 {
				t.Fatalf("with the key: %v %v", kind, err)
			}
			if !bytes.Equal(p, readEncrypted(t, tc.page)) {
				t.Fatal("DecryptPage changed its input")
			}
		})
	}
}

// TestEncryptedPageWithWrongKey: another tablespace's key decrypts to garbage that fails the
// checksum.
func TestEncryptedPageWithWrongKey(t *testing.T) {
	_, undoKey := page0Key(t, "undo-page0.page")
	if _, err := EncryptedPageChecksumKind(readEncrypted(t, "enc-index-v2.page"), false, &undoKey); err == nil {
		t.Fatal("a page decrypted with another tablespace's key was accepted")
	}
}

// TestEncryptedPageTorn: an encrypted page read while the server rewrote it — part from one
// write, part from another at a later LSN — is detected as torn once decrypted, wherever the
// tear is.
func TestEncryptedPageTorn(t *testing.T) {
	_, k := page0Key(t, "enc-page0-key2.page")
	v1, v2 := readEncrypted(t, "enc-index-v1.page"), readEncrypted(t, "enc-index-v2.page")
	if PageLSN(v1) == PageLSN(v2) || PageNumber(v1) != PageNumber(v2) {
		t.Fatal("the two versions must be one page written at two LSNs")
	}
	mix := func(head []byte, from, to int, part []byte) []byte {
		out := bytes.Clone(head)
		copy(out[from:to], part[from:to])
		return out
	}
	_, zk := page0Key(t, "zlib-page0.page")
	zp := readEncrypted(t, "zlib-index.page")
	end := filHeaderSize + int(be.Uint16(zp[compSize:]))
	halfZeroed := bytes.Clone(zp)
	clear(halfZeroed[(filHeaderSize+end)/2 : end])
	for name, tc := range map[string]struct {
		page []byte
		key  *TablespaceKey
	}{
		"second half from the older write": {mix(v2, 8192, 16384, v1), &k},
		"first half from the older write":  {mix(v2, 0, 8192, v1), &k},
		"one 4 KiB block from the older":   {mix(v2, 4096, 8192, v1), &k},
		"only the last 512 bytes older":    {mix(v2, 16384-512, 16384, v1), &k},
		"compressed payload half zeros":    {halfZeroed, &zk},
	} {
		t.Run(name, func(t *testing.T) {
			if bytes.Equal(tc.page, v2) || bytes.Equal(tc.page, zp) {
				t.Fatal("the torn page equals the original")
			}
			if kind, err := EncryptedPageChecksumKind(tc.page, false, tc.key); err == nil {
				t.Fatalf("torn page accepted as %v", kind)
			}
		})
	}
}

// TestRedoEncryptionInfo: the redo file keeps its own record 48 bytes into the block at 1024,
// sealed with the current master key; the block carries no checksum of its own.
func TestRedoEncryptionInfo(t *testing.T) {
	head := readEncrypted(t, "redo.head")
	info, err := ParseRedoEncryptionInfo(head)
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != 3 || info.MasterKeyID != 2 {
		t.Fatalf("%+v", info)
	}
	unseal(t, info)
	if _, err := ParseRedoEncryptionInfo(make([]byte, 2048)); !errors.Is(err, ErrNoEncryptionInfo) {
		t.Fatalf("all-zero block: %v", err)
	}
}

// TestRedoBlocksDecrypt: an encrypted redo block keeps only its 12-byte header clear (its
// block number and epoch check without the key, its checksum does not); decrypted, it passes
// every check at its LSN, and a changed byte anywhere in its body fails them.
func TestRedoBlocksDecrypt(t *testing.T) {
	head, blocks := readEncrypted(t, "redo.head"), readEncrypted(t, "redo.blocks")
	hdr, err := ParseRedoFileHeader(head)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ParseRedoEncryptionInfo(head)
	if err != nil {
		t.Fatal(err)
	}
	k := unseal(t, info)
	written := 0
	for i := 0; i < len(blocks)/RedoBlockSize; i++ {
		b := blocks[i*RedoBlockSize : (i+1)*RedoBlockSize]
		if IsZeroPage(b) { // past the end of the log
			break
		}
		written++
		lsn := hdr.StartLSN + uint64(i*RedoBlockSize)
		if be.Uint16(b[redoBlkDataLen:])&redoEncryptedBit == 0 {
			t.Fatalf("block %d is not marked encrypted", i)
		}
		if RedoHdrNo(lsn) != be.Uint32(b)&^redoFlushBit || RedoEpochNo(lsn) != be.Uint32(b[redoBlkEpochNo:]) {
			t.Fatalf("block %d: clear header does not match lsn %d", i, lsn)
		}
		if _, err := CheckRedoBlockAt(b, lsn); !errors.Is(err, ErrBadChecksum) {
			t.Fatalf("block %d checked without decryption: %v", i, err)
		}
		plain, err := DecryptRedoBlock(b, &k)
		if err != nil {
			t.Fatal(err)
		}
		h, err := CheckRedoBlockAt(plain, lsn)
		if err != nil {
			t.Fatalf("block %d decrypted: %v", i, err)
		}
		if again, err := EncryptRedoBlock(plain, &k); err != nil || !bytes.Equal(again, b) {
			t.Fatalf("block %d: re-encrypting the plaintext does not give the server's bytes back (%v)", i, err)
		}
		if h.Encrypted || !bytes.Equal(plain[:4], b[:4]) {
			t.Fatalf("block %d: encrypted bit left set or header changed", i)
		}
		for _, at := range []int{RedoBlockHeaderSize, 300, RedoBlockSize - 5, RedoBlockSize - 1} {
			bad := bytes.Clone(b)
			bad[at] ^= 0x01
			p, _ := DecryptRedoBlock(bad, &k)
			if _, err := CheckRedoBlockAt(p, lsn); !errors.Is(err, ErrBadChecksum) {
				t.Fatalf("block %d with byte %d changed: %v", i, at, err)
			}
		}
	}
	if written < 4 {
		t.Fatalf("only %d written blocks in testdata", written)
	}
}

// TestEncryptionInfoOffset: 10390 for 16 KiB pages and 5270 for KEY_BLOCK_SIZE=8 are measured
// (testdata); the others follow the descriptor array formula.
func TestEncryptionInfoOffset(t *testing.T) {
	for flags, want := range map[FSPFlags]int{
		0x4021:        10390, // 16 KiB
		0x4021 | 3<<6: 1558,  // 4 KiB: 16 descriptors of 88 bytes
		0x4021 | 4<<6: 3734,  // 8 KiB: 64 of 56
		0x4021 | 6<<6: 20630, // 32 KiB: 512 of 40
		0x4021 | 7<<6: 41110, // 64 KiB: 1024 of 40
		0x4021 | 4<<1: 5270,  // 16 KiB, KEY_BLOCK_SIZE=8: 128 of 40
	} {
		if got := EncryptionInfoOffset(flags); got != want {
			t.Errorf("flags 0x%x: %d, want %d", uint32(flags), got, want)
		}
	}
}

// TestEncryptionInfoParse: records that cannot be right are refused with the reason.
func TestEncryptionInfoParse(t *testing.T) {
	p := readEncrypted(t, "enc-page0-key2.page")
	rec := p[10390 : 10390+EncryptionInfoSize]
	for name, tc := range map[string]struct {
		change func([]byte)
		want   string
	}{
		"version 1":   {func(b []byte) { b[2] = 'A' }, "version 1"},
		"bad magic":   {func(b []byte) { b[0] = 'x' }, "magic"},
		"bad uuid":    {func(b []byte) { b[10] = 'z' }, "not a uuid"},
		"short":       {nil, "need"},
		"sealed flip": {func(b []byte) { b[50] ^= 1 }, "does not decrypt"},
	} {
		t.Run(name, func(t *testing.T) {
			b := bytes.Clone(rec)
			if tc.change == nil {
				b = b[:EncryptionInfoSize-1]
			} else {
				tc.change(b)
			}
			info, err := ParseEncryptionInfo(b)
			if err == nil {
				master, kerr := testKeyring(t).InnoDBMasterKey(info.ServerUUID, info.MasterKeyID)
				if kerr != nil {
					t.Fatal(kerr)
				}
				_, err = info.Unseal(master)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
