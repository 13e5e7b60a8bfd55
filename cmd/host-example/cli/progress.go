package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/pagetrack/pagetrack/shared"
	"github.com/schollz/progressbar/v3"
)

// progressLine shows a backup's Progress records (sent by the plugin over the contract) as a
// progress bar on one line of a terminal: the phase, pages done/total, bytes done/total, the
// rate and the time left. It shows nothing when its writer is not a terminal.
//
//	pages 3771/6995 pages, 59/103 MiB, 82 MiB/s, 1s left  57% |█████████████           |
//
// A source that reports no byte total gets pages only. The rate is measured over the
// records themselves (a smoothed average over windows of at least half a second), so bytes
// copied before the first record do not inflate it.
//
// Log lines share stderr with the bar: while the bar is up, a write to stderr through the
// command's lockedWriter first erases the bar, and the next record draws it again below.
type progressLine struct {
	w       io.Writer
	enabled bool
	bar     *progressbar.ProgressBar
	phase   string
	byBytes bool
	max     int64
	drawn   time.Time

	// Rate measurement, in the bar's unit (bytes, or pages).
	rateAt   time.Time
	rateDone int64
	rate     float64

	// Sharing stderr with the logs (see hook).
	lw    *lockedWriter
	inner io.Writer   // lw's writer before hook
	shown atomic.Bool // the bar is on the screen
}

// redrawEvery is the shortest interval between two redraws of the bar; rateWindow the
// shortest interval a rate is measured over.
const (
	redrawEvery = 150 * time.Millisecond
	rateWindow  = 500 * time.Millisecond
)

func newProgressLine(w io.Writer, terminal bool) *progressLine {
	return &progressLine{w: w, enabled: terminal}
}

// update shows pr. Records with neither a byte nor a page total are not shown: there is
// nothing to measure them against.
func (p *progressLine) update(pr *shared.Progress) {
	if !p.enabled || (pr.BytesTotal == 0 && pr.PagesTotal == 0) {
		return
	}
	now := time.Now()
	byBytes := pr.BytesTotal > 0
	done, total := int64(pr.PagesDone), int64(max(pr.PagesTotal, pr.PagesDone))
	if byBytes {
		done, total = int64(pr.BytesDone), int64(max(pr.BytesTotal, pr.BytesDone))
	}
	if p.bar == nil || pr.Phase != p.phase || byBytes != p.byBytes {
		p.done()
		p.phase, p.byBytes, p.max = pr.Phase, byBytes, total
		p.rateAt, p.rateDone, p.rate = now, done, 0
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(p.hook()),
			progressbar.OptionUseANSICodes(true),
			progressbar.OptionSetWidth(24),
			progressbar.OptionSetElapsedTime(false),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionClearOnFinish(),
		)
	}
	if dt := now.Sub(p.rateAt); dt >= rateWindow && done >= p.rateDone {
		r := float64(done-p.rateDone) / dt.Seconds()
		if p.rate == 0 {
			p.rate = r
		} else {
			p.rate = 0.7*p.rate + 0.3*r
		}
		p.rateAt, p.rateDone = now, done
	}
	// The bar redraws on every change; drawing at most every redrawEvery keeps it calm.
	if done < total && now.Sub(p.drawn) < redrawEvery {
		return
	}
	p.drawn = now
	if total != p.max {
		p.max = total
		p.bar.ChangeMax64(total)
	}
	p.bar.Describe(p.describe(pr, done, total))
	p.bar.Set64(done)
}

// describe is the text before the bar.
func (p *progressLine) describe(pr *shared.Progress, done, total int64) string {
	var b strings.Builder
	b.WriteString(pr.Phase)
	if pr.PagesTotal > 0 {
		fmt.Fprintf(&b, " %d/%d pages", pr.PagesDone, max(pr.PagesTotal, pr.PagesDone))
	} else if pr.PagesDone > 0 {
		fmt.Fprintf(&b, " %d pages", pr.PagesDone)
	}
	if p.byBytes {
		fmt.Fprintf(&b, ", %s/%s", formatBytes(uint64(done)), formatBytes(uint64(total)))
	}
	if p.rate > 0 {
		if p.byBytes {
			fmt.Fprintf(&b, ", %s/s", formatBytes(uint64(p.rate)))
		} else {
			fmt.Fprintf(&b, ", %.0f pages/s", p.rate)
		}
		switch left := time.Duration(float64(total-done) / p.rate * float64(time.Second)); {
		case left < time.Second:
			b.WriteString(", <1s left")
		default:
			fmt.Fprintf(&b, ", %s left", left.Round(time.Second))
		}
	}
	return b.String()
}

// hook returns the writer the bar draws with. When the progress line writes to the command's
// lockedWriter, the bar draws under its lock, and every other write through it (log lines)
// first erases the bar, until done.
func (p *progressLine) hook() io.Writer {
	lw, ok := p.w.(*lockedWriter)
	if !ok {
		return &shownWriter{p: p, w: p.w}
	}
	lw.mu.Lock()
	defer lw.mu.Unlock()
	p.lw, p.inner = lw, lw.w
	lw.w = &erasingWriter{p: p, w: p.inner}
	return &lockedBarWriter{p: p}
}

// done erases the bar; a later update starts a new one.
func (p *progressLine) done() {
	if p.bar == nil {
		return
	}
	p.bar.Exit()
	if p.shown.Swap(false) {
		p.bar.Clear()
	}
	p.bar = nil
	if p.lw != nil {
		p.lw.mu.Lock()
		p.lw.w = p.inner
		p.lw.mu.Unlock()
		p.lw, p.inner = nil, nil
	}
}

// shownWriter draws the bar on a writer of its own.
type shownWriter struct {
	p *progressLine
	w io.Writer
}

func (s *shownWriter) Write(b []byte) (int, error) {
	s.p.shown.Store(true)
	return s.w.Write(b)
}

// lockedBarWriter draws the bar under the lockedWriter's lock, past its erasingWriter.
type lockedBarWriter struct{ p *progressLine }

func (l *lockedBarWriter) Write(b []byte) (int, error) {
	l.p.lw.mu.Lock()
	defer l.p.lw.mu.Unlock()
	l.p.shown.Store(true)
	return l.p.inner.Write(b)
}

// erasingWriter stands in for the lockedWriter's writer while the bar is up: it erases the
// bar before anything else is written.
type erasingWriter struct {
	p *progressLine
	w io.Writer
}

func (e *erasingWriter) Write(b []byte) (int, error) {
	if e.p.shown.Swap(false) {
		io.WriteString(e.w, "\r\x1b[2K")
	}
	return e.w.Write(b)
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
