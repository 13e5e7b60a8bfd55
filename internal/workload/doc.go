// Package workload is a deterministic multi-client write workload for a live MySQL/InnoDB server,
// meant to run while hot backups are taken, and an exact checker for a server started on a
// restored datadir (or on a crashed and recovered one, or on the live server itself).
//
// # Steps
//
// Clients c = 0..Clients-1 each run steps k = 1, 2, 3, …; a step is one transaction that touches
// only the client's own rows, so clients never conflict and the state of client c after it
// committed K steps is a pure function of (Config, c, K) — the model, which Check replays (about
// a microsecond per step). Step k of client c, with every choice drawn from a SplitMix64 stream
// seeded by (Seed, c, k):
//
//   - accounts(client, id, balance; KEY by_balance(balance)): moves 1..1000 from one of the
//     client's Accounts accounts to another. Balances may go negative; each client's sum is
//     invariant.
//   - blobs(client, slot, version, body LONGBLOB, digest; KEY by_digest): rewrites slot k mod
//     Slots with its next version. A body is BlobSize..1.5*BlobSize pseudo-random (incompressible)
//     bytes derived from (Seed, c, slot, version) — off-page for the default 24 KiB — and digest is
//     its SHA-256 in hex.
//   - ztab(client, id, rev, val, txt; KEY by_val(val)), ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8:
//     bumps the revision of row 0 (rev = k), and either inserts row k/3 (every third step) or
//     bumps the revision of a pseudo-random existing row. val and the compressible text txt are
//     derived from (Seed, c, id, rev).
//   - ptab(client, id, tag, payload; KEY by_tag(tag)), PARTITION BY HASH(client) PARTITIONS 4:
//     inserts row k and deletes row k-128, a sliding window of the newest 128 rows.
//   - gtab(client, id, rev, val, pad; KEY by_val(val)) in the general tablespace
//     Config.Tablespace (datafile <Tablespace>.ibd): bumps row 0 (rev = k) and inserts row k/2
//     every second step.
//   - journal(client, seq, step_hash, note; KEY by_hash(step_hash)): inserts seq = k with a
//     readable note describing the step and step_hash = SHA-256(previous step_hash ‖ note), a
//     hash chain over the client's whole history.
//
// Every UPDATE and DELETE is guarded by the value the model expects the row to hold and must
// affect exactly one row, so a server that loses or misapplies a step is caught by the client at
// once. A step that hits a deadlock or lock wait timeout (1213, 1205) is rolled back and retried;
// any other error — including a failed COMMIT, whose outcome is unknown — stops the client and
// fails the Run. A step counts only after its COMMIT returned success.
//
// Grow adds a bulk(id, grp, tag, pad; KEY by_tag(tag)) table of deterministic ~2 KB rows to
// reach a chosen size (hundreds of MB); the meta table records how many rows were committed,
// together with the parameters Setup ran with.
//
// # Invariants Check verifies
//
// Check reads everything in one consistent snapshot. For each client, K is the largest journal
// seq; the journal must then be exactly seq 1..K with every step_hash and note equal to the
// model's. The model replayed to K must match every row of every table exactly — balances,
// blob versions, lengths, SHA2(body, 256) computed by the server and the digest column, ztab,
// ptab and gtab contents, and bulk rows 1..N with N from meta — read once through the clustered
// index and once through each secondary index (a covering FORCE INDEX scan), so a secondary
// index that disagrees with its table is caught too. It also checks each client's balance sum,
// that ztab is compressed with 8 KiB pages, that gtab lives in the general tablespace and that
// ptab has 4 partitions. CHECK TABLE and GTID comparisons are left to the caller.
//
// After a crash (or for a backup taken while clients were committing), a client's K may be one
// more than the steps its Run acknowledged: the COMMIT in flight may have been durable without
// the client hearing of it.
package workload
