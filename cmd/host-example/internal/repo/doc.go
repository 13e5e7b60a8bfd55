// Package repo stores backup streams and the snapshots that describe them.
//
// The host sees a Repository: it opens a StreamWriter for a new snapshot, appends records,
// and commits the stream together with its Snapshot metadata, or aborts it; later it lists
// snapshots and reads a stream back. Local is the first implementation, a plain directory;
// later ones (content-addressed packs) replace it behind the same interface.
//
// # Local layout
//
//	REPO/config.json          repository format version, id, creation time
//	REPO/streams/ID.pgs       one stored stream per snapshot
//	REPO/snapshots/ID.json    one Snapshot per recorded backup (its JSON form)
//	REPO/tmp/                 streams and metadata being written
//
// A snapshot exists once snapshots/ID.json exists, and that file is written last: the stream
// is written to tmp/ID.pgs.partial, synced, renamed into streams/ and the directory synced;
// then the metadata is written to tmp/, synced and renamed into snapshots/. A crash at any
// point leaves no snapshot that lacks its stream.
//
// # Stream file
//
// A stream file is one zstd stream. Decompressed, it is
//
//	magic    8 bytes  "PGTKSTRM"
//	version  u32      1
//	frame*   one per record, in the order the source sent them (Progress left out)
//
// and each frame is
//
//	length   u32      length of payload
//	crc      u32      CRC-32C (Castagnoli) of payload
//	payload  bytes    shared.AppendRecord(nil, record)
//
// Integers are big-endian. The stream ends with the frame of the Trailer record; the zstd
// layer carries its own content checksum as well.
package repo
