package workload

import (
	"testing"
	"time"
)

func testModel(t *testing.T, cfg Config) *model {
	t.Helper()
	cfg, err := cfg.normalize()
	if err != nil {
		t.Fatal(err)
	}
	return newModel(&cfg)
}

// TestModelDeterministic: replaying is a pure function of (config, client, K), incremental
// replay equals a fresh one, and clients and seeds differ.
func TestModelDeterministic(t *testing.T) {
	m := testModel(t, Config{Seed: 42})
	for c := 0; c < 4; c++ {
		a := m.stateAt(c, 1000, true)
		b := m.stateAt(c, 1000, false)
		if a.fingerprint() != b.fingerprint() {
			t.Fatalf("client %d: two replays to 1000 differ", c)
		}
		inc := m.stateAt(c, 0, true)
		for _, k := range []int{1, 2, 3, 10, 129, 500, 999, 1000} {
			inc.advance(k)
			if fresh := m.stateAt(c, k, true); fresh.fingerprint() != inc.fingerprint() {
				t.Fatalf("client %d: incremental replay to %d differs from a fresh one", c, k)
			}
		}
		if len(inc.hashes) != 1000 || inc.hashes[999] != inc.last {
			t.Fatalf("client %d: %d journal hashes kept", c, len(inc.hashes))
		}
	}
	if m.stateAt(0, 100, false).balancesEqual(m.stateAt(1, 100, false)) {
		t.Fatal("clients 0 and 1 have equal balances")
	}
	other := testModel(t, Config{Seed: 43})
	if m.stateAt(0, 100, false).balancesEqual(other.stateAt(0, 100, false)) {
		t.Fatal("seeds 42 and 43 give equal balances")
	}
	if string(m.blobBody(0, 1, 2)) == string(other.blobBody(0, 1, 2)) {
		t.Fatal("seeds 42 and 43 give equal blob bodies")
	}
}

func (s *clientState) balancesEqual(o *clientState) bool {
	for i := range s.balances {
		if s.balances[i] != o.balances[i] {
			return false
		}
	}
	return true
}

// TestModelInvariants checks the invariants Check relies on, step by step.
func TestModelInvariants(t *testing.T) {
	for _, cfg := range []Config{{}, {Accounts: 2, Slots: 1, BlobSize: 100}, {Slots: 3, Seed: -5}} {
		m := testModel(t, cfg)
		s := m.client(1, true)
		sum := m.initSum(1)
		for k := 1; k <= 3000; k++ {
			st := m.step(1, k)
			if st.from == st.to || st.amount < 1 || st.amount > maxAmount {
				t.Fatalf("step %d: bad transfer %+v", k, st)
			}
			if st.blobVersion != s.blobVer[st.slot]+1 {
				t.Fatalf("step %d: blob slot %d goes from version %d to %d", k, st.slot, s.blobVer[st.slot], st.blobVersion)
			}
			if st.zUpdate > len(s.zRev) || (st.zInsert != 0 && st.zInsert != len(s.zRev)+1) {
				t.Fatalf("step %d: ztab insert %d update %d with %d rows", k, st.zInsert, st.zUpdate, len(s.zRev))
			}
			s.apply(&st)
			var got int64
			for _, b := range s.balances {
				got += b
			}
			if got != sum {
				t.Fatalf("step %d: balances sum to %d, want %d", k, got, sum)
			}
			var vers int64
			for slot, v := range s.blobVer {
				vers += v
				if f := blobVersionAt(m.slots, slot, k); f != v {
					t.Fatalf("step %d slot %d: version %d, formula %d", k, slot, v, f)
				}
			}
			if vers != int64(k) || len(s.zRev) != k/zEvery {
				t.Fatalf("step %d: blob versions sum to %d, %d ztab rows", k, vers, len(s.zRev))
			}
		}
		if b := m.blobBody(0, 0, 0); len(b) < m.blobSize || len(b) > m.blobSize*3/2 {
			t.Fatalf("blob body of %d bytes for BlobSize %d", len(b), m.blobSize)
		}
	}
}

// TestModelGolden pins the data: changing any of these values changes what old servers (and
// backups of them) hold, so it must come with a new formatVersion.
func TestModelGolden(t *testing.T) {
	m := testModel(t, Config{Seed: 1})
	s := m.stateAt(2, 1000, false)
	_, txt := m.zRow(1, 2, 3)
	_, payload := m.pRow(1, 2)
	_, pad := m.gRow(1, 2, 3)
	_, _, bulk := m.bulkRow(12345)
	got := map[string]string{
		"state": s.fingerprint(),
		"blob":  digest(m.blobBody(3, 5, 7)),
		"z":     digest([]byte(txt)),
		"p":     digest(payload),
		"g":     digest(pad),
		"bulk":  digest(bulk),
		"note":  func() string { st := m.step(3, 77); return st.note() }(),
	}
	want := map[string]string{
		"state": "2009497497f3e66c7a13b442704a238f3a30e660bb60ac861d161fb323c38aa3",
		"blob":  "e971f50c5c35c806c500b3c2acd001cde9c67d44613edaadacd5a88d2ceaee1d",
		"z":     "f5747b82687d158b62b3d70e04d7a9959c43ce033298dedf46ab15f58ca72078",
		"p":     "339ab5ba722e54cdf3334358c119dda2fb28fcd8e62e432fcd0af22e765bfce5",
		"g":     "604362fe22324391aa51b50dcfe4bcc78fbd7b5207107f62abe2ddfe32a6d3c3",
		"bulk":  "1c4a4b13054f290ffd3ef6fa89bd98a244015dc9b0ae99ebc5c72a05e6f5fb01",
		"note":  "c3 k77 xfer 41>44 140 blob 5@10 z+0 z~10 p+77 p-0 g+0",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// TestModelReplaySpeed: Check replays each client to its K; 100k steps must stay cheap (about
// 0.1 s unloaded; only logged, since shared test machines can be very slow).
func TestModelReplaySpeed(t *testing.T) {
	m := testModel(t, Config{})
	start := time.Now()
	s := m.stateAt(0, 100000, true)
	d := time.Since(start)
	t.Logf("replayed 100000 steps in %s", d)
	if len(s.hashes) != 100000 || s.k != 100000 {
		t.Fatal(len(s.hashes), s.k)
	}
}
