package mysqlsrc

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/mysqlsrc/keyring"
	"github.com/pagetrack/pagetrack/shared"
)

// Encrypted servers. The backup reads the server's keyring data file (attribute keyring_file)
// only to unseal the tablespace and redo keys, with which it decrypts every page and redo block
// it copies to check it (checksums, torn reads); it stores them as the server wrote them. What
// a restore needs is the list of keyring ids the copied page 0s, the redo and the binary log
// name (Header.MasterKeys): a restore checks its keyring holds them all before it writes
// anything. The keyring itself is never part of a backup.

// keyringAttr is the source attribute naming the keyring data file.
const keyringAttr = "keyring_file"

// backupKeys unseals the keys a backup's data needs and remembers the keyring ids it used.
type backupKeys struct {
	ring *keyring.Keyring // nil: no keyring_file configured

	mu     sync.Mutex
	ids    map[string]bool
	frozen bool // the Header was sent: a new id now means a rotation during the backup
}

func newBackupKeys(ring *keyring.Keyring) *backupKeys {
	return &backupKeys{ring: ring, ids: map[string]bool{}}
}

// unseal returns the key an encryption information record seals, noting the keyring id of its
// master key. what names the object for errors.
func (k *backupKeys) unseal(info innodb.EncryptionInfo, what string) (*innodb.TablespaceKey, error) {
	var master []byte
	if name := info.MasterKeyName(); name != "" { // id 0 is the built-in bootstrap key
		if k == nil || k.ring == nil {
			return nil, shared.Precondition(fmt.Sprintf("%s is encrypted with master key %s; set the source attribute %q to the server's component_keyring_file data file to back it up", what, name, keyringAttr))
		}
		m, err := k.ring.InnoDBMasterKey(info.ServerUUID, info.MasterKeyID)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if err := k.note(name, what); err != nil {
			return nil, err
		}
		master = m
	}
	key, err := info.Unseal(master)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &key, nil
}

// note records id; after freeze an id not listed yet fails the backup, since the Header that
// tells a restore which keys it needs has already gone out.
func (k *backupKeys) note(id, what string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.frozen && !k.ids[id] {
		return fmt.Errorf("%s now names keyring key %s, which the backup's header does not list: the key was rotated during the backup (ALTER INSTANCE ROTATE … MASTER KEY); take the backup again", what, id)
	}
	k.ids[id] = true
	return nil
}

