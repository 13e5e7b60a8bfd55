package shared

import (
	"testing"

	"google.golang.org/protobuf/proto"

	sourcev1 "github.com/pagetrack/pagetrack/shared/proto"
)

// benchBatch is a page batch of 1 MiB (64 pages of 16 KiB) with non-trivial contents.
func benchBatch() *Record {
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i*31 + i>>11)
	}
	return &Record{Pages: &PageBatch{FileIndex: 3, FirstPage: 4096, Data: data}}
}

// BenchmarkAppendRecord1MiB encodes a 1 MiB page batch with the record codec (what a host
// storing records in the codec's form does), into a reused buffer.
func BenchmarkAppendRecord1MiB(b *testing.B) {
	r := benchBatch()
	buf := AppendRecord(nil, r)
	b.SetBytes(int64(len(r.Pages.Data)))
	for b.Loop() {
		buf = AppendRecord(buf[:0], r)
	}
}

// BenchmarkDecodeRecord1MiB decodes it (the payload aliases the input: no copy).
func BenchmarkDecodeRecord1MiB(b *testing.B) {
	enc := AppendRecord(nil, benchBatch())
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := DecodeRecord(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDigesterAdd1MiB folds a 1 MiB page batch into the stream digest (SHA-256), which
// the plugin does for every record it sends and the host for every record it stores.
func BenchmarkDigesterAdd1MiB(b *testing.B) {
	r := benchBatch()
	d := NewDigester()
	b.SetBytes(int64(len(r.Pages.Data)))
	for b.Loop() {
		d.Add(r)
	}
}

// v3Digester is a digester of a format 3 stream.
func v3Digester() *Digester {
	d := NewDigester()
	d.Add(&Record{Header: &Header{StreamFormat: 3, PageSize: 16 << 10}})
	d.Add(&Record{Tablespace: &Tablespace{FileIndex: 3, PageSize: 16 << 10}})
	return d
}

// BenchmarkRecordSum1MiB is a 1 MiB page batch's format 3 RecordSum (64 page SHA-256s and
// their hash): the per-byte work a source does on its reader goroutines.
func BenchmarkRecordSum1MiB(b *testing.B) {
	r := benchBatch()
	b.SetBytes(int64(len(r.Pages.Data)))
	for b.Loop() {
		RecordSum(r, 16<<10)
	}
}

// BenchmarkRecordSumParallel1MiB is RecordSum on every core: what format 3 lets a source
// reach.
func BenchmarkRecordSumParallel1MiB(b *testing.B) {
	r := benchBatch()
	b.SetBytes(int64(len(r.Pages.Data)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			RecordSum(r, 16<<10)
		}
	})
}

// BenchmarkDigesterAddSum1MiB is what stays serial in format 3 for a 1 MiB record: folding
// in its 32-byte sum (compare BenchmarkDigesterAdd1MiB, the serial work of formats 1, 2).
func BenchmarkDigesterAddSum1MiB(b *testing.B) {
	r := benchBatch()
	sum := RecordSum(r, 16<<10)
	d := v3Digester()
	b.SetBytes(int64(len(r.Pages.Data)))
	for b.Loop() {
		d.AddSum(r, sum)
	}
}

// BenchmarkProtoMarshal1MiB is the plugin side of the gRPC boundary for one record without
// the transport: conversion to the protobuf type and marshalling.
func BenchmarkProtoMarshal1MiB(b *testing.B) {
	r := benchBatch()
	b.SetBytes(int64(len(r.Pages.Data)))
	for b.Loop() {
		p, err := recordToProto(r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := proto.Marshal(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProtoUnmarshal1MiB is the host side: unmarshalling and conversion back.
func BenchmarkProtoUnmarshal1MiB(b *testing.B) {
	p, err := recordToProto(benchBatch())
	if err != nil {
		b.Fatal(err)
	}
	wire, err := proto.Marshal(p)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		var m sourcev1.Record
		if err := proto.Unmarshal(wire, &m); err != nil {
			b.Fatal(err)
		}
		if _, err := recordFromProto(&m); err != nil {
			b.Fatal(err)
		}
	}
}
