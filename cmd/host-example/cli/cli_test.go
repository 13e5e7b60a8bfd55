package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/pagetrack/pagetrack/cmd/host-example/cli"
	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
	"github.com/pagetrack/pagetrack/shared"
)

const secret = "s3cret-Pa55word"

const testConfig = `repository = "repo"

source "fake" "primary" {
  dsn      = env("FAKE_DSN")
  datadir  = "/var/lib/mysql"
  parallel = 2
}
`

// harness runs the CLI in process against a fakeSource, directly or through go-plugin's gRPC
// transport (the same adapters the real plugin binary is reached through).
type harness struct {
	t        *testing.T
	dir      string // holds backup.hcl and repo/
	fake     *fakeSource
	viaGRPC  bool
	terminal bool
	loads    int
	// merge is what the last restore of an incremental reported (Options.MergeStats).
	merge *cli.MergeStats
}

func newHarness(t *testing.T, viaGRPC bool) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), fake: &fakeSource{records: validStream()}, viaGRPC: viaGRPC}
	h.writeConfig(testConfig)
	if code, _, stderr := h.run("init", "-r", h.repo()); code != 0 {
		t.Fatalf("init: %d %s", code, stderr)
	}
	return h
}

func (h *harness) repo() string   { return filepath.Join(h.dir, "repo") }
func (h *harness) config() string { return filepath.Join(h.dir, "backup.hcl") }

func (h *harness) writeConfig(src string) {
	h.t.Helper()
	if err := os.WriteFile(h.config(), []byte(src), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) lookupEnv(name string) (string, bool) {
	if name == "FAKE_DSN" {
		return "backup:" + secret + "@tcp(127.0.0.1:3306)/", true
	}
	return "", false
}

func (h *harness) load(ctx context.Context, ref cli.PluginRef, logger hclog.Logger) (shared.Source, func(), error) {
	h.loads++
	if ref.Type != "fake" || !filepath.IsAbs(ref.Path) || ref.Origin == "" {
		return nil, nil, errors.New("unexpected plugin ref")
	}
	if !h.viaGRPC {
		return h.fake, func() {}, nil
	}
	client, server := plugin.TestPluginGRPCConn(h.t, false, map[string]plugin.Plugin{
		shared.PluginName: &shared.SourcePlugin{Impl: h.fake},
	})
	raw, err := client.Dispense(shared.PluginName)
	if err != nil {
		return nil, nil, err
	}
	_ = server // stopped by client.Close, through go-plugin's controller
	return raw.(shared.Source), func() { client.Close() }, nil
}

func (h *harness) run(args ...string) (int, string, string) {
	return h.runCtx(context.Background(), args...)
}

func (h *harness) runCtx(ctx context.Context, args ...string) (int, string, string) {
	h.t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(ctx, args, &stdout, &stderr, cli.Options{
		LoadSource: h.load,
		PluginPath: filepath.Join(h.dir, "pagetrack-fake"),
		LookupEnv:  h.lookupEnv,
		Terminal:   func(io.Writer) bool { return h.terminal },
		MergeStats: func(s cli.MergeStats) { h.merge = &s },
	})
	for _, out := range []string{stdout.String(), stderr.String()} {
		if strings.Contains(out, secret) {
			h.t.Errorf("%v printed the secret:\n%s", args, out)
		}
	}
	return code, stdout.String(), stderr.String()
}

func (h *harness) backup(extra ...string) string {
	h.t.Helper()
	code, stdout, stderr := h.run(append([]string{"backup", "-c", h.config(), "--full"}, extra...)...)
	if code != 0 {
		h.t.Fatalf("backup: exit %d\n%s", code, stderr)
	}
	m := regexp.MustCompile(`(?m)^snapshot ([0-9a-f]{16}) saved`).FindStringSubmatch(stdout)
	if m == nil {
		h.t.Fatalf("backup printed no snapshot id:\n%s", stdout)
	}
	return m[1]
}

func (h *harness) snapshotsJSON() []map[string]any {
	h.t.Helper()
	code, stdout, stderr := h.run("snapshots", "-r", h.repo(), "--json")
	if code != 0 {
		h.t.Fatalf("snapshots: exit %d\n%s", code, stderr)
	}
	var out []map[string]any
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		h.t.Fatalf("snapshots --json is not a JSON array: %v\n%s", err, stdout)
	}
	return out
}

