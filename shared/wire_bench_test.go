package shared_test

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// The transport alone (issue 11): a plugin that sends pre-built page batches from memory and
// a host that receives and drops them, both in this process over go-plugin's unix socket, on
// each wire. Besides MB/s each reports cpu-s/GiB: the process's CPU time (both ends) per GiB
// of page data, which on two cores bounds the rate as much as the wall time does.
//
//	go test -run '^$' -bench 'Wire' -benchtime 3x -cpu 1,2 ./shared/
//
// With -cpu 1 the CPU figure is the work alone; with 2 it includes the runtime's spinning
// between the two ends and, on a busy machine, contention.
func BenchmarkWire(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int
	}{{"960KiB", shared.MaxPayloadBytes}, {"16KiB", 16 << 10}} {
		for _, w := range []shared.Wire{shared.WireRecords, shared.WireFrames, shared.WireBulk} {
			b.Run(size.name+"/"+w.String(), func(b *testing.B) { benchWire(b, w, size.bytes) })
		}
	}
}

// benchWireBytes is the page data one iteration sends.
const benchWireBytes = 1 << 30

func benchWire(b *testing.B, wire shared.Wire, recordBytes int) {
	data := make([]byte, recordBytes)
	for i := range data {
		data[i] = byte(i*31 + i>>11)
	}
	n := benchWireBytes / recordBytes
	pages := uint64(recordBytes / 16384)
	c := connect(b, link{wire: wire}, &fake{backup: func(context.Context, *shared.BackupRequest) (shared.RecordStream, error) {
		i := 0
		return streamFunc(func() (*shared.Record, error) {
			if i == n {
				return nil, io.EOF
			}
			i++
			return &shared.Record{Pages: &shared.PageBatch{FileIndex: 1, FirstPage: uint64(i) * pages, Data: data}}, nil
		}), nil
	}})
	b.SetBytes(int64(n * recordBytes))
	cpu0 := cpuTime()
	for b.Loop() {
		s, err := c.src.Backup(context.Background(), &shared.BackupRequest{})
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		for {
			r, err := s.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			got += len(r.Pages.Data)
		}
		if got != n*recordBytes {
			b.Fatalf("received %d bytes, sent %d", got, n*recordBytes)
		}
		if w := shared.LastWire(c.src); w != wire {
			b.Fatalf("the backup went over %s, want %s", w, wire)
		}
	}
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N)/(float64(n*recordBytes)/(1<<30)), "cpu-s/GiB")
}

// cpuTime is the CPU time (user and system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
