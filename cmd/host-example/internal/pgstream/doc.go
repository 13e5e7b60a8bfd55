// Package pgstream writes and reads the self-describing stream of one snapshot that
// `host-example backup --stdout` prints and `host-example restore --from` reads: the form in
// which a backup travels through a pipe, a file or another backup tool (restic) without a
// pagetrack repository.
//
// # Format
//
// Integers are big-endian. A stream is
//
//	magic    8 bytes  "PGTKPIPE"
//	version  u32      1
//	frame    'M'      the host's metadata of the snapshot (JSON, see Meta); exactly one
//	frame*   'R'      one per record of the source's stream, Header first, Trailer last;
//	                  payload shared.AppendRecord(nil, record); Progress records are left out
//	frame    'E'      the end: record count and SHA-256 of the stream before this frame
//
// and each frame is
//
//	type     u8       'M', 'R' or 'E'
//	length   u32      length of payload (at most MaxFrame)
//	crc      u32      CRC-32C (Castagnoli) of type, length and payload
//	payload  bytes
//
// The 'E' payload is 40 bytes: u64 the number of 'R' frames, then the SHA-256 of every byte
// of the stream before the 'E' frame (magic, version and all frames). A stream ends right
// after its 'E' frame; several streams may follow one another in one input (a full backup,
// then its incrementals in order).
//
// Three checks, one on top of the other: each frame's CRC-32C catches a damaged frame where
// it is; the end frame's count and SHA-256 catch a stream that was cut, reordered or spliced;
// the source's own Trailer carries the digest of its records (shared.Digester), which the
// host checks as it does for a repository backup. Nothing is compressed: a backup tool
// storing the stream deduplicates and compresses it better uncompressed.
package pgstream