// packFiles lists the pack files of the repository.
func (h *harness) packFiles() []string {
	h.t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(h.repo(), "data"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// assertNothingRecorded checks that the repository holds no snapshot and no file of one.
func (h *harness) assertNothingRecorded() {
	h.t.Helper()
	for _, p := range h.packFiles() {
		h.t.Errorf("pack %s left behind", p)
	}
	for _, sub := range []string{"snapshots", "index", "tmp", "locks"} {
		es, err := os.ReadDir(filepath.Join(h.repo(), sub))
		if err != nil {
			h.t.Fatal(err)
		}
		for _, e := range es {
			h.t.Errorf("%s/%s left behind", sub, e.Name())
		}
	}
	if snaps := h.snapshotsJSON(); len(snaps) != 0 {
		h.t.Errorf("snapshots listed: %v", snaps)
	}
}

func forBoth(t *testing.T, f func(t *testing.T, viaGRPC bool)) {
	t.Run("direct", func(t *testing.T) { f(t, false) })
	t.Run("grpc", func(t *testing.T) { f(t, true) })
}

func TestRoundTrip(t *testing.T) {
	forBoth(t, func(t *testing.T, viaGRPC bool) {
		h := newHarness(t, viaGRPC)
		id := h.backup()

		// The plugin got plain, typed values.
		want := shared.Config{"dsn": "backup:" + secret + "@tcp(127.0.0.1:3306)/", "datadir": "/var/lib/mysql", "parallel": int64(2)}
		gotConfig, _, _ := h.fake.state()
		if len(gotConfig) != len(want) {
			t.Errorf("plugin config = %v", gotConfig)
		}
		for k, v := range want {
			if gotConfig[k] != v {
				t.Errorf("plugin config %s = %#v, want %#v", k, gotConfig[k], v)
			}
		}

		snaps := h.snapshotsJSON()
		if len(snaps) != 1 || snaps[0]["id"] != id {
			t.Fatalf("snapshots = %v", snaps)
		}
		s := snaps[0]
		for k, v := range map[string]any{
			"source": "primary", "source_type": "fake", "kind": "full", "method": "full", "parent": "",
			"server_version": "8.4.3", "page_size": 16384.0, "checkpoint_lsn": 18000000.0, "end_lsn": 18001200.0,
			"binlog_file": "binlog.000003", "binlog_pos": 1234.0, "pages": 4.0, "records": 8.0,
		} {
			if s[k] != v {
				t.Errorf("snapshot %s = %#v, want %#v", k, s[k], v)
			}
		}
		if cfg, _ := s["config"].(map[string]any); cfg["datadir"] != "/var/lib/mysql" || cfg["dsn"] != nil {
			t.Errorf("snapshot config = %v: want datadir and no dsn", s["config"])
		}
		meta, err := os.ReadFile(filepath.Join(h.repo(), "snapshots", id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(meta, []byte(secret)) {
			t.Errorf("snapshot metadata holds the secret:\n%s", meta)
		}

		code, stdout, stderr := h.run("snapshots", "-r", h.repo())
		if code != 0 || !strings.Contains(stdout, id) || !strings.Contains(stdout, "primary") || !strings.Contains(stdout, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-77,4e11fa47") {
			t.Errorf("snapshots: exit %d\n%s%s", code, stdout, stderr)
		}

		target := filepath.Join(h.dir, "restored")
		code, stdout, stderr = h.run("restore", "-r", h.repo(), id[:6], "--target", target)
		if code != 0 {
			t.Fatalf("restore: exit %d\n%s", code, stderr)
		}
		if !strings.Contains(stdout, "restored snapshot "+id) || !strings.Contains(stdout, "files      2") {
			t.Errorf("restore printed:\n%s", stdout)
		}
		_, req, restored := h.fake.state()
		if req.TargetDir != target || req.Verify {
			t.Errorf("restore request = %+v", req)
		}
		wantRecs := stored(validStream())
		if len(restored) != len(wantRecs) {
			t.Fatalf("plugin restored %d records, want %d", len(restored), len(wantRecs))
		}
		for i := range wantRecs {
			if !bytes.Equal(restored[i], wantRecs[i]) {
				t.Errorf("restored record %d differs from the one backed up", i)
			}
		}
	})
}

func TestBackupJSONAndRepositoryFlag(t *testing.T) {
	h := newHarness(t, false)
	other := filepath.Join(h.dir, "other")
	if code, _, stderr := h.run("init", "-r", other); code != 0 {
		t.Fatal(stderr)
	}
	// -r wins over the configuration's repository; flags may follow in any order.
	code, stdout, stderr := h.run("backup", "--full", "--json", "-c", h.config(), "--repo", other, "--source", "primary")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var snap map[string]any
	if err := json.Unmarshal([]byte(stdout), &snap); err != nil {
		t.Fatalf("backup --json: %v\n%s", err, stdout)
	}
	if _, err := os.Stat(filepath.Join(other, "snapshots", snap["id"].(string)+".json")); err != nil {
		t.Error(err)
	}
	if n := len(h.snapshotsJSON()); n != 0 {
		t.Errorf("the config's repository got %d snapshots", n)
	}
}

func TestFailedBackupRecordsNothing(t *testing.T) {
	good := validStream()
	last := len(good) - 1
	badDigest := *good[last].Trailer
	badDigest.Digest = append([]byte(nil), badDigest.Digest...)
	badDigest.Digest[0] ^= 0xFF
	fewer := *good[last].Trailer
	fewer.Records--

	tests := []struct {
		name   string
		setup  func(f *fakeSource)
		reason string
	}{
		{"no trailer", func(f *fakeSource) { f.records = good[:last] }, "stream ended without a trailer: the backup did not complete"},
		{"empty stream", func(f *fakeSource) { f.records = nil }, "stream ended without a trailer: the backup did not complete"},
		{"digest mismatch", func(f *fakeSource) {
			f.records = append(append([]*shared.Record{}, good[:last]...), &shared.Record{Trailer: &badDigest})
		}, "the digest does not match the 8 records"},
		{"record count mismatch", func(f *fakeSource) {
			f.records = append(append([]*shared.Record{}, good[:last]...), &shared.Record{Trailer: &fewer})
		}, "the Trailer counts 7 records, 8 arrived"},
		{"plugin error mid-stream", func(f *fakeSource) {
			f.records = good[:4]
			f.endErr = errors.New("reading shop/orders.ibd: disk on fire")
		}, "disk on fire"},
		{"plugin error before the stream", func(f *fakeSource) {
			f.backupErr = shared.Precondition("the backup user lacks BACKUP_ADMIN; GRANT BACKUP_ADMIN ON *.* TO backup")
		}, "BACKUP_ADMIN"},
		{"no header", func(f *fakeSource) { f.records = good[2:] }, "the stream does not start with a Header"},
		{"record after trailer", func(f *fakeSource) { f.records = append(append([]*shared.Record{}, good...), good[3]) }, "the record follows the Trailer"},
		{"second header", func(f *fakeSource) {
			f.records = append([]*shared.Record{good[0]}, good...)
		}, "a second Header"},
		{"wrong stream format", func(f *fakeSource) {
			h := *good[0].Header
			h.StreamFormat = 99
			f.records = append([]*shared.Record{{Header: &h}}, good[1:]...)
		}, "stream format 99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forBoth(t, func(t *testing.T, viaGRPC bool) {
				h := newHarness(t, viaGRPC)
				tt.setup(h.fake)
				code, stdout, stderr := h.run("backup", "-c", h.config(), "--full")
				if code != 1 {
					t.Errorf("exit %d, want 1", code)
				}
				if stdout != "" {
					t.Errorf("stdout: %q", stdout)
				}
				if !strings.Contains(stderr, "nothing was recorded") || !strings.Contains(stderr, tt.reason) {
					t.Errorf("stderr does not give the reason %q:\n%s", tt.reason, stderr)
				}
				h.assertNothingRecorded()
			})
		})
	}
}

func TestInterruptedBackupRecordsNothing(t *testing.T) {
	forBoth(t, func(t *testing.T, viaGRPC bool) {
		h := newHarness(t, viaGRPC)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h.fake.cancelAt = 5
		h.fake.onCancelAt = cancel // as SIGINT does in the binary
		code, _, stderr := h.runCtx(ctx, "backup", "-c", h.config(), "--full")
		if code != 1 || !strings.Contains(stderr, "interrupted") || !strings.Contains(stderr, "nothing was recorded") {
			t.Errorf("exit %d\n%s", code, stderr)
		}
		h.assertNothingRecorded()
	})
}

func TestRestoreDetectsDamage(t *testing.T) {
	page := repo.Hash(bytes.Repeat([]byte("page"), 4096)) // every page of validStream
	locate := func(t *testing.T, h *harness, id repo.ID) (string, int64) {
		r, err := repo.Open(h.repo())
		if err != nil {
			t.Fatal(err)
		}
		path, off, n, err := r.Locate(id)
		if err != nil {
			t.Fatal(err)
		}
		return path, off + n/2
	}
	editMeta := forgeSnapshot
	tests := []struct {
		name   string
		damage func(t *testing.T, h *harness, meta string, tree repo.ID)
		want   string
	}{
		{"flipped byte in a page", func(t *testing.T, h *harness, _ string, _ repo.ID) {
			path, off := locate(t, h, page)
			flipAt(t, path, off)
		}, "is damaged: ibdata1 page 0: blob"},
		{"flipped byte in the record list", func(t *testing.T, h *harness, _ string, tree repo.ID) {
			path, off := locate(t, h, tree)
			flipAt(t, path, off)
		}, "record list"},
		{"metadata digest", func(t *testing.T, _ *harness, meta string, _ repo.ID) {
			editMeta(t, meta, func(m map[string]any) { m["stream_digest"] = strings.Repeat("0", 64) })
		}, "its metadata says stream_digest 0000"},
		{"pack missing", func(t *testing.T, h *harness, _ string, _ repo.ID) {
			path, _ := locate(t, h, page)
			os.Remove(path)
		}, "missing"},
		{"record list not in the index", func(t *testing.T, _ *harness, meta string, _ repo.ID) {
			editMeta(t, meta, func(m map[string]any) { m["tree"] = []string{strings.Repeat("ab", 32)} })
		}, "missing from the index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forBoth(t, func(t *testing.T, viaGRPC bool) {
				h := newHarness(t, viaGRPC)
				snap, _ := h.backupJSON("--full")
				id := snap["id"].(string)
				tree, _ := repo.ParseID(snap["tree"].([]any)[0].(string))
				tt.damage(t, h, filepath.Join(h.repo(), "snapshots", id+".json"), tree)
				code, stdout, stderr := h.run("restore", "-r", h.repo(), "latest", "--target", filepath.Join(h.dir, "restored"))
				if code != 1 {
					t.Errorf("exit %d, want 1", code)
				}
				if stdout != "" {
					t.Errorf("stdout: %q", stdout)
				}
				if !strings.Contains(stderr, "snapshot "+id) || !strings.Contains(stderr, tt.want) {
					t.Errorf("stderr does not name snapshot %s and say %q:\n%s", id, tt.want, stderr)
				}
				// The plugin never saw a complete stream.
				_, _, restored := h.fake.state()
				for _, r := range restored {
					if r[0] == 'Z' {
						t.Error("the plugin received the trailer of a damaged stream")
					}
				}
			})
		})
	}
}

