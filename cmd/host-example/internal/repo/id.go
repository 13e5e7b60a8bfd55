package repo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// ID names a blob, a pack file or an index file: the SHA-256 of a blob's uncompressed content,
// or of a pack or index file's bytes.
type ID [32]byte

// Hash returns the ID of b.
func Hash(b []byte) ID { return sha256.Sum256(b) }

// String is the ID in lower-case hex (64 characters).
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short is the first 8 hex characters, for messages.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsZero reports whether id is the zero value (no ID).
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses 64 hex characters.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("%q is not an ID (64 hex characters)", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%q is not an ID: %v", s, err)
	}
	return id, nil
}

// MarshalText writes the ID as hex, so that JSON holds it as a string.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads the hex form.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// BlobType says what a blob holds. Blobs are deduplicated by content alone; the type is
// recorded with the blob where it was first stored and serves messages and statistics.
type BlobType uint8

const (
	// BlobPage is one InnoDB page (a PageBatch is stored one page per blob).
	BlobPage BlobType = 'p'
	// BlobData is the payload of a redo segment, binlog chunk or file chunk (or a piece of
	// one larger than maxDataBlob).
	BlobData BlobType = 'd'
	// BlobTree is a chunk of a snapshot's record list.
	BlobTree BlobType = 't'
)

func (t BlobType) String() string {
	switch t {
	case BlobPage:
		return "page"
	case BlobData:
		return "data"
	case BlobTree:
		return "tree"
	}
	return fmt.Sprintf("type %#x", uint8(t))
}

func (t BlobType) valid() bool { return t == BlobPage || t == BlobData || t == BlobTree }
