package mysqlsrc

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
)

// event builds a raw binlog event (no checksum) of type t ending at end, with body.
func event(t replication.EventType, end uint32, body []byte) *replication.BinlogEvent {
	raw := make([]byte, eventHeaderSize, eventHeaderSize+len(body))
	raw = append(raw, body...)
	raw[4] = byte(t)
	binary.LittleEndian.PutUint32(raw[9:], uint32(len(raw)))
	binary.LittleEndian.PutUint32(raw[13:], end)
	return &replication.BinlogEvent{RawData: raw, Header: &replication.EventHeader{EventType: t, EventSize: uint32(len(raw)), LogPos: end}}
}

// gtidBody is a GTID event's body announcing a transaction of length bytes.
func gtidBody(gno uint64, length byte) []byte {
	b := []byte{1}
	b = append(b, 0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62)
	b = binary.LittleEndian.AppendUint64(b, gno)
	b = append(b, 2) // logical timestamps follow
	b = binary.LittleEndian.AppendUint64(b, 0)
	b = binary.LittleEndian.AppendUint64(b, 1)
	b = append(b, 0x40, 0x42, 0x0f, 0, 0, 0, 0) // immediate_commit_timestamp 1,000,000 µs
	b = append(b, length)
	return binary.LittleEndian.AppendUint32(b, 90704)
}

func TestAssemblerRefuses(t *testing.T) {
	gtidLen := uint32(eventHeaderSize + len(gtidBody(1, 0)))
	rotate := &replication.BinlogEvent{Header: &replication.EventHeader{EventType: replication.ROTATE_EVENT, Flags: replication.LOG_EVENT_ARTIFICIAL_F},
		Event: &replication.RotateEvent{Position: 4, NextLogName: []byte("binlog.000001")}}
	for _, c := range []struct {
		name   string
		events []*replication.BinlogEvent
		want   string
	}{
		{"unknown event between transactions", []*replication.BinlogEvent{event(200, 4+30, make([]byte, 11))}, "does not know what it means"},
		{"incident", []*replication.BinlogEvent{event(replication.INCIDENT_EVENT, 4+30, make([]byte, 11))}, "logged an incident"},
		{"anonymous transaction", []*replication.BinlogEvent{event(replication.ANONYMOUS_GTID_EVENT, 4+30, make([]byte, 11))}, "gtid_mode=ON"},
		{"unknown event inside a transaction", []*replication.BinlogEvent{
			event(replication.GTID_EVENT, 4+gtidLen, gtidBody(1, 200)), event(200, 4+gtidLen+30, make([]byte, 11))}, "does not know it"},
		{"transaction longer than announced", []*replication.BinlogEvent{
			event(replication.GTID_EVENT, 4+gtidLen, gtidBody(1, byte(gtidLen+10))), event(replication.XID_EVENT, 4+gtidLen+27, make([]byte, 8))}, "runs past"},
		{"transaction ending on a table map", []*replication.BinlogEvent{
			event(replication.GTID_EVENT, 4+gtidLen, gtidBody(1, byte(gtidLen+30))), event(replication.TABLE_MAP_EVENT, 4+gtidLen+30, make([]byte, 11))}, "does not end transactions"},
		{"position jump", []*replication.BinlogEvent{
			event(replication.GTID_EVENT, 4+gtidLen, gtidBody(1, 200)), event(replication.TABLE_MAP_EVENT, 4+gtidLen+100, make([]byte, 11))}, "stream jumped"},
	} {
		asm := newAssembler(ArchiveOptions{SegmentBytes: 1 << 20, MaxTransactionBytes: 1 << 20}, ResumePoint{}, func(Segment) error { return nil })
		err := asm.add(rotate)
		for _, ev := range c.events {
			if err != nil {
				break
			}
			err = asm.add(ev)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}