func TestRestorePluginStopsEarly(t *testing.T) {
	h := newHarness(t, false)
	h.backup()
	h.fake.restoreLimit = 3
	code, _, stderr := h.run("restore", "-r", h.repo(), "latest", "--target", filepath.Join(h.dir, "r"))
	if code != 1 || !strings.Contains(stderr, "without reading the rest") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
}

func TestRestoreVerify(t *testing.T) {
	forBoth(t, func(t *testing.T, viaGRPC bool) {
		h := newHarness(t, viaGRPC)
		h.backup()
		h.fake.result = &shared.RestoreResult{Files: 2, Pages: 4, Bytes: 65536, Verified: true, TablesChecked: 12, RecoveredTo: 18001200}
		code, stdout, stderr := h.run("restore", "--verify", "-r", h.repo(), "latest", "-t", filepath.Join(h.dir, "r"))
		if _, req, _ := h.fake.state(); code != 0 || !req.Verify || !strings.Contains(stdout, "12 tables checked, crash recovery reached LSN 18001200") {
			t.Errorf("exit %d\n%s%s", code, stdout, stderr)
		}
		// A plugin that does not verify when asked fails the command.
		h.fake.result = &shared.RestoreResult{Files: 2}
		code, _, stderr = h.run("restore", "--verify", "-r", h.repo(), "latest", "-t", filepath.Join(h.dir, "r2"))
		if code != 1 || !strings.Contains(stderr, "did not report verifying") {
			t.Errorf("exit %d\n%s", code, stderr)
		}
	})
}

