// Package chain restores a snapshot of an incremental chain (a full backup, then incrementals
// each on the one before) as the one stream a source restores from: the merge the contract
// asks of every host (shared.Source.Restore takes whole files only). It is independent of how
// a host stores data; a host supplies what it has through two small interfaces.
//
// # The merged stream
//
// For the chain's newest snapshot T (the target):
//
//	T's Header
//	T's Tablespace records: one per file of T, as its last record describes it, Incremental=false
//	every page of every file of T, in file and page order: the newest copy along the chain,
//	    or a page of zeros where no snapshot provides one
//	T's redo and file records, in their stored order
//	T's binlog file from offset 0 to T's BinlogPos: T's chunks, preceded, when T carries a
//	    binlog delta (Trailer.BinlogFrom > 0), by its parent's reassembled copy of the file
//	T's Trailer, its counts, Records and Digest recomputed over the records sent, BinlogFrom 0
//
// A binlog delta joins only a parent that ended in the same file at exactly its BinlogFrom
// (else a *LinkError: a gap or an overlap, or another file). The source checked, when it took
// the delta, that the file still began with what the base sent (mysqlsrc keeps a digest of it
// in its state), so the reassembled file is byte for byte what a full backup at T copied.
//
// Every record passes a shared.NewRestoreChecker before it is handed out, so the merge cannot
// send what the source would refuse (shared.NewRestoreChecker wants every page of every file,
// hence the pages of zeros).
//
// # Which copy of a page
//
// The Planner takes the chain's record lists oldest first (Add). For every file of a snapshot
// S (keyed by path):
//   - not marked Incremental: S holds the whole file; older copies of it are forgotten;
//   - marked Incremental: the snapshot before S must hold the same path with the same space id
//     (else the chain is inconsistent); S's pages replace older copies, and older copies at or
//     beyond S's SizePages are forgotten (those pages did not exist at S). S must carry every
//     page from its parent's size up to its own (a source sends every page a file gained:
//     no base holds them); a file that claims growth it does not carry is refused. That rule
//     is what bounds an incremental file's claimed size by what arrived, so a forged size of
//     2^32-1 pages cannot make a merge send terabytes of zeros;
//   - files of older snapshots that S lacks are forgotten (dropped between the two backups).
//
// The first snapshot must be a full; each later one an incremental taken on its parent's
// checkpoint (Trailer.BaseCheckpointLSN = parent's Header.CheckpointLSN) of the same server
// (Header.ServerUUID). Walking newest first and stopping at the first whole copy gives the same
// answer; oldest first is what a host holding only the streams in order (a pipe) can do, and
// one walk for both kinds of hosts keeps the rules in one place.
//
// State is one entry per page that actually appears in a record list (8 bytes of location in
// a map), never per page a Tablespace record claims: SizePages may be up to 2^32-1. Pages no
// snapshot provides cost nothing until the merge sends them, one reused buffer of zeros.
//
// # Checking record lists
//
// Planning reads record lists, not pages: each record with its payload left out and the
// payload's length (Listed). Each list goes through shared.NewListChecker, which applies every
// stream rule but the digest, so a stored stream that breaks a rule is refused with the same
// *shared.StreamError as the stream itself, before anything is read or written. The digest
// needs the payloads; a host verified it when it stored the stream and checks every payload
// it reads back against its own hashes (Payloads).
//
// # Hosts with a store: Planner, Plan, Merge
//
// A host that stores snapshots with random access (host-example's repository) gives the
// Planner each snapshot's record list (RecordList), gets a Plan naming, for each record of the
// merged stream, the Pieces it is made of (a page of a page batch of some snapshot, or the
// whole payload of one of T's records), and passes Merge a Payloads that reads them in that
// order (as many at a time as it likes: the order is known up front). Only the pages sent are
// read, each once, so a long chain costs no more page reads than a short one.
//
// # Hosts with only the streams: Spool
//
// A host that has the chain only as streams in sequence, oldest first (restic dump … |
// restore --from -), cannot reach back to an older stream's pages once it has read past them,
// and T's pages come last. Two designs were possible:
//
//   - a Restore that takes the chain's streams back to back and lets the source write newer
//     pages over older in place: a contract change (a new protocol version), and every source
//     would implement the chain rules again, against the rule that one owner has them;
//   - the host keeps the pages and merges here: Spool.
//
// Spool is the second. It reads each stream through a full shared.NewStreamChecker (digest
// included: the streams are fresh, nothing checked them before), writes each payload to a
// scratch file the host supplies (an unlinked temporary file: nothing to sweep after a kill),
// and plans it with the same Planner; Merge then reads the chosen pages back from the scratch
// file. No temporary repository, no second pass through a command line, and the source's
// Restore stays the one-stream contract. The price is scratch space for the streams' payloads
// (uncompressed), written and read once, sequentially then in place.
package chain
