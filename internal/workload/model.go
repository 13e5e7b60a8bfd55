package workload

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// The model: everything the workload writes is a pure function of the Config's shape parameters
// (Seed, Accounts, Slots, BlobSize), the client number c and the step number k. The PRNG is a
// self-contained SplitMix64 so the data never depends on the Go release.

// Domains separate the PRNG streams of different purposes.
const (
	domInit uint64 = 1 + iota
	domStep
	domBlob
	domZ
	domP
	domG
	domBulk
)

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// mix hashes a tuple of integers to a 64-bit value.
func mix(parts ...uint64) uint64 {
	h := uint64(0x6a09e667f3bcc908)
	for _, p := range parts {
		h = splitmix(h ^ p)
	}
	return h
}

// prng is a SplitMix64 generator.
type prng struct{ s uint64 }

func newPRNG(parts ...uint64) *prng { return &prng{s: mix(parts...)} }

func (r *prng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a value in [0, n) (with a negligible modulo bias; determinism is what matters).
func (r *prng) intn(n int) int { return int(r.next() % uint64(n)) }

// fill fills b with pseudo-random bytes.
func (r *prng) fill(b []byte) {
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, r.next())
		b = b[8:]
	}
	if len(b) > 0 {
		var t [8]byte
		binary.LittleEndian.PutUint64(t[:], r.next())
		copy(b, t[:])
	}
}

// model holds the parameters the data depends on.
type model struct {
	seed     uint64
	accounts int
	slots    int
	blobSize int
}

func newModel(cfg *Config) *model {
	return &model{seed: uint64(cfg.Seed), accounts: cfg.Accounts, slots: cfg.Slots, blobSize: cfg.BlobSize}
}

// step is what client c does in its k-th transaction. It depends only on (c, k).
type step struct {
	client, k   int
	from, to    int   // accounts.id
	amount      int64 // moved from `from` to `to`
	slot        int   // blobs.slot rewritten
	blobVersion int64 // version written to slot
	zInsert     int   // ztab.id inserted (0: none)
	zUpdate     int   // ztab.id (≥1) whose rev is bumped (0: none); row 0 is bumped every step
	pInsert     int   // ptab.id inserted
	pDelete     int   // ptab.id deleted (0: none)
	gInsert     int   // gtab.id inserted (0: none); row 0 is bumped every step
}

// blobVersionAt is how many of the steps 1..k rewrote slot s: the slot's version after step k.
func blobVersionAt(slots, s, k int) int64 {
	if s == 0 {
		return int64(k / slots)
	}
	if k < s {
		return 0
	}
	return int64((k-s)/slots + 1)
}

func (m *model) step(c, k int) step {
	r := newPRNG(m.seed, domStep, uint64(c), uint64(k))
	st := step{client: c, k: k}
	st.from = r.intn(m.accounts)
	st.to = (st.from + 1 + r.intn(m.accounts-1)) % m.accounts
	st.amount = 1 + int64(r.intn(maxAmount))
	st.slot = k % m.slots
	st.blobVersion = blobVersionAt(m.slots, st.slot, k)
	if k%zEvery == 0 {
		st.zInsert = k / zEvery
	} else if k >= zEvery {
		st.zUpdate = 1 + r.intn(k/zEvery)
	}
	st.pInsert = k
	if k > pWindow {
		st.pDelete = k - pWindow
	}
	if k%gEvery == 0 {
		st.gInsert = k / gEvery
	}
	return st
}

// note is the journal's human-readable description of the step.
func (s *step) note() string {
	return fmt.Sprintf("c%d k%d xfer %d>%d %d blob %d@%d z+%d z~%d p+%d p-%d g+%d",
		s.client, s.k, s.from, s.to, s.amount, s.slot, s.blobVersion, s.zInsert, s.zUpdate, s.pInsert, s.pDelete, s.gInsert)
}

// initBalance is account id's balance at step 0.
func (m *model) initBalance(c, id int) int64 {
	return 1000 + int64(mix(m.seed, domInit, uint64(c), uint64(id))%9000)
}

// initSum is client c's (invariant) total balance.
func (m *model) initSum(c int) int64 {
	var sum int64
	for id := 0; id < m.accounts; id++ {
		sum += m.initBalance(c, id)
	}
	return sum
}