func TestSnapshotsJSONShape(t *testing.T) {
	h := newHarness(t, false)
	code, stdout, _ := h.run("snapshots", "-r", h.repo(), "--json")
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("empty repository: exit %d, %q", code, stdout)
	}
	h.backup()
	h.backup()
	snaps := h.snapshotsJSON()
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots", len(snaps))
	}
	want := []string{
		"base_checkpoint_lsn", "binlog_bytes", "binlog_file", "binlog_pos", "bytes_read", "bytes_sent",
		"checkpoint_lsn", "config", "end_lsn", "fallback_reason",
		"files", "finished", "gtid_executed", "id", "kind", "max_page_lsn", "method", "page_bytes",
		"page_size", "pages", "pages_in_set", "pages_read", "parent", "records", "redo_bytes",
		"server_uuid", "server_version", "source", "source_state",
		"source_type", "stored_bytes", "stream_digest", "stream_format", "tablespaces", "time",
		"added_bytes", "logical_bytes", "tree", "binlog_from", "binlog_written",
	}
	sort.Strings(want)
	var got []string
	for k := range snaps[0] {
		got = append(got, k)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("fields:\n got %v\nwant %v", got, want)
	}
	if snaps[0]["time"].(string) > snaps[1]["time"].(string) {
		t.Error("snapshots are not listed oldest first")
	}
	if d, _ := snaps[0]["stream_digest"].(string); len(d) != 64 {
		t.Errorf("stream_digest = %q", d)
	}
	if n, _ := snaps[0]["stored_bytes"].(float64); n <= 0 {
		t.Errorf("stored_bytes = %v", snaps[0]["stored_bytes"])
	}
}

