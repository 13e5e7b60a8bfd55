package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/shared"
)

type forgetJSON struct {
	DryRun  bool `json:"dry_run"`
	Sources []struct {
		Source string `json:"source"`
		Keep   []struct {
			ID      string   `json:"id"`
			Reasons []string `json:"reasons"`
		} `json:"keep"`
		Remove []struct {
			ID      string   `json:"id"`
			Reasons []string `json:"reasons"`
		} `json:"remove"`
		Tips     []string `json:"tips"`
		FloorLSN uint64   `json:"floor_lsn"`
		Purge    struct {
			Requested  bool   `json:"requested"`
			FloorLSN   uint64 `json:"floor_lsn"`
			PurgedUpTo uint64 `json:"purged_up_to"`
			Message    string `json:"message"`
			Error      string `json:"error"`
			Note       string `json:"note"`
		} `json:"purge"`
	} `json:"sources"`
	Prune *struct {
		BlobsRemoved   int `json:"blobs_removed"`
		PacksRewritten int `json:"packs_rewritten"`
		PacksDeleted   int `json:"packs_deleted"`
	} `json:"prune"`
}

func (h *harness) forgetJSON(args ...string) forgetJSON {
	h.t.Helper()
	code, stdout, stderr := h.run(append([]string{"forget", "--json"}, args...)...)
	if code != 0 {
		h.t.Fatalf("forget %v: exit %d\n%s", args, code, stderr)
	}
	var out forgetJSON
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		h.t.Fatalf("forget --json: %v\n%s", err, stdout)
	}
	return out
}

func ids(list []struct {
	ID      string   `json:"id"`
	Reasons []string `json:"reasons"`
}) []string {
	var out []string
	for _, d := range list {
		out = append(out, d.ID)
	}
	return out
}

// setTime rewrites a snapshot's time (the policy's days).
func (h *harness) setTime(id string, when time.Time) {
	h.t.Helper()
	forgeSnapshot(h.t, filepath.Join(h.repo(), "snapshots", id+".json"), func(m map[string]any) {
		m["time"] = when.UTC().Format(time.RFC3339Nano)
	})
}

func encodeAll(recs []*shared.Record) [][]byte {
	var out [][]byte
	for _, r := range recs {
		out = append(out, shared.AppendRecord(nil, r))
	}
	return out
}

// forget on a chain keeps what kept snapshots need, tells the plugin the floor (the tip's
// checkpoint), and prune then leaves a repository that checks out and restores the kept
// snapshots exactly as before.
func TestForgetKeepsChainsPurgesAndPrunes(t *testing.T) {
	forBoth(t, func(t *testing.T, viaGRPC bool) {
		h := newHarness(t, viaGRPC)
		m := newChainModel()
		h.fake.model = m
		var snaps []map[string]any
		take := func(args ...string) {
			s, _ := h.backupJSON(args...)
			snaps = append(snaps, s)
		}
		take() // F1
		changes[0](m)
		take() // I1
		changes[1](m)
		take()         // I2
		take("--full") // F2
		changes[2](m)
		take() // I3, on F2
		sid := func(i int) string { return snaps[i]["id"].(string) }
		f1, i1, i2, f2, i3 := sid(0), sid(1), sid(2), sid(3), sid(4)
		before := map[string][][]byte{}
		for _, k := range []string{f2, i3} {
			before[k] = encodeAll(h.restoreOK(t, k))
		}

		out := h.forgetJSON("-c", h.config(), "--keep-last", "1")
		if len(out.Sources) != 1 {
			t.Fatalf("%+v", out)
		}
		s := out.Sources[0]
		if !reflect.DeepEqual(ids(s.Keep), []string{i3, f2}) || !reflect.DeepEqual(ids(s.Remove), []string{i2, i1, f1}) {
			t.Errorf("keep %v remove %v", ids(s.Keep), ids(s.Remove))
		}
		if len(s.Keep) == 2 && (!reflect.DeepEqual(s.Keep[0].Reasons, []string{"keep-last (1 of 1)"}) || !reflect.DeepEqual(s.Keep[1].Reasons, []string{"parent of kept snapshot " + i3})) {
			t.Errorf("reasons %+v", s.Keep)
		}
		floor := uint64(snaps[4]["checkpoint_lsn"].(float64))
		if !reflect.DeepEqual(s.Tips, []string{i3}) || s.FloorLSN != floor || !s.Purge.Requested || s.Purge.FloorLSN != floor || s.Purge.PurgedUpTo != floor || s.Purge.Message != "fake: nothing to purge" {
			t.Errorf("tips %v floor %d purge %+v; want floor %d", s.Tips, s.FloorLSN, s.Purge, floor)
		}
		h.fake.mu.Lock()
		purges := h.fake.purges
		h.fake.mu.Unlock()
		if len(purges) != 1 || purges[0].FloorLSN != floor || purges[0].Config["datadir"] != "/var/lib/mysql" || purges[0].Config["dsn"] == nil {
			t.Errorf("purges %+v", purges)
		}
		if got := h.snapshotsJSON(); len(got) != 2 {
			t.Errorf("%d snapshots after forget", len(got))
		}

		// The text output names the floor and the plugin's answer.
		code, stdout, stderr := h.run("forget", "-c", h.config(), "--keep-last", "1", "--prune")
		if code != 0 || !strings.Contains(stdout, fmt.Sprintf("tracking purge for source primary: floor LSN %d: fake: nothing to purge", floor)) || !strings.Contains(stdout, "pruned: ") {
			t.Errorf("forget --prune: exit %d\n%s%s", code, stdout, stderr)
		}
		if code, c, _ := h.checkJSON("--read-data"); code != 0 || len(c.Info) != 0 {
			t.Errorf("check after prune: exit %d %+v", code, c)
		}
		for _, k := range []string{f2, i3} {
			if got := encodeAll(h.restoreOK(t, k)); !reflect.DeepEqual(got, before[k]) {
				t.Errorf("snapshot %s restores differently after prune", k)
			}
		}
	})
}

