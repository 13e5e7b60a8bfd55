// Package keyring reads the data file of MySQL's component_keyring_file (8.0.24 and later,
// MySQL 9.x): the keys a server encrypts its tablespaces, redo, undo and binary logs with.
//
// The file is JSON, rewritten whole on every change:
//
//	{"version":"1.0","elements":[
//	  {"user":"","data_id":"INNODBKey-<server uuid>-<n>","data_type":"AES","data":"<hex>","extension":[]},
//	  …]}
//
// data is the key in hex (upper case as written; the server's unhex accepts either case).
// InnoDB master keys are "INNODBKey-<server uuid>-<id>" (32 bytes), ids counting from 1 with every
// ALTER INSTANCE ROTATE INNODB MASTER KEY. Binary log keys are
// "MySQLReplicationKey_<server uuid>_<n>" (32 bytes); "MySQLReplicationKey_<server uuid>" holds
// the current binlog key index, not a key. An empty file holds no keys.
//
// Writing goes through "<file>.backup": the component writes the new contents there, then to the
// file, then removes the backup. A non-empty backup found at start-up means an interrupted write,
// and the server completes it from the backup, so Load reads the backup when there is one.
package keyring

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
)

// FormatVersion is the only data file version component_keyring_file writes.
const FormatVersion = "1.0"

// Key is one element of the data file.
type Key struct {
	ID   string // data_id
	User string // owner; "" for keys of the server itself
	Type string // data_type: "AES", "RSA", "DSA" or "SECRET"
	Data []byte
}

// Keyring holds the keys of one data file.
type Keyring struct {
	keys map[keyName]Key
}

type keyName struct{ id, user string }

// element mirrors one JSON element; pointers tell a missing member from an empty one.
type element struct {
	User      *string          `json:"user"`
	DataID    *string          `json:"data_id"`
	DataType  *string          `json:"data_type"`
	Data      *string          `json:"data"`
	Extension *json.RawMessage `json:"extension"`
}

type file struct {
	Version  *string    `json:"version"`
	Elements *[]element `json:"elements"`
}

// Load reads a component_keyring_file data file, or its ".backup" when that exists and is not
// empty (as the server does at start-up).
func Load(path string) (*Keyring, error) {
	data, err := os.ReadFile(path + ".backup")
	if err != nil || len(data) == 0 {
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("keyring data file backup: %w", err)
		}
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("keyring data file: %w", err)
		}
	} else {
		path += ".backup"
	}
	k, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("keyring data file %s: %w", path, err)
	}
	return k, nil
}

// Parse reads the contents of a data file. It checks what the server's schema requires (a
// version and an array of elements with all five members, strings where strings belong) and
// more: the version must be 1.0, every data must be valid hex and no (data_id, user) may repeat.
func Parse(data []byte) (*Keyring, error) {
	k := &Keyring{keys: map[keyName]Key{}}
	if len(bytes.TrimSpace(data)) == 0 {
		return k, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var f file
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a keyring JSON document: %w", err)
	}
	if dec.More() {
		return nil, errors.New("data after the JSON document")
	}
	switch {
	case f.Version == nil || f.Elements == nil:
		return nil, errors.New(`missing "version" or "elements"`)
	case *f.Version != FormatVersion:
		return nil, fmt.Errorf("version %q (want %q)", *f.Version, FormatVersion)
	}
	for i, e := range *f.Elements {
		key, err := e.key()
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		name := keyName{key.ID, key.User}
		if _, dup := k.keys[name]; dup {
			return nil, fmt.Errorf("element %d: data_id %q of user %q appears twice", i, key.ID, key.User)
		}
		k.keys[name] = key
	}
	return k, nil
}

func (e element) key() (Key, error) {
	if e.User == nil || e.DataID == nil || e.DataType == nil || e.Data == nil || e.Extension == nil {
		return Key{}, errors.New(`missing one of "user", "data_id", "data_type", "data", "extension"`)
	}
	if *e.DataID == "" {
		return Key{}, errors.New("empty data_id")
	}
	raw, err := hex.DecodeString(*e.Data)
	if err != nil {
		return Key{}, fmt.Errorf("data_id %q: data is not hex: %w", *e.DataID, err)
	}
	return Key{ID: *e.DataID, User: *e.User, Type: *e.DataType, Data: raw}, nil
}

// Key returns the server's own key (user "") named id.
func (k *Keyring) Key(id string) (Key, bool) {
	key, ok := k.keys[keyName{id, ""}]
	return key, ok
}

// IDs lists the data_ids of the server's own keys, sorted.
func (k *Keyring) IDs() []string {
	var ids []string
	for name := range k.keys {
		if name.user == "" {
			ids = append(ids, name.id)
		}
	}
	sort.Strings(ids)
	return ids
}

// InnoDBMasterKeyLen is the length of an InnoDB master key (AES-256).
const InnoDBMasterKeyLen = 32

// InnoDBMasterKeyID is the data_id of InnoDB master key id of the server serverUUID.
func InnoDBMasterKeyID(serverUUID string, id uint32) string {
	return fmt.Sprintf("INNODBKey-%s-%d", serverUUID, id)
}

// InnoDBMasterKey returns the InnoDB master key id of the server serverUUID, checking that it
// is an AES key of 32 bytes.
func (k *Keyring) InnoDBMasterKey(serverUUID string, id uint32) ([]byte, error) {
	name := InnoDBMasterKeyID(serverUUID, id)
	key, ok := k.Key(name)
	if !ok {
		return nil, fmt.Errorf("the keyring has no InnoDB master key %s: restore or point at the keyring data file the server used", name)
	}
	if key.Type != "AES" || len(key.Data) != InnoDBMasterKeyLen {
		return nil, fmt.Errorf("keyring key %s is a %d-byte %s key, want a %d-byte AES key", name, len(key.Data), key.Type, InnoDBMasterKeyLen)
	}
	return key.Data, nil
}

// BinlogKeyID is the data_id of binary log encryption key n of the server serverUUID.
func BinlogKeyID(serverUUID string, n uint32) string {
	return fmt.Sprintf("MySQLReplicationKey_%s_%d", serverUUID, n)
}