func TestUsage(t *testing.T) {
	h := newHarness(t, false)
	tests := []struct {
		args   []string
		code   int
		stdout string // substring, when set
		stderr string
	}{
		{nil, 2, "", "Usage:"},
		{[]string{"--help"}, 0, "Exit status:", ""},
		{[]string{"help", "restore"}, 0, "--target DIR", ""},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"backup", "--help"}, 0, "Example:", ""},
		{[]string{"restore", "-h"}, 0, "Example:", ""},
		{[]string{"snapshots", "--help"}, 0, "stream_digest", ""},
		{[]string{"snapshots", "--help"}, 0, "fallback_reason", ""},
		{[]string{"backup", "--help"}, 0, "Without --full the backup is an incremental", ""},
		{[]string{"init", "--help"}, 0, "Exit status:", ""},
		{[]string{"check", "--help"}, 0, "--read-data", ""},
		{[]string{"forget", "--help"}, 0, "--keep-daily N", ""},
		{[]string{"stats", "--help"}, 0, "dedup_ratio", ""},
		{[]string{"help", "forget"}, 0, "retention { keep_last", ""},
		{[]string{"forget", "-r", h.repo()}, 2, "", "no retention policy"},
		{[]string{"forget", "-r", h.repo(), "--keep-last", "0"}, 2, "", "keeps nothing"},
		{[]string{"forget", "-r", h.repo(), "--keep-last", "-1"}, 2, "", "0 or more"},
		{[]string{"check", "-r", h.repo(), "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"stats"}, 2, "", "pass -r REPO"},
		{[]string{"snapshots", "-r", h.repo(), "-l", "--json"}, 2, "", "exclude each other"},
		{[]string{"backup", "--full"}, 2, "", "-c CONFIG"},
		{[]string{"backup", "--full", "-c", h.config(), "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"restore", "-r", h.repo(), "--target", "x"}, 2, "", "no snapshot given"},
		{[]string{"restore", "-r", h.repo(), "latest"}, 2, "", "--target DIR"},
		{[]string{"snapshots", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"snapshots"}, 2, "", "pass -r REPO"},
		{[]string{"init"}, 2, "", "pass -r REPO"},
		{[]string{"init", "-r", h.repo()}, 1, "", "is already a pagetrack repository"},
		{[]string{"snapshots", "-r", filepath.Join(h.dir, "nope")}, 1, "", "host-example init -r"},
	}
	for _, tt := range tests {
		code, stdout, stderr := h.run(tt.args...)
		if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("%q: exit %d (want %d)\nstdout: %s\nstderr: %s", tt.args, code, tt.code, stdout, stderr)
		}
		if tt.code == 0 && stderr != "" {
			t.Errorf("%q: stderr %q", tt.args, stderr)
		}
	}
}

func TestConfigErrorsThroughCLI(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   []string
	}{
		{"unknown attribute", testConfig + "source \"fake\" \"second\" {\n  dsn = \"x\"\n  datadir = \"/d\"\n  bogus = 1\n}\n",
			[]string{"backup.hcl:11:3", `"bogus"`}},
		{"wrong type", strings.Replace(testConfig, "parallel = 2", "parallel = true", 1),
			[]string{"backup.hcl:6:14", `"parallel"`}},
		{"missing required", strings.Replace(testConfig, `datadir  = "/var/lib/mysql"`, "", 1),
			[]string{"backup.hcl:3:25", `"datadir"`}},
		{"no source", `repository = "repo"`, []string{"backup.hcl:1:1", "source"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, false)
			h.writeConfig(tt.config)
			args := []string{"backup", "-c", h.config(), "--full"}
			if strings.Contains(tt.config, "second") {
				args = append(args, "--source", "second")
			}
			code, _, stderr := h.run(args...)
			if code != 1 {
				t.Errorf("exit %d", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			h.assertNothingRecorded()
		})
	}
}

func TestValidateConfigErrorIsShownRedacted(t *testing.T) {
	forBoth(t, func(t *testing.T, viaGRPC bool) {
		h := newHarness(t, viaGRPC)
		h.fake.validate = func(cfg shared.Config) error {
			return shared.InvalidConfig("dsn " + cfg.String("dsn", "") + " names no database host; datadir must be absolute")
		}
		code, _, stderr := h.run("backup", "-c", h.config(), "--full")
		if code != 1 || !strings.Contains(stderr, `backup.hcl:3:1: source "primary": dsn [redacted] names`) || !strings.Contains(stderr, "datadir must be absolute") {
			t.Errorf("exit %d\n%s", code, stderr)
		}
	})
}

func TestSourceSelection(t *testing.T) {
	h := newHarness(t, false)
	h.writeConfig(testConfig + strings.Replace(testConfig[len(`repository = "repo"`):], "primary", "replica", 1))
	code, _, stderr := h.run("backup", "-c", h.config(), "--full")
	if code != 1 || !strings.Contains(stderr, `"primary", "replica"`) || !strings.Contains(stderr, "--source NAME") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	h.backup("--source", "replica")
	if s := h.snapshotsJSON(); len(s) != 1 || s[0]["source"] != "replica" {
		t.Errorf("snapshots = %v", s)
	}
	code, _, stderr = h.run("backup", "-c", h.config(), "--full", "--source", "nope")
	if code != 1 || !strings.Contains(stderr, `no source block named "nope"`) {
		t.Errorf("exit %d\n%s", code, stderr)
	}
}

func TestVerboseLogs(t *testing.T) {
	h := newHarness(t, false)
	_, _, stderr := h.run("backup", "-c", h.config(), "--full")
	if strings.Contains(stderr, "[DEBUG]") {
		t.Errorf("debug logs without -v:\n%s", stderr)
	}
	_, _, stderr = h.run("-v", "backup", "-c", h.config(), "--full")
	if !strings.Contains(stderr, "[DEBUG] host-example: starting plugin") {
		t.Errorf("no debug logs with -v:\n%s", stderr)
	}
	_, _, stderr = h.run("backup", "-c", h.config(), "--full", "-v")
	if !strings.Contains(stderr, "[DEBUG]") {
		t.Errorf("-v after the command is ignored:\n%s", stderr)
	}
}