// keep-daily keeps the newest snapshot of each day; kept incrementals keep their chains; the
// floor is the smallest checkpoint among the tips of the kept chains.
func TestForgetKeepDailyTips(t *testing.T) {
	h := newHarness(t, false)
	m := newChainModel()
	h.fake.model = m
	var s []map[string]any
	take := func(args ...string) {
		snap, _ := h.backupJSON(args...)
		s = append(s, snap)
	}
	take()         // F0, day 0
	take("--full") // F1, day 1
	changes[0](m)
	take() // I1 on F1, day 1
	changes[1](m)
	take()         // I2 on I1, day 2
	take("--full") // F2, day 3
	changes[2](m)
	take() // I3 on F2, day 3
	day := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	for i, d := range []time.Duration{0, 24, 25, 48, 72, 73} {
		h.setTime(s[i]["id"].(string), day.Add(d*time.Hour))
	}
	id := func(i int) string { return s[i]["id"].(string) }

	out := h.forgetJSON("-r", h.repo(), "--keep-daily", "2", "--dry-run")
	g := out.Sources[0]
	if !out.DryRun || !reflect.DeepEqual(ids(g.Keep), []string{id(5), id(4), id(3), id(2), id(1)}) || !reflect.DeepEqual(ids(g.Remove), []string{id(0)}) {
		t.Fatalf("keep %v remove %v", ids(g.Keep), ids(g.Remove))
	}
	floor := uint64(s[3]["checkpoint_lsn"].(float64)) // I2 is older than I3
	if !reflect.DeepEqual(g.Tips, []string{id(5), id(3)}) || g.FloorLSN != floor || g.Purge.Requested || !strings.Contains(g.Purge.Note, "--dry-run") {
		t.Errorf("tips %v floor %d (want %d) purge %+v", g.Tips, g.FloorLSN, floor, g.Purge)
	}
	if n := len(h.snapshotsJSON()); n != 6 {
		t.Errorf("--dry-run removed snapshots: %d left", n)
	}
	// Without a configuration the floor is printed and no purge is requested.
	code, stdout, stderr := h.run("forget", "-r", h.repo(), "--keep-daily", "2")
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("tracking purge for source primary: floor LSN %d: no purge requested", floor)) || !strings.Contains(stdout, "remove  "+id(0)) {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
	if len(h.fake.purges) != 0 {
		t.Errorf("purge requested without a configuration: %+v", h.fake.purges)
	}
	if n := len(h.snapshotsJSON()); n != 5 {
		t.Errorf("%d snapshots left, want 5", n)
	}
}

