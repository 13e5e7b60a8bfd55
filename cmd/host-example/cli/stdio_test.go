package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/cli"
	"github.com/pagetrack/pagetrack/cmd/host-example/internal/pgstream"
	"github.com/pagetrack/pagetrack/shared"
)

const stateConfig = "state_file = \"state/pagetrack.json\"\n"

func newStdioHarness(t *testing.T, viaGRPC bool) *harness {
	h := newHarness(t, viaGRPC)
	h.writeConfig(stateConfig + testConfig)
	return h
}

func (h *harness) statePath() string { return filepath.Join(h.dir, "state", "pagetrack.json") }

// stdoutBackup runs backup --stdout with extra flags and returns the stream and the logs.
func (h *harness) stdoutBackup(extra ...string) ([]byte, string) {
	h.t.Helper()
	code, stdout, stderr := h.run(append([]string{"backup", "--stdout", "-c", h.config()}, extra...)...)
	if code != 0 {
		h.t.Fatalf("backup --stdout %v: exit %d\n%s", extra, code, stderr)
	}
	if !strings.HasPrefix(stdout, pgstream.Magic) {
		h.t.Fatalf("backup --stdout printed %.40q…, not a stream", stdout)
	}
	return []byte(stdout), stderr
}

// stateEntry returns the state file's entry for source, nil when it has none.
func (h *harness) stateEntry(source string) map[string]any {
	h.t.Helper()
	data, err := os.ReadFile(h.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	var st struct {
		Version int                       `json:"version"`
		Sources map[string]map[string]any `json:"sources"`
	}
	if err := json.Unmarshal(data, &st); err != nil || st.Version != 1 {
		h.t.Fatalf("state file: version %d, %v\n%s", st.Version, err, data)
	}
	return st.Sources[source]
}

// restoreFrom runs restore with stdin reading in.
func (h *harness) restoreFrom(in []byte, args ...string) (int, string, string) {
	h.t.Helper()
	defer cli.SetStdin(bytes.NewReader(in))()
	return h.run(append([]string{"restore"}, args...)...)
}

// restoredRecords returns the records the plugin received in the last restore.
func (h *harness) restoredRecords(t *testing.T) []*shared.Record {
	t.Helper()
	_, _, raw := h.fake.state()
	var recs []*shared.Record
	for i, b := range raw {
		rec, err := shared.DecodeRecord(b)
		if err != nil {
			t.Fatalf("restored record %d does not decode: %v", i, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// stdioChain takes a full and three incrementals with backup --stdout and returns their
// streams, state file entries and model states.
func stdioChain(t *testing.T, h *harness) ([][]byte, []map[string]any, []*modelState) {
	t.Helper()
	m := newChainModel()
	h.fake.model = m
	s, stderr := h.stdoutBackup()
	if !strings.Contains(stderr, "taking a full backup: state file") || !strings.Contains(stderr, "stream written") {
		t.Errorf("first backup --stdout logged:\n%s", stderr)
	}
	e := h.stateEntry("primary")
	if e == nil || e["kind"] != "full" || e["parent"] != "" {
		t.Fatalf("state after the full: %v", e)
	}
	streams, entries, states := [][]byte{s}, []map[string]any{e}, []*modelState{stateOf(t, m, e)}
	for i, change := range changes[:3] {
		change(m)
		s, stderr := h.stdoutBackup()
		e := h.stateEntry("primary")
		parent := entries[len(entries)-1]
		if e["kind"] != "incremental" || e["parent"] != parent["id"] || !strings.Contains(stderr, "incremental backup to stdout starting") {
			t.Fatalf("incremental %d: state %v (parent %v)\n%s", i+1, e, parent["id"], stderr)
		}
		if st := stateOf(t, m, e); st.checkpoint != uint64(e["checkpoint_lsn"].(float64)) {
			t.Errorf("incremental %d: state file checkpoint %v, the backup's %d", i+1, e["checkpoint_lsn"], st.checkpoint)
		}
		streams, entries, states = append(streams, s), append(entries, e), append(states, stateOf(t, m, e))
	}
	return streams, entries, states
}

// TestStdoutChain: a full and three incrementals written with backup --stdout, each restored
// with restore --from from the concatenated streams on stdin, must reach the plugin exactly as
// a restore of the same chain from a repository does.
func TestStdoutChain(t *testing.T) {
	forBoth(t, func(t *testing.T, viaGRPC bool) {
		h := newStdioHarness(t, viaGRPC)
		streams, entries, states := stdioChain(t, h)
		for i := range streams {
			t.Run(fmt.Sprintf("restore%d", i), func(t *testing.T) {
				chain := make([]*modelState, 0, i+1)
				for j := i; j >= 0; j-- {
					chain = append(chain, states[j])
				}
				target := filepath.Join(t.TempDir(), "datadir")
				code, stdout, stderr := h.restoreFrom(bytes.Join(streams[:i+1], nil), "--from", "-", "--target", target, "--json")
				if code != 0 {
					t.Fatalf("restore --from -: exit %d\n%s", code, stderr)
				}
				var out struct {
					Target, Snapshot string
					EndLSN           uint64 `json:"end_lsn"`
					Streams          []struct {
						ID, Kind, Parent, From string
						CheckpointLSN          uint64 `json:"checkpoint_lsn"`
						StreamSHA256           string `json:"stream_sha256"`
					}
				}
				if err := json.Unmarshal([]byte(stdout), &out); err != nil {
					t.Fatalf("restore --json: %v\n%s", err, stdout)
				}
				if out.Snapshot != entries[i]["id"] || out.Target != target || len(out.Streams) != i+1 || out.EndLSN == 0 {
					t.Errorf("restore --json: %+v", out)
				}
				for j, s := range out.Streams {
					if s.ID != entries[j]["id"] || s.Kind != entries[j]["kind"] || s.From != "-" || s.StreamSHA256 != entries[j]["stream_sha256"] {
						t.Errorf("stream %d: %+v, state file %v", j, s, entries[j])
					}
				}
				checkRestoredMerged(t, h.restoredRecords(t), chain)
				if names := dirNames(t, filepath.Dir(target)); len(names) > 1 || len(names) == 1 && names[0] != "datadir" {
					t.Errorf("left next to the target: %v", names)
				}
			})
		}

		// The same chain from files, one --from each, with the summary.
		var args []string
		for i, s := range streams {
			f := filepath.Join(t.TempDir(), fmt.Sprintf("s%d.pgt", i))
			if err := os.WriteFile(f, s, 0o600); err != nil {
				t.Fatal(err)
			}
			args = append(args, "--from", f)
		}
		tmp := t.TempDir()
		code, stdout, stderr := h.run(append([]string{"restore", "--target", filepath.Join(t.TempDir(), "d"), "--tmp", tmp}, args...)...)
		last := entries[len(entries)-1]["id"].(string)
		if code != 0 || !strings.Contains(stdout, "read 4 stream(s)") || !strings.Contains(stdout, "restored snapshot "+last) || !strings.Contains(stdout, "chain      4 snapshots") {
			t.Errorf("restore --from FILE…: exit %d\n%s\n%s", code, stdout, stderr)
		}
		for _, e := range entries {
			if !strings.Contains(stdout, e["id"].(string)) {
				t.Errorf("the summary does not name stream %v:\n%s", e["id"], stdout)
			}
		}
		if names := dirNames(t, tmp); len(names) != 0 {
			t.Errorf("the temporary repository was left in --tmp: %v", names)
		}
		checkRestoredMerged(t, h.restoredRecords(t), []*modelState{states[3], states[2], states[1], states[0]})
	})
}

// A backup --stdout that fails writes an incomplete stream, exits 1 and leaves the state
// file as it was; restore --from refuses the incomplete stream.
func TestStdoutFailureKeepsState(t *testing.T) {
	h := newStdioHarness(t, false)
	h.fake.records = validStream()[:6] // no trailer
	code, stdout, stderr := h.run("backup", "--stdout", "-c", h.config(), "--full")
	if code != 1 || !strings.Contains(stderr, "the stream on stdout is incomplete and nothing was recorded") || !strings.Contains(stderr, "stream ended without a trailer: the backup did not complete") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if h.stateEntry("primary") != nil {
		t.Errorf("a failed backup was recorded in the state file")
	}
	code, _, stderr = h.restoreFrom([]byte(stdout), "--from", "-", "--target", filepath.Join(t.TempDir(), "d"))
	if code != 1 || !strings.Contains(stderr, "is truncated") { // stdout may even be empty: the stream is buffered
		t.Errorf("restore of the incomplete stream: exit %d\n%s", code, stderr)
	}

	// A good one is recorded; one that fails after its trailer (the plugin's stream ends
	// with an error) leaves it in place.
	h.fake.records = validStream()
	h.stdoutBackup("--full")
	good := h.stateEntry("primary")
	h.fake.endErr = errors.New("fake: connection reset")
	code, _, stderr = h.run("backup", "--stdout", "-c", h.config(), "--full")
	if code != 1 || !strings.Contains(stderr, "connection reset") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	if got := h.stateEntry("primary"); got["id"] != good["id"] {
		t.Errorf("state file moved on to %v after a failed backup", got["id"])
	}
}

// rewriteStream re-encodes a stream with its metadata changed by meta and its trailer by
// trailer: the records and their digest stay valid, the stream's SHA-256 changes.
func rewriteStream(t *testing.T, s []byte, meta func(*pgstream.Meta), trailer func(*shared.Trailer)) []byte {
	t.Helper()
	st, err := pgstream.NewReader(bytes.NewReader(s)).Next()
	if err != nil {
		t.Fatal(err)
	}
	m := st.Meta
	meta(&m)
	var out bytes.Buffer
	w, err := pgstream.NewWriter(&out, &m)
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Trailer != nil {
			trailer(rec.Trailer)
		}
		w.WriteRecord(rec)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestRestoreFromRefusals(t *testing.T) {
	h := newStdioHarness(t, false)
	streams, entries, _ := stdioChain(t, h)
	full, inc1, inc2 := streams[0], streams[1], streams[2]
	id := func(i int) string { return entries[i]["id"].(string) }
	flipped := bytes.Clone(full)
	flipped[len(flipped)/2] ^= 0x10
	otherFull := rewriteStream(t, full, func(*pgstream.Meta) {}, func(tr *shared.Trailer) { tr.FinishedAt = tr.FinishedAt.Add(time.Second) })
	lyingKind := rewriteStream(t, inc1, func(m *pgstream.Meta) { m.Kind, m.Parent, m.ParentSHA256 = "full", "", "" }, func(*shared.Trailer) {})

	for _, tc := range []struct {
		name string
		in   [][]byte
		want []string
	}{
		{"incremental alone", [][]byte{inc1}, []string{"chain is broken", "stream " + id(1) + " (stdin) is an incremental on stream " + id(0) + ", which was not given"}},
		{"missing middle", [][]byte{full, inc2}, []string{"chain is broken", "stream " + id(1) + " is missing"}},
		{"out of order", [][]byte{full, inc2, inc1}, []string{"stream " + id(1) + " is missing, or the streams are out of order"}},
		{"two fulls", [][]byte{full, full}, []string{"is a full backup, but stream " + id(0) + " (stdin) came before it"}},
		{"another stream with the parent's id", [][]byte{otherFull, inc1}, []string{"chain is broken", "it is not the same stream"}},
		{"truncated", [][]byte{full[:len(full)-10]}, []string{"stream " + id(0) + " (stdin) is truncated: it ends in the middle of the frame"}},
		{"truncated after the end of one", [][]byte{full, inc1[:len(inc1)/2]}, []string{"stream " + id(1) + " (stdin) is truncated"}},
		{"cut between frames", [][]byte{full[:len(full)-49]}, []string{"without its end frame"}},
		{"damaged frame", [][]byte{flipped}, []string{"stream " + id(0) + " (stdin) is damaged", "fails its CRC-32C"}},
		{"not a stream", [][]byte{[]byte("Fatal: unable to open repository\n")}, []string{"not a pagetrack stream"}},
		{"empty", nil, []string{"stdin, stream 1 is truncated: the input is empty"}},
		{"metadata and trailer disagree", [][]byte{lyingKind}, []string{"is damaged: its metadata says full, its trailer incremental"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.fake.restoreReq, h.fake.restored = nil, nil
			parent := t.TempDir()
			code, stdout, stderr := h.restoreFrom(bytes.Join(tc.in, nil), "--from", "-", "--target", filepath.Join(parent, "d"))
			if code != 1 || stdout != "" {
				t.Errorf("exit %d, stdout %q", code, stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("the error does not say %q:\n%s", w, stderr)
				}
			}
			if _, req, _ := h.fake.state(); req != nil {
				t.Errorf("the plugin was asked to restore")
			}
			if names := dirNames(t, parent); len(names) != 0 {
				t.Errorf("left behind: %v", names)
			}
		})
	}

	t.Run("target not empty", func(t *testing.T) {
		target := t.TempDir()
		os.WriteFile(filepath.Join(target, "ibdata1"), nil, 0o600)
		code, _, stderr := h.restoreFrom(full, "--from", "-", "--target", target)
		if code != 1 || !strings.Contains(stderr, "is not empty") {
			t.Errorf("exit %d\n%s", code, stderr)
		}
	})
	for _, args := range [][]string{
		{"--from", "-", "-r", h.repo(), "--target", "d"},
		{"--from", "-", "--from", "-", "--target", "d"},
		{"--from", "-"},
		{"--from", "-", "latest", "--target", "d"},
		{"--from=", "--target", "d"},
	} {
		if code, _, stderr := h.restoreFrom(full, args...); code != 2 || !strings.Contains(stderr, "restore --help") {
			t.Errorf("restore %v: exit %d\n%s", args, code, stderr)
		}
	}
}

func TestBackupStdoutRefusals(t *testing.T) {
	h := newStdioHarness(t, false)
	for _, args := range [][]string{
		{"--stdout", "--json"},
		{"--stdout", "-r", h.repo()},
		{"--progress"},
	} {
		code, stdout, stderr := h.run(append([]string{"backup", "-c", h.config()}, args...)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "backup --help") {
			t.Errorf("backup %v: exit %d\n%s", args, code, stderr)
		}
	}

	// Another backup --stdout holds the state file.
	os.MkdirAll(filepath.Dir(h.statePath()), 0o700)
	lock, err := os.OpenFile(h.statePath()+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := h.run("backup", "--stdout", "-c", h.config(), "--full")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "another backup --stdout is using the state file") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	lock.Close()

	// A damaged state file is reported, not overwritten.
	os.WriteFile(h.statePath(), []byte("{\"version\": 1, \"sour"), 0o600)
	code, _, stderr = h.run("backup", "--stdout", "-c", h.config())
	if code != 1 || !strings.Contains(stderr, "is damaged") || !strings.Contains(stderr, "--full") {
		t.Errorf("exit %d\n%s", code, stderr)
	}

	// Without a state file only full backups can go to stdout.
	h.writeConfig(testConfig)
	code, _, stderr = h.run("backup", "--stdout", "-c", h.config())
	if code != 1 || !strings.Contains(stderr, "names none: add state_file") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	_, stderr = h.stdoutBackup("--full")
	if !strings.Contains(stderr, "names no state_file") {
		t.Errorf("no note that the full cannot be built on:\n%s", stderr)
	}
}

// The state file keeps one entry per source, and a source of another type is no base.
func TestStdoutStatePerSource(t *testing.T) {
	h := newStdioHarness(t, false)
	h.fake.model = newChainModel()
	h.writeConfig(stateConfig + testConfig + strings.Replace(testConfig[len(`repository = "repo"`):], "primary", "replica", 1))
	h.stdoutBackup("--source", "primary")
	_, stderr := h.stdoutBackup("--source", "replica")
	if !strings.Contains(stderr, `holds no stream of source "replica"`) {
		t.Errorf("first backup of replica:\n%s", stderr)
	}
	p, r := h.stateEntry("primary"), h.stateEntry("replica")
	if p == nil || r == nil || p["id"] == r["id"] || r["kind"] != "full" {
		t.Fatalf("state: primary %v, replica %v", p, r)
	}
	h.stdoutBackup("--source", "primary")
	if e := h.stateEntry("primary"); e["parent"] != p["id"] {
		t.Errorf("primary's incremental builds on %v, want %v", e["parent"], p["id"])
	}
	if e := h.stateEntry("replica"); e["id"] != r["id"] {
		t.Errorf("replica's entry changed to %v", e["id"])
	}
}

func TestStdioHelp(t *testing.T) {
	h := newHarness(t, false)
	for cmd, wants := range map[string][]string{
		"backup":  {"--stdout", "state_file", "restic backup --stdin-filename", "--stdin-from-command"},
		"restore": {"--from FILE|-", "--tmp DIR", "restic dump", "--json"},
	} {
		code, stdout, _ := h.run(cmd, "--help")
		for _, w := range wants {
			if code != 0 || !strings.Contains(stdout, w) {
				t.Errorf("%s --help lacks %q", cmd, w)
			}
		}
	}
}

// The progress bar is drawn on stderr only on a terminal, and not with --stdout unless asked.
func TestProgressOnlyOnTerminal(t *testing.T) {
	h := newStdioHarness(t, false)
	_, _, stderr := h.run("backup", "-c", h.config(), "--full")
	if strings.Contains(stderr, "\r") || strings.Contains(stderr, "copying pages") {
		t.Errorf("progress shown without a terminal:\n%q", stderr)
	}
	h.terminal = true
	_, stdout, stderr := h.run("backup", "-c", h.config(), "--full")
	if !strings.Contains(stderr, "\rcopying pages") || !strings.Contains(stderr, "0/4") || !strings.Contains(stderr, "\x1b[2K\r") {
		t.Errorf("no progress bar on a terminal, or not erased:\n%q", stderr)
	}
	if strings.Contains(stdout, "copying") {
		t.Errorf("progress on stdout")
	}
	_, stderr = h.stdoutBackup("--full")
	if strings.Contains(stderr, "copying pages") {
		t.Errorf("progress shown with --stdout without --progress:\n%q", stderr)
	}
	_, stderr = h.stdoutBackup("--full", "--progress")
	if !strings.Contains(stderr, "\rcopying pages") {
		t.Errorf("no progress with --stdout --progress:\n%q", stderr)
	}
}
