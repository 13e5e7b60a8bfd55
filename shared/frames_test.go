package shared_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/pagetrack/pagetrack/shared"
)

// validFrames is a whole stream in frames: every record kind.
func validFrames() []byte {
	var b []byte
	for _, r := range allRecords() {
		b = shared.AppendFrame(b, r)
	}
	return b
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// forgedFrames are frame streams a plugin could forge, each with what its refusal must say.
func forgedFrames() []struct {
	name  string
	b     []byte
	index int // records decoded before the refusal
	want  string
} {
	valid := validFrames()
	first := 4 + int(binary.BigEndian.Uint32(valid))
	return []struct {
		name  string
		b     []byte
		index int
		want  string
	}{
		{"cut in a length", valid[:first+2], 1, "record 2 (invalid record): " /* conn: ends inside a frame; batch: truncated frame */},
		{"cut in a record", valid[:len(valid)-3], len(allRecords()) - 1, "record 8 (invalid record): "},
		{"oversized length", append(append([]byte(nil), valid[:first]...), u32(shared.MaxRecordBytes+1)...), 1, "a frame of 1048577 bytes, over the 1048576-byte limit (MaxRecordBytes)"},
		{"huge length", u32(0xFFFFFFFF), 0, "a frame of 4294967295 bytes, over the 1048576-byte limit"},
		{"empty frame", u32(0), 0, "an empty frame"},
		{"garbage kind", append(u32(3), 'Q', 1, 2), 0, "the frame holds no valid record encoding (record: unknown kind byte 0x51)"},
		{"garbage inside", append(u32(5), 'P', 0, 0, 0, 1), 0, "the frame holds no valid record encoding (record: truncated)"},
		{"claimed payload", append(u32(21), append([]byte{'P', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)...), 0, "(record: truncated)"},
	}
}

// A forged frame stream is refused with ErrBadStream naming the record, by the host's socket
// reader and by the plugin's batch reader, after the records before it.
func TestForgedFramesAreRefused(t *testing.T) {
	for _, tc := range forgedFrames() {
		t.Run(tc.name, func(t *testing.T) {
			conn, batch, connErr, batchErr, arena := shared.ReadFrames(tc.b)
			for _, got := range []struct {
				reader string
				recs   []*shared.Record
				err    error
			}{{"socket", conn, connErr}, {"batch", batch, batchErr}} {
				if !errors.Is(got.err, shared.ErrBadStream) || !strings.Contains(got.err.Error(), tc.want) {
					t.Errorf("%s reader: %v; want ErrBadStream saying %q", got.reader, got.err, tc.want)
				}
				if len(got.recs) != tc.index {
					t.Errorf("%s reader: %d records before the refusal, want %d", got.reader, len(got.recs), tc.index)
				}
			}
			if arena > shared.ConnReaderArenaLimit {
				t.Errorf("the socket reader allocated %d bytes", arena)
			}
		})
	}
	conn, batch, connErr, batchErr, _ := shared.ReadFrames(validFrames())
	if connErr != io.EOF || batchErr != io.EOF {
		t.Fatalf("a valid stream ends with %v (socket), %v (batch); want io.EOF", connErr, batchErr)
	}
	compareRecords(t, conn, normalized(allRecords()))
	compareRecords(t, batch, normalized(allRecords()))
}

// FuzzFrames: no frame stream makes a reader panic, allocate more than its bound, or end
// with anything but io.EOF or ErrBadStream; both readers agree on the records.
func FuzzFrames(f *testing.F) {
	f.Add(validFrames())
	for _, tc := range forgedFrames() {
		f.Add(tc.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		conn, batch, connErr, batchErr, arena := shared.ReadFrames(b)
		for _, err := range []error{connErr, batchErr} {
			if err != io.EOF && !errors.Is(err, shared.ErrBadStream) {
				t.Fatalf("reader ended with %v", err)
			}
		}
		if arena > shared.ConnReaderArenaLimit {
			t.Fatalf("the socket reader allocated %d bytes", arena)
		}
		if len(conn) != len(batch) || (connErr == io.EOF) != (batchErr == io.EOF) {
			t.Fatalf("socket reader: %d records, %v; batch reader: %d records, %v", len(conn), connErr, len(batch), batchErr)
		}
	})
}

// A plugin that forges frames over the host's bulk socket or in FrameBatch messages gets
// its backup refused with ErrBadStream, though its call ends with success.
func TestForgingPluginIsRefused(t *testing.T) {
	for _, wire := range []shared.Wire{shared.WireBulk, shared.WireFrames} {
		for _, tc := range forgedFrames() {
			t.Run(wire.String()+"/"+tc.name, func(t *testing.T) {
				client, server := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
					shared.PluginName: &shared.ForgingSourcePlugin{Frames: tc.b},
				})
				t.Cleanup(func() {
					server.Stop()
					_ = client.Close()
				})
				raw, err := client.Dispense(shared.PluginName)
				if err != nil {
					t.Fatal(err)
				}
				src := raw.(shared.Source)
				shared.SetWire(src, wire)
				s, err := src.Backup(context.Background(), &shared.BackupRequest{})
				var recs []*shared.Record
				if err == nil {
					recs, err = readAll(s)
				}
				if !errors.Is(err, shared.ErrBadStream) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Backup: %v; want ErrBadStream saying %q", err, tc.want)
				}
				if len(recs) != tc.index {
					t.Errorf("%d records before the refusal, want %d", len(recs), tc.index)
				}
			})
		}
	}
}