func TestForgetRetentionFromConfig(t *testing.T) {
	h := newHarness(t, false)
	h.fake.model = newChainModel()
	for i := 0; i < 3; i++ {
		h.backupJSON("--full")
	}
	h.writeConfig(testConfig + "retention {\n  keep_last = 2\n}\n")
	out := h.forgetJSON("-c", h.config())
	if g := out.Sources[0]; len(g.Keep) != 2 || len(g.Remove) != 1 || !g.Purge.Requested {
		t.Errorf("%+v", g)
	}
	// Flags win over the block.
	out = h.forgetJSON("-c", h.config(), "--keep-last", "1")
	if g := out.Sources[0]; len(g.Keep) != 1 || len(g.Remove) != 1 {
		t.Errorf("%+v", g)
	}
	h.writeConfig(testConfig)
	if code, _, stderr := h.run("forget", "-c", h.config()); code != 2 || !strings.Contains(stderr, "add a retention") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
}

// Locks: shared commands run together; forget needs the repository to itself and says who
// holds it; a lock of a process that is gone is removed with a log line.
func TestLocks(t *testing.T) {
	h := newHarness(t, false)
	h.fake.model = newChainModel()
	h.backupJSON()
	r, err := repo.Open(h.repo())
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	shared, err := r.Lock(context.Background(), false, "backup")
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := h.run("forget", "-r", h.repo(), "--keep-last", "1")
	for _, want := range []string{"is locked", fmt.Sprintf("pid %d on host %s holds a shared lock for \"backup\" since", os.Getpid(), host), "forget needs it to itself"} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("forget under a shared lock: exit %d, want %q:\n%s", code, want, stderr)
		}
	}
	h.backupJSON() // a shared lock goes with another
	if code, _, stderr := h.run("check", "-r", h.repo()); code != 0 {
		t.Errorf("check under a shared lock: %s", stderr)
	}
	shared.Unlock()

	excl, err := r.Lock(context.Background(), true, "forget --prune")
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"backup", "-c", h.config()},
		{"restore", "-r", h.repo(), "latest", "--target", filepath.Join(t.TempDir(), "d")},
		{"check", "-r", h.repo()},
		{"forget", "-r", h.repo(), "--keep-last", "1", "--prune"},
	} {
		code, _, stderr := h.run(args...)
		if code != 1 || !strings.Contains(stderr, `holds an exclusive lock for "forget --prune"`) {
			t.Errorf("%v under an exclusive lock: exit %d\n%s", args, code, stderr)
		}
	}
	excl.Unlock()

	// A lock whose process is gone.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	lock := fmt.Sprintf(`{"id":"0123456789abcdef","pid":%d,"hostname":%q,"time":%q,"exclusive":true,"purpose":"forget --prune"}`,
		dead.Process.Pid, host, time.Now().UTC().Format(time.RFC3339))
	path := filepath.Join(h.repo(), "locks", "0123456789abcdef.json")
	os.WriteFile(path, []byte(lock), 0o600)
	code, _, stderr = h.run("forget", "-r", h.repo(), "--keep-last", "1", "--prune")
	if code != 0 || !strings.Contains(stderr, "removed stale lock "+path) || !strings.Contains(stderr, fmt.Sprintf("process %d no longer runs", dead.Process.Pid)) {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the stale lock is still there")
	}
	if entries, _ := os.ReadDir(filepath.Join(h.repo(), "locks")); len(entries) != 0 {
		t.Errorf("locks left: %v", entries)
	}
}

