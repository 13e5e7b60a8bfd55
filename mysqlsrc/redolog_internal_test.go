package mysqlsrc

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/pagemap"
)

func TestSwitchSinceBase(t *testing.T) {
	base := &sourceState{RedoLoggingOnAt: 1_000_000, EndLSN: 5000}
	disabled := func(lsn string) string {
		return "InnoDB redo logging is disabled. All data could be lost in case of a server crash. Current lsn is " + lsn + "."
	}
	cases := []struct {
		name string
		at   int64
		code string
		data string
		want bool
	}{
		{"disabled after the base", 1_000_001, erRedoLogDisabled, disabled("6000"), true},
		{"disabled at the base's microsecond", 1_000_000, erRedoLogDisabled, disabled("6000"), true},
		{"disabled before the base, by time and LSN", 999_999, erRedoLogDisabled, disabled("4000"), false},
		{"an earlier time but a later LSN (clock stepped back)", 999_999, erRedoLogDisabled, disabled("5000"), true},
		{"an earlier time and no LSN in the text", 999_999, erRedoLogDisabled, "redo logging is disabled", true},
		{"enabled after the base", 1_000_001, erRedoLogEnabled, "InnoDB redo logging is enabled.", true},
		{"enabled before the base", 999_999, erRedoLogEnabled, "InnoDB redo logging is enabled.", false},
	}
	for _, c := range cases {
		if got := switchSinceBase(c.at, c.code, c.data, base); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// A base written before the redo logging check (state version 1) still decodes, and an
// incremental on it copies everything: nothing says when its server had logging on.
func TestVersion1StateCopiesEverything(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"version": 1, "server_uuid": "u", "checkpoint_lsn": 100, "end_lsn": 200, "files": []any{}})
	enc, _ := zstd.NewWriter(nil)
	s, err := decodeState(enc.EncodeAll(raw, nil))
	if err != nil {
		t.Fatal(err)
	}
	reason, err := redoSwitchReason(context.Background(), nil, s, false)
	if err != nil || !strings.Contains(reason, "did not record when it saw redo logging on") {
		t.Fatalf("reason %q, %v", reason, err)
	}
	raw, _ = json.Marshal(map[string]any{"version": 3, "checkpoint_lsn": 100, "end_lsn": 200})
	if _, err := decodeState(enc.EncodeAll(raw, nil)); err == nil || !strings.Contains(err.Error(), "reads versions 1 to 2") {
		t.Fatalf("a state from a newer plugin: %v", err)
	}
}

func TestImplausibleTracked(t *testing.T) {
	file := func(space uint32, pages uint64) *tablespaceFile {
		return &tablespaceFile{rel: "db/t" + string(rune('a'+space%26)) + ".ibd", page0: innodb.Page0{SpaceID: space}, pages: pages}
	}
	files := []*tablespaceFile{file(0, 768), file(12, 100), file(14, 10), file(0xFFFFFFEF-127, 640)}
	base := &sourceState{Files: []stateFile{{SpaceID: 0}, {SpaceID: 11}, {SpaceID: 12}, {SpaceID: 0xFFFFFFEF}}}
	cases := []struct {
		name        string
		space, page uint32
		wantHas     string
	}{
		{"last page of a file", 12, 99, ""},
		{"page just past a file's end", 12, 100, "lists page 100 of space 12"},
		{"a space dropped since the base", 11, 5000, ""},
		{"an undo space's old id, truncated since", 0xFFFFFFEF - 254, 3, ""},
		{"the temporary tablespace", 0xFFFFFFFD, 3, ""},
		{"a space created and dropped since the base", 13, 3, ""},
		{"a space created and dropped after the newest", 14 + droppedSpaceSlack, 3, ""},
		{"an id far above every known one", 14 + droppedSpaceSlack + 1, 3, "lists space id 1039, which is in neither"},
		{"an old id the base did not have (an ALTER's intermediate table)", 5, 3, ""},
		{"raw bytes as an id", 0x41424344, 3, "lists space id 1094861636"},
	}
	for _, c := range cases {
		set := pagemap.NewPageSet()
		set.Add(12, 7)
		set.Add(c.space, c.page)
		got := implausibleTracked(set, files, base)
		if c.wantHas == "" && got != "" || c.wantHas != "" && !strings.Contains(got, c.wantHas) {
			t.Errorf("%s: %q, want %q", c.name, got, c.wantHas)
		}
	}
}

func TestSuppressedSwitch(t *testing.T) {
	for list, want := range map[string]string{
		"":                         "",
		"MY-013360":                "",
		"MY-013360, my-014088":     erRedoLogDisabled,
		"014088":                   erRedoLogDisabled,
		"13601":                    erRedoLogEnabled,
		"ER_SOMETHING_ELSE,140880": "",
	} {
		if got := suppressedSwitch(list); got != want {
			t.Errorf("suppressedSwitch(%q) = %q, want %q", list, got, want)
		}
	}
}

func TestReadErrorLogFile(t *testing.T) {
	const file = "2026-12-05T03:11:49.715608Z 0 [System] [MY-015015] [Server] MySQL Server - start.\n" +
		"a continuation line\n" +
		"2026-12-05T04:13:20.520227+01:00 12 [Warning] [MY-014088] [InnoDB] InnoDB redo logging is disabled. All data could be lost in case of a server crash. Current lsn is 491640016.\n" +
		"2026-12-05T03:13:26.507615Z 12 [Warning] [MY-013601] [InnoDB] InnoDB redo logging is enabled. Data is now safe and can be recovered in case of a server crash.\n" +
		"garbled [MY-014088] half a line"
	ev, err := readErrorLogFile(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if first := time.Date(2026, 12, 5, 3, 11, 49, 715608000, time.UTC).UnixMicro(); !ev.oldest.Valid || ev.oldest.Int64 != first {
		t.Fatalf("oldest %v, want %d", ev.oldest, first)
	}
	disabledAt := time.Date(2026, 12, 5, 3, 13, 20, 520227000, time.UTC).UnixMicro()
	if len(ev.switches) != 3 || ev.switches[0].at != disabledAt || ev.switches[0].code != erRedoLogDisabled ||
		!strings.HasSuffix(ev.switches[0].data, "Current lsn is 491640016.") || ev.switches[1].code != erRedoLogEnabled || ev.switches[2].at != math.MaxInt64 {
		t.Fatalf("switches %+v", ev.switches)
	}
	// The garbled line cannot be dismissed; without it, entries before the base (by time and
	// LSN) are, and a file starting after the base does not prove anything.
	base := &sourceState{RedoLoggingOnAt: disabledAt + 10_000_000, EndLSN: 491640017}
	if r := ev.reason(base, true); !strings.Contains(r, "garbled") {
		t.Fatalf("reason %q, want the garbled line named", r)
	}
	ev.switches = ev.switches[:2]
	if r := ev.reason(base, true); r != "" {
		t.Fatalf("reason %q for switches before the base", r)
	}
	if r := ev.reason(&sourceState{RedoLoggingOnAt: ev.oldest.Int64, EndLSN: 1}, true); !strings.Contains(r, "does not reach back") {
		t.Fatalf("reason %q for a file that starts at the base", r)
	}
}
