package cli

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	p := newProgressLine(&out, true)
	const total = 64 << 20
	for i := uint64(1); i <= 4; i++ {
		p.update(&shared.Progress{Phase: "pages", PagesDone: i * 1024, PagesTotal: 4096, BytesDone: i * total / 4, BytesTotal: total})
		time.Sleep(200 * time.Millisecond) // past the bar's redraw throttle
	}
	shown := out.String()
	p.done()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`pages 3072/4096 pages`),               // phase and pages
		regexp.MustCompile(`48\.0 MiB/64\.0 MiB`),                 // bytes done/total
		regexp.MustCompile(`, [0-9.]+ [KMG]iB/s, <?[0-9]+s left`), // rate and time left
		regexp.MustCompile(`75% \|█+ +\|`),                        // the bar
	} {
		if !want.MatchString(shown) {
			t.Errorf("progress output lacks %s:\n%q", want, shown)
		}
	}
	if !strings.HasSuffix(out.String(), "\x1b[2K\r") {
		t.Errorf("done did not erase the bar: %q", out.String()[max(0, out.Len()-40):])
	}
}

func TestProgressPagesOnly(t *testing.T) {
	var out bytes.Buffer
	p := newProgressLine(&out, true)
	p.update(&shared.Progress{Phase: "copying pages", PagesDone: 2, PagesTotal: 4})
	p.done()
	if !strings.Contains(out.String(), "copying pages") || !strings.Contains(out.String(), "2/4") {
		t.Errorf("no page progress without a byte total:\n%q", out.String())
	}
}

func TestProgressQuietWithoutTerminal(t *testing.T) {
	var out bytes.Buffer
	p := newProgressLine(&out, false)
	p.update(&shared.Progress{Phase: "pages", PagesDone: 1, PagesTotal: 4, BytesDone: 1, BytesTotal: 4})
	p.done()
	if out.Len() != 0 {
		t.Errorf("progress written to a non-terminal: %q", out.String())
	}
}

// A log line written while the bar is up erases it first; after done the writer is as before.
func TestProgressMakesRoomForLogs(t *testing.T) {
	var out bytes.Buffer
	lw := &lockedWriter{w: &out}
	p := newProgressLine(lw, true)
	p.update(&shared.Progress{Phase: "pages", PagesDone: 1, PagesTotal: 4, BytesDone: 1 << 20, BytesTotal: 4 << 20})
	fmt.Fprintf(lw, "a log line\n")
	fmt.Fprintf(lw, "another\n")
	p.done()
	got := out.String()
	if !strings.Contains(got, "|  \x1b[0K\r\x1b[2Ka log line\nanother\n") {
		t.Errorf("the bar was not erased before the log line, or erased twice:\n%q", got)
	}
	if lw.w != io.Writer(&out) {
		t.Errorf("done did not give the lockedWriter its writer back")
	}
	if strings.HasSuffix(got, "\x1b[2K\r") {
		t.Errorf("done erased a bar that was not shown: %q", got)
	}
}