// Two backups of an unchanged source: the second adds less than 1 % new bytes; stats shows it.
func TestDedupTwoIdenticalBackups(t *testing.T) {
	h := newHarness(t, false)
	h.fake.records = randomStream(3000, 1000)
	first, _ := h.backupJSON("--full")
	h.fake.records = randomStream(3000, 2000) // same pages; header, redo and trailer differ
	second, _ := h.backupJSON("--full")
	a, b := first["added_bytes"].(float64), second["added_bytes"].(float64)
	if b >= a/100 {
		t.Errorf("the second backup added %.0f bytes, the first %.0f: not < 1 %%", b, a)
	}
	t.Logf("first added %.0f bytes, second %.0f (%.3f %%)", a, b, 100*b/a)
	code, stdout, stderr := h.run("stats", "-r", h.repo(), "--json")
	var st struct {
		Snapshots    int     `json:"snapshots"`
		PackBytes    int64   `json:"pack_bytes"`
		LogicalBytes int64   `json:"logical_bytes"`
		DedupRatio   float64 `json:"dedup_ratio"`
		Blobs        int     `json:"blobs"`
		Compression  string  `json:"compression"`
		IndexMemory  int64   `json:"index_memory"`
		PerBlob      int64   `json:"index_bytes_per_blob"`
		PerSnapshot  []struct {
			AddedBytes int64 `json:"added_bytes"`
		} `json:"per_snapshot"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || code != 0 {
		t.Fatalf("stats: %v\n%s%s", err, stdout, stderr)
	}
	if st.Snapshots != 2 || st.DedupRatio < 1.9 || len(st.PerSnapshot) != 2 || float64(st.PerSnapshot[1].AddedBytes) != b {
		t.Errorf("stats %+v", st)
	}
	// The index takes its bytes per blob (at least 3000 pages of 3000 distinct blobs) and
	// the bucket table, no more than a small slack.
	if st.Compression != "fast" || st.PerBlob != 52 || st.IndexMemory < int64(st.Blobs)*52+(1<<18) || st.IndexMemory > int64(st.Blobs)*60+(1<<18)+1<<16 || st.Blobs < 3000 {
		t.Errorf("stats: compression %q, index %d bytes for %d blobs (%d per blob)", st.Compression, st.IndexMemory, st.Blobs, st.PerBlob)
	}
	if code, stdout, _ := h.run("stats", "-r", h.repo()); code != 0 || !strings.Contains(stdout, "dedup ratio") {
		t.Errorf("stats: %s", stdout)
	}
}

// randomStream is a full backup's stream of n incompressible InnoDB pages.
func randomStream(n int, checkpoint uint64) []*shared.Record {
	recs := []*shared.Record{
		{Header: &shared.Header{StreamFormat: shared.StreamFormat, ServerVersion: "8.4.3", PageSize: 16384, CheckpointLSN: checkpoint, StartedAt: time.Unix(int64(checkpoint), 0)}},
		{Tablespace: &shared.Tablespace{FileIndex: 0, Path: "ibdata1", PageSize: 16384, SizePages: uint64(n)}},
	}
	seed := uint64(1)
	next := func() byte {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return byte(seed)
	}
	var data []byte
	for i := 0; i < n; i++ {
		p := make([]byte, 16384)
		for k := range p {
			p[k] = next()
		}
		data = append(data, p...)
	}
	for first := 0; first < n; first += 32 {
		end := min(first+32, n)
		recs = append(recs, &shared.Record{Pages: &shared.PageBatch{FileIndex: 0, FirstPage: uint64(first), Data: data[first*16384 : end*16384]}})
	}
	end := checkpoint + 5000
	redoStart, redoEnd := checkpoint/shared.RedoBlockSize*shared.RedoBlockSize, (end/shared.RedoBlockSize+1)*shared.RedoBlockSize
	recs = append(recs, &shared.Record{Redo: &shared.RedoSegment{StartLSN: redoStart, Data: bytes.Repeat([]byte{byte(checkpoint)}, int(redoEnd-redoStart))}})
	d := shared.NewDigester()
	for _, r := range recs {
		d.Add(r)
	}
	return append(recs, &shared.Record{Trailer: &shared.Trailer{
		EndLSN: end, CheckpointLSN: checkpoint, Tablespaces: 1, Pages: uint64(n), PageBytes: uint64(n) * 16384, RedoBytes: redoEnd - redoStart,
		Records: d.Records(), Digest: d.Sum(), Kind: shared.KindFull, Method: shared.MethodFull,
	}})
}

// forget --prune --dry-run says what the real one would remove, and removes nothing.
func TestForgetPruneDryRun(t *testing.T) {
	h, _ := chainRepo(t)
	code, stdout, stderr := h.run("forget", "-r", h.repo(), "--keep-last", "1", "--prune", "--dry-run", "--json")
	var dry struct {
		Prune struct {
			BlobsRemoved int   `json:"blobs_removed"`
			BytesRemoved int64 `json:"bytes_removed"`
		} `json:"prune"`
	}
	if err := json.Unmarshal([]byte(stdout), &dry); err != nil || code != 0 || dry.Prune.BlobsRemoved == 0 {
		t.Fatalf("dry run: exit %d %v %+v\n%s", code, err, dry, stderr)
	}
	if n := len(h.snapshotsJSON()); n != 5 {
		t.Errorf("the dry run removed snapshots: %d left", n)
	}
	out := h.forgetJSON("-r", h.repo(), "--keep-last", "1", "--prune")
	if out.Prune == nil || out.Prune.BlobsRemoved != dry.Prune.BlobsRemoved {
		t.Errorf("the prune removed %+v blobs, the dry run said %d", out.Prune, dry.Prune.BlobsRemoved)
	}
}
