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
//	REPO/streams/ID.map       its page map: the stream's files and the pages it holds of each
//	REPO/snapshots/ID.json    one Snapshot per recorded backup (its JSON form)
//	REPO/tmp/                 streams and metadata being written
//
// A snapshot exists once snapshots/ID.json exists, and that file is written last: the stream
// is written to tmp/ID.pgs.partial, synced, renamed into streams/ and the directory synced;
// the page map likewise (tmp/ID.map.partial, then streams/ID.map); then the metadata is
// written to tmp/, synced and renamed into snapshots/. A crash at any point leaves no
// snapshot that lacks its stream or its page map.
//
// # Page map file
//
// The page map (see PageMap) is built by the StreamWriter from the records it stores, so it
// always describes its stream. It lets a restore plan which pages to take from which snapshot
// of an incremental chain without reading any stream:
//
//	magic    8 bytes  "PGTKPMAP"
//	version  u32      1
//	length   u32      length of the file list
//	files    JSON     {"files": [{"index", "path", "space_id", "flags", "page_size",
//	                  "zip_size", "size_pages", "incremental"}…], "duplicate_pages": N}
//	length   u64      length of the page set
//	pages    bytes    pagemap.PageSet.MarshalBinary, the "space" being the FileIndex
//	crc      u32      CRC-32C (Castagnoli) of everything before it
//
// Each file is described by its last Tablespace record; the set holds the pages of the
// stream's PageBatch records (FirstPage .. FirstPage+len(Data)/PageSize).
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
