package sourcetest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pagetrack/pagetrack/shared"
	"github.com/pagetrack/pagetrack/shared/chain"
)

// MergeChain merges the records of a chain of backups, full first, into the one stream the
// plugin's restore takes for the last of them, through shared/chain as every host does (the
// merge rules have one owner): the streams are checked and spooled into a scratch file, and
// the merged stream is read to its end.
func MergeChain(t *testing.T, backups ...[]*shared.Record) []*shared.Record {
	t.Helper()
	scratch, err := os.CreateTemp(t.TempDir(), "chain-scratch")
	if err != nil {
		t.Fatal(err)
	}
	defer scratch.Close()
	sp := chain.NewSpool(scratch)
	for i, recs := range backups {
		if _, err := sp.Add(fmt.Sprintf("backup %d of the chain", i), &sliceStream{recs: recs}); err != nil {
			t.Fatalf("merging the chain: %v", err)
		}
	}
	plan, err := sp.Plan()
	if err != nil {
		t.Fatalf("planning the chain: %v", err)
	}
	m := sp.Merge(context.Background(), plan)
	defer m.Close()
	var out []*shared.Record
	for {
		r, err := m.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("merging the chain: %v", err)
		}
		out = append(out, r)
	}
	return out
}

// RestoreChain restores the merge of chain (full first) into a new directory and returns it;
// the caller starts a server on it and checks the data (the plugin's own verification is left
// out: that check is the caller's, and it saves a server start).
func RestoreChain(t *testing.T, src shared.Source, chain ...[]*shared.Record) string {
	t.Helper()
	target := filepath.Join(t.TempDir(), "restored")
	res, err := src.Restore(context.Background(), &shared.RestoreRequest{TargetDir: target}, &sliceStream{recs: MergeChain(t, chain...)})
	if err != nil {
		t.Fatalf("restoring the chain of %d snapshots: %+v, %v", len(chain), res, err)
	}
	return target
}
