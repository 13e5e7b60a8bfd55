package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/pagetrack/pagetrack/shared"
)

// progressLine shows a backup's Progress records as one line rewritten in place. It shows
// nothing when its writer is not a terminal.
type progressLine struct {
	w       io.Writer
	enabled bool
	shown   bool
	last    time.Time
}

func newProgressLine(w io.Writer, terminal bool) *progressLine {
	return &progressLine{w: w, enabled: terminal}
}

func (p *progressLine) update(pr *shared.Progress) {
	if !p.enabled {
		return
	}
	now := time.Now()
	if p.shown && now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	var b strings.Builder
	b.WriteString(pr.Phase)
	if pr.PagesTotal > 0 {
		fmt.Fprintf(&b, "  %d/%d pages (%.0f%%)", pr.PagesDone, pr.PagesTotal, 100*float64(pr.PagesDone)/float64(pr.PagesTotal))
	} else if pr.PagesDone > 0 {
		fmt.Fprintf(&b, "  %d pages", pr.PagesDone)
	}
	if pr.BytesTotal > 0 {
		fmt.Fprintf(&b, "  %s/%s", formatBytes(pr.BytesDone), formatBytes(pr.BytesTotal))
	} else if pr.BytesDone > 0 {
		fmt.Fprintf(&b, "  %s", formatBytes(pr.BytesDone))
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s", b.String())
	p.shown = true
}

// done erases the line.
func (p *progressLine) done() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

func formatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// oneLine joins a multi-line value (MySQL prints GTID sets with a newline after each comma).
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), "")
}