// blobBody is the body of blob (c, slot) at version ver: BlobSize..1.5*BlobSize random bytes.
func (m *model) blobBody(c, slot int, ver int64) []byte {
	r := newPRNG(m.seed, domBlob, uint64(c), uint64(slot), uint64(ver))
	b := make([]byte, m.blobSize+r.intn(m.blobSize/2+1))
	r.fill(b)
	return b
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

var words = []string{
	"page", "redo", "undo", "lsn", "flush", "buffer", "pool", "extent", "segment", "index",
	"cluster", "record", "tablespace", "doublewrite", "checkpoint", "mini", "transaction",
	"latch", "mutex", "purge", "rollback", "commit", "binlog", "gtid", "backup", "restore",
	"tracking", "bitmap", "delta", "chunk", "digest", "header", "trailer", "checksum", "fil",
	"fsp", "inode", "btree", "leaf", "node", "split", "merge", "compress", "zip", "blob",
	"external", "partition", "hash", "range", "general", "file", "per", "table", "dictionary",
	"sdi", "recovery", "crash", "apply", "parse", "scan", "hot", "copy", "snapshot", "stream",
}

// zRow is the content of ztab row (c, id) at revision rev: a 63-bit value and 100..699 bytes of
// compressible text.
func (m *model) zRow(c, id int, rev int64) (val int64, txt string) {
	r := newPRNG(m.seed, domZ, uint64(c), uint64(id), uint64(rev))
	val = int64(r.next() >> 1)
	n := 100 + r.intn(600)
	b := make([]byte, 0, n+16)
	for len(b) < n {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, words[r.intn(len(words))]...)
	}
	return val, string(b[:n])
}

// pRow is the content of ptab row (c, id): a tag and 64..319 random bytes.
func (m *model) pRow(c, id int) (tag int64, payload []byte) {
	r := newPRNG(m.seed, domP, uint64(c), uint64(id))
	tag = int64(r.next() % 1000000)
	payload = make([]byte, 64+r.intn(256))
	r.fill(payload)
	return tag, payload
}

// gRow is the content of gtab row (c, id) at revision rev: a 63-bit value and 100..499 random
// bytes.
func (m *model) gRow(c, id int, rev int64) (val int64, pad []byte) {
	r := newPRNG(m.seed, domG, uint64(c), uint64(id), uint64(rev))
	val = int64(r.next() >> 1)
	pad = make([]byte, 100+r.intn(400))
	r.fill(pad)
	return val, pad
}

// bulkRow is the content of bulk row id (≥ 1): a group, a tag and 500..3499 random bytes.
func (m *model) bulkRow(id int64) (grp, tag int64, pad []byte) {
	r := newPRNG(m.seed, domBulk, uint64(id))
	grp = int64(r.intn(1000))
	tag = int64(r.next() >> 1)
	pad = make([]byte, 500+r.intn(3000))
	r.fill(pad)
	return grp, tag, pad
}

// clientState is the model of one client's rows after k steps.
type clientState struct {
	m        *model
	c        int
	k        int
	balances []int64 // accounts.balance by id
	blobVer  []int64 // blobs.version by slot
	zRev     []int64 // ztab.rev of row id at zRev[id-1]; row 0's rev is k
	last     [32]byte
	// hashes[i] is journal.step_hash of seq i+1, kept only when keep is set.
	hashes [][32]byte
	keep   bool
}

// client returns client c's state at step 0 (what Setup writes).
func (m *model) client(c int, keep bool) *clientState {
	s := &clientState{m: m, c: c, keep: keep,
		balances: make([]int64, m.accounts), blobVer: make([]int64, m.slots)}
	for id := range s.balances {
		s.balances[id] = m.initBalance(c, id)
	}
	return s
}

// chain is the journal hash of a step: SHA-256 of the previous hash and the note.
func chain(prev [32]byte, note string) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write([]byte(note))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// apply advances the state by step st, which must be step s.k+1 of this client.
func (s *clientState) apply(st *step) {
	if st.k != s.k+1 || st.client != s.c {
		panic(fmt.Sprintf("workload: applying step c%d k%d to state c%d k%d", st.client, st.k, s.c, s.k))
	}
	s.k = st.k
	s.balances[st.from] -= st.amount
	s.balances[st.to] += st.amount
	s.blobVer[st.slot] = st.blobVersion
	if st.zInsert != 0 {
		s.zRev = append(s.zRev, 0)
	}
	if st.zUpdate != 0 {
		s.zRev[st.zUpdate-1]++
	}
	s.last = chain(s.last, st.note())
	if s.keep {
		s.hashes = append(s.hashes, s.last)
	}
}

// advance applies steps until the state is at step k.
func (s *clientState) advance(k int) {
	for s.k < k {
		st := s.m.step(s.c, s.k+1)
		s.apply(&st)
	}
}

// stateAt replays client c to step k.
func (m *model) stateAt(c, k int, keep bool) *clientState {
	s := m.client(c, keep)
	if keep {
		s.hashes = make([][32]byte, 0, k)
	}
	s.advance(k)
	return s
}

// fingerprint summarizes a state (for tests and diagnostics).
func (s *clientState) fingerprint() string {
	h := sha256.New()
	fmt.Fprintf(h, "c%d k%d %v %v %v %x", s.c, s.k, s.balances, s.blobVer, s.zRev, s.last)
	return hex.EncodeToString(h.Sum(nil))
}
