package mysqlsrc

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/klauspost/compress/zstd"
)

// sourceState is what a backup remembers for the incremental that builds on it. It travels as
// Trailer.SourceState, opaque to the host: zstd-compressed JSON.
type sourceState struct {
	Version       int    `json:"version"`
	ServerUUID    string `json:"server_uuid"`
	ServerStarted int64  `json:"server_started"` // Unix seconds, server clock (now − Uptime)
	ConnectionID  uint64 `json:"connection_id"`  // of a connection the backup opened
	BinlogFile    string `json:"binlog_file,omitempty"`
	// BinlogPos is the backup's position P in BinlogFile and BinlogSHA256 the SHA-256 of the
	// file's bytes 0..P as a restore of this backup has them (the in-use flag set): an
	// incremental sends only what follows P when the file still hashes so. Absent in states
	// of older plugins, whose incrementals send the file from its start.
	BinlogPos     uint64 `json:"binlog_pos,omitempty"`
	BinlogSHA256  []byte `json:"binlog_sha256,omitempty"`
	CheckpointLSN uint64 `json:"checkpoint_lsn"` // C
	EndLSN        uint64 `json:"end_lsn"`        // E
	// RedoLoggingOnAt is the server's clock (µs since the epoch) when this backup, holding the
	// backup lock, saw redo logging on: a redo logging switch in the error log at or after it
	// happened since this backup. Zero in states of version 1.
	RedoLoggingOnAt int64 `json:"redo_logging_on_at,omitempty"`
	// Page tracking: the reset point R this backup set, and the tracking group's start.
	// Zero when the server had no component_mysqlbackup.
	TrackingReset uint64      `json:"tracking_reset,omitempty"`
	TrackingGroup uint64      `json:"tracking_group,omitempty"`
	Files         []stateFile `json:"files"`
	// Indexes lists each space's index ids: a new id means an index was built, possibly
	// without redo logging or page tracking (PS-8032), so the file is copied whole.
	Indexes map[uint32][]uint64 `json:"indexes"`
	// Encrypted lists the spaces with tablespace encryption on.
	Encrypted []uint32 `json:"encrypted,omitempty"`
}

type stateFile struct {
	Path      string `json:"path"`
	SpaceID   uint32 `json:"space_id"`
	PageSize  uint32 `json:"page_size"`
	SizePages uint64 `json:"size_pages"`
}

// stateVersion is the version a backup writes; version 1 (without RedoLoggingOnAt) is still
// read, and an incremental on it copies every page.
const (
	stateVersion       = 2
	oldestStateVersion = 1
)

func (s *sourceState) encode() ([]byte, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	return enc.EncodeAll(raw, nil), nil
}

func decodeState(b []byte) (*sourceState, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	raw, err := dec.DecodeAll(b, nil)
	if err != nil {
		return nil, fmt.Errorf("the base snapshot's source state is damaged: %w", err)
	}
	var s sourceState
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("the base snapshot's source state is damaged: %w", err)
	}
	if s.Version < oldestStateVersion || s.Version > stateVersion {
		return nil, fmt.Errorf("the base snapshot's source state has version %d; this plugin reads versions %d to %d — take a full backup", s.Version, oldestStateVersion, stateVersion)
	}
	if s.CheckpointLSN == 0 || s.EndLSN < s.CheckpointLSN {
		return nil, fmt.Errorf("the base snapshot's source state has impossible LSNs (checkpoint %d, end %d)", s.CheckpointLSN, s.EndLSN)
	}
	return &s, nil
}

func (s *sourceState) file(path string) (stateFile, bool) {
	for _, f := range s.Files {
		if f.Path == path {
			return f, true
		}
	}
	return stateFile{}, false
}

// newIndexes reports whether space has an index id the base did not have.
func (s *sourceState) newIndexes(space uint32, now []uint64) bool {
	before := s.Indexes[space]
	for _, id := range now {
		if !slices.Contains(before, id) {
			return true
		}
	}
	return false
}