// freeze returns the sorted ids for the Header; later ids are refused (note).
func (k *backupKeys) freeze() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.frozen = true
	var out []string
	for id := range k.ids {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// tablespaceKey reads the encryption information on page 0 of an encrypted tablespace and
// unseals its key.
func (k *backupKeys) tablespaceKey(f *os.File, rel string, p0 innodb.Page0) (*innodb.TablespaceKey, error) {
	page0 := make([]byte, p0.Flags.PhysicalPageSize())
	if _, err := f.ReadAt(page0, 0); err != nil {
		return nil, fmt.Errorf("reading page 0 of %s: %w", rel, err)
	}
	what := fmt.Sprintf("tablespace %s (space %d)", rel, p0.SpaceID)
	info, err := innodb.ParsePage0EncryptionInfo(page0)
	if errors.Is(err, innodb.ErrNoEncryptionInfo) || (err == nil && innodb.IsZeroPage(page0[innodb.EncryptionInfoOffset(p0.Flags):][:innodb.EncryptionInfoSize])) {
		return nil, fmt.Errorf("%s is encrypted but its page 0 on disk carries no encryption information yet (created moments ago?); take the backup again", what)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return k.unseal(info, what)
}

// checkPage0Key checks that a copied page 0 of an encrypted tablespace is sealed with a master
// key the Header lists.
func (k *backupKeys) checkPage0Key(page0 []byte, rel string) error {
	info, err := innodb.ParsePage0EncryptionInfo(page0)
	if err != nil {
		return fmt.Errorf("copied page 0 of %s: %w", rel, err)
	}
	if name := info.MasterKeyName(); name != "" {
		return k.note(name, "page 0 of "+rel)
	}
	return nil
}

// redoEncryption reads the redo log's encryption header block from the redo file at path: nil
// when redo encryption was never on.
func (k *backupKeys) redoEncryption(path string) ([]byte, *innodb.TablespaceKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	head := make([]byte, 1024+innodb.RedoBlockSize)
	if _, err := io.ReadFull(f, head); err != nil {
		return nil, nil, fmt.Errorf("reading the head of %s: %w", path, err)
	}
	info, err := innodb.ParseRedoEncryptionInfo(head)
	if errors.Is(err, innodb.ErrNoEncryptionInfo) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("redo log %s: %w", filepath.Base(path), err)
	}
	key, err := k.unseal(info, "the redo log")
	if err != nil {
		return nil, nil, err
	}
	return bytes.Clone(head[1024:]), key, nil
}

// Binary log encryption: an encrypted binlog file starts with this magic, a version byte, then
// TLV fields; field 1 is the keyring id of the replication key that seals the file's password.
const (
	binlogEncryptedMagic = "\xfdbin"
	binlogEncryptedV1    = 1
	binlogKeyIDField     = 1
)

// binlogEncryptionHeaderSize is the size of an encrypted binlog file's header (format version
// 1): its fields are the key id (field 1: a length byte and the id), the file password encrypted
// with that key (field 2: 32 bytes, AES-256-CBC without padding) and the IV of that encryption
// (field 3: 16 bytes). The rest of the file is the plain binlog (from its magic on) encrypted
// with AES-256-CTR, key and IV derived from the password as OpenSSL's EVP_BytesToKey with
// SHA-512, one round, no salt: SHA-512(password) gives the key (32 bytes) and the IV, whose
// last 8 bytes the server replaces with the block counter (MySQL's sql/stream_cipher.cc).
const binlogEncryptionHeaderSize = 512

const (
	binlogPasswordField = 2
	binlogIVField       = 3
	binlogPasswordSize  = 32
)

// decryptBinlogHead decrypts the bytes of an encrypted binlog file after its header (head is
// the file's first bytes) with the replication key from ring.
func decryptBinlogHead(head []byte, ring *keyring.Keyring) ([]byte, error) {
	id, err := binlogKeyID(head, "")
	if err != nil {
		return nil, err
	}
	if ring == nil {
		return nil, fmt.Errorf("it is encrypted with %s; set %q to read it", id, keyringAttr)
	}
	key, ok := ring.Key(id)
	if !ok || len(key.Data) != 32 {
		return nil, fmt.Errorf("the keyring holds no 32-byte key %s to open it", id)
	}
	off := 7 + len(id)
	if len(head) < binlogEncryptionHeaderSize || head[off] != binlogPasswordField || head[off+1+binlogPasswordSize] != binlogIVField {
		return nil, errors.New("its encryption header is not key id, password, IV")
	}
	sealed := head[off+1 : off+1+binlogPasswordSize]
	iv := head[off+2+binlogPasswordSize : off+2+binlogPasswordSize+aes.BlockSize]
	block, err := aes.NewCipher(key.Data)
	if err != nil {
		return nil, err
	}
	password := make([]byte, binlogPasswordSize)
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(password, sealed)
	derived := sha512.Sum512(password)
	fileBlock, err := aes.NewCipher(derived[:32])
	if err != nil {
		return nil, err
	}
	// The counter block is the IV's first 8 bytes and a big-endian block counter from 0
	// (the derived IV's last 8 bytes are not used).
	var ctr [aes.BlockSize]byte
	copy(ctr[:8], derived[32:40])
	body := bytes.Clone(head[binlogEncryptionHeaderSize:])
	cipher.NewCTR(fileBlock, ctr[:]).XORKeyStream(body, body)
	return body, nil
}

// binlogKeyID checks the magic of a binary log file's first bytes and returns the keyring id
// of its key when it is encrypted ("" when it is not).
func binlogKeyID(head []byte, name string) (string, error) {
	switch {
	case len(head) >= 4 && string(head[:4]) == binlogMagic:
		return "", nil
	case len(head) < 7 || string(head[:4]) != binlogEncryptedMagic:
		return "", fmt.Errorf("binary log %s starts with %q, neither a binary log nor an encrypted binary log", name, head[:min(len(head), 4)])
	case head[4] != binlogEncryptedV1:
		return "", fmt.Errorf("encrypted binary log %s has header version %d; this version of pagetrack reads version %d", name, head[4], binlogEncryptedV1)
	case head[5] != binlogKeyIDField || 7+int(head[6]) > len(head):
		return "", fmt.Errorf("encrypted binary log %s: its header does not start with a key id", name)
	}
	id := string(head[7 : 7+int(head[6])])
	return id, nil
}

// readBinlogKeyID reads the head of a binary log file and returns binlogKeyID of it.
func readBinlogKeyID(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return binlogKeyID(head[:n], filepath.Base(path))
}

// restoreKeys checks, before a restore writes anything, that the keyring file holds every key
// the stream's Header lists, and unseals the redo key when the redo is encrypted.
func restoreKeys(h *shared.Header, keyringFile string) (*innodb.TablespaceKey, error) {
	if len(h.MasterKeys) == 0 && len(h.RedoEncryption) == 0 {
		return nil, nil // nothing encrypted: a keyring given anyway is not read
	}
	if keyringFile == "" {
		return nil, shared.CheckMasterKeys(h, "", nil)
	}
	ring, err := keyring.Load(keyringFile)
	if err != nil {
		return nil, shared.Precondition(fmt.Sprintf("%v; nothing was written", err))
	}
	if err := shared.CheckMasterKeys(h, keyringFile, func(id string) bool { _, ok := ring.Key(id); return ok }); err != nil {
		return nil, err
	}
	if len(h.RedoEncryption) == 0 {
		return nil, nil
	}
	head := make([]byte, 1024+innodb.RedoBlockSize)
	copy(head[1024:], h.RedoEncryption)
	info, err := innodb.ParseRedoEncryptionInfo(head)
	if err != nil {
		return nil, fmt.Errorf("the stream's redo encryption block: %w", err)
	}
	var master []byte
	if info.MasterKeyID != 0 {
		if master, err = ring.InnoDBMasterKey(info.ServerUUID, info.MasterKeyID); err != nil {
			return nil, shared.Precondition(err.Error() + "; nothing was written")
		}
	}
	key, err := info.Unseal(master)
	if err != nil {
		return nil, shared.Precondition(fmt.Sprintf("the redo log's key: %v; nothing was written", err))
	}
	return &key, nil
}
