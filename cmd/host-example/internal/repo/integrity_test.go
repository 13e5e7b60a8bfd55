package repo

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// check --read-data recomputes every snapshot's stream digest: a stored stream whose records
// do not match its trailer (here one stored with a wrong digest, which the host's own checks
// would have refused) is reported, although every blob checks out; without read-data the
// digest is not recomputed.
func TestCheckReadDataRecomputesDigests(t *testing.T) {
	r := newRepo(t)
	good := store(t, r, testStream(3, 1), time.Now())
	recs := testStream(3, 7)
	tr := *recs[len(recs)-1].Trailer
	tr.Digest = make([]byte, 32)
	recs[len(recs)-1].Trailer = &tr
	bad := store(t, r, recs, time.Now())

	rep, err := r.Check(context.Background(), false, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("check: %+v, %v", rep, err)
	}
	rep, err = r.Check(context.Background(), true, &testPages{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Damaged) != 1 || rep.Damaged[0].ID != bad.ID || rep.Damaged[0].Problems[0].What != "its stream" ||
		!strings.Contains(rep.Damaged[0].Problems[0].Reason, "digest") || len(rep.Unaffected) != 1 || rep.Unaffected[0] != good.ID {
		t.Errorf("check --read-data: %+v", rep)
	}
}

// Commit never records metadata that disagrees with its stream.
func TestCommitRefusesMetadataThatDisagreesWithItsStream(t *testing.T) {
	r := newRepo(t)
	recs := testStream(1, 1)
	w, err := r.NewStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, rec := range recs {
		if err := w.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	snap := &Snapshot{ID: w.ID(), Time: time.Now(), Source: "primary", Kind: KindFull}
	snap.SetStreamFields(recs[0].Header, recs[len(recs)-1].Trailer)
	snap.GTIDExecuted = "forged:1-5"
	if err := w.Commit(snap); err == nil || !strings.Contains(err.Error(), "gtid_executed") {
		t.Errorf("commit: %v", err)
	}
	if entries, _ := os.ReadDir(r.Location() + "/snapshots"); len(entries) != 0 {
		t.Errorf("recorded: %v", entries)
	}
}
