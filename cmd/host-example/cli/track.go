package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/config"
	"github.com/pagetrack/pagetrack/shared"
)

const trackUsage = `Usage:
  host-example track -c CONFIG [--source NAME] [--plugin PATH] [--interval DURATION] [--json]

Runs the source's change tracker until SIGINT or SIGTERM (see docs/track.md): for MySQL, the
redo tracker, which reads the server's redo log as the server writes it and records the pages
each range of it changed in XtraDB changed-page bitmap files in the source's tracking_dir.
Incrementals then take their changed pages from those bitmaps (method redo-bitmap), also
across clean restarts and crashes of the server. Run it as a service next to the server (an
example systemd unit is in docs/track.md).

Every interval it logs on stderr "tracked up to" (the LSN the bitmaps reach), the max tracked
LSN age (the largest distance from there to the server's log end), the bitmap files and every
new gap: a range of the redo it could not track, with the reason (the redo recycled before it
was read, redo files created anew, an unknown format, a record it could not parse, redo
logging switched off). An incremental whose range holds a gap falls back, saying why.

When the plugin stops after the tracker started (the plugin died, say), the tracker is started
again with a growing wait; it continues from its persisted position. A refusal before it
started (configuration, another tracker on the same directory) ends the command.

With --json every status is printed on stdout as one JSON object per line:
  {"source", "tracked_lsn", "first_lsn", "checkpoint_lsn", "written_lsn",
   "max_tracked_lsn_age", "redo_logging_off", "gaps": [{"kind", "start", "end", "reason"}],
   "files", "last_error", "at"}
Without it, the last status is printed when the command ends.

Flags:
  -c, --config CONFIG      HCL configuration file (required)
      --source NAME        source block; default: the only one
      --plugin PATH        plugin executable
      --interval DURATION  how often the status is reported (default 10s)
      --json               print every status as a JSON line
  -v, --verbose            debug logs on stderr

Source attributes (mysql): tracking_dir (required), datadir (read directly; the tracker
needs no connection).

Example:
  host-example track -c /etc/pagetrack/backup.hcl --source primary

` + exitStatusHelp

// trackLine is one status as track --json prints it.
type trackLine struct {
	Source           string          `json:"source"`
	TrackedLSN       uint64          `json:"tracked_lsn"`
	FirstLSN         uint64          `json:"first_lsn"`
	CheckpointLSN    uint64          `json:"checkpoint_lsn"`
	WrittenLSN       uint64          `json:"written_lsn"`
	MaxTrackedLSNAge uint64          `json:"max_tracked_lsn_age"`
	RedoLoggingOff   bool            `json:"redo_logging_off"`
	Gaps             []trackGapEntry `json:"gaps"`
	Files            []string        `json:"files"`
	LastError        string          `json:"last_error,omitempty"`
	At               time.Time       `json:"at"`
}

type trackGapEntry struct {
	Kind   string `json:"kind"`
	Start  uint64 `json:"start"`
	End    uint64 `json:"end"` // 0: still open
	Reason string `json:"reason"`
}

func runTrack(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("track")
	var cfgPath, sourceName, pluginPath, interval string
	var asJSON bool
	stringFlag(fs, &cfgPath, "c", "config")
	stringFlag(fs, &sourceName, "source")
	stringFlag(fs, &pluginPath, "plugin")
	stringFlag(fs, &interval, "interval")
	boolFlag(fs, &asJSON, "json")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	every := 10 * time.Second
	if interval != "" {
		if every, err = time.ParseDuration(interval); err != nil || every <= 0 {
			return usageErrorf("--interval %q is not a positive duration (like 10s or 1m)", interval)
		}
	}
	switch {
	case len(pos) > 0:
		return usageErrorf("unexpected argument %q", pos[0])
	case cfgPath == "":
		return usageErrorf("no configuration: pass -c CONFIG")
	}
	cf, err := e.loadConfig(cfgPath)
	if err != nil {
		return err
	}
	block, err := cf.Source(sourceName)
	if err != nil {
		return err
	}
	tk := &tracking{e: e, source: block.Name, json: asJSON, gapsSeen: map[string]bool{}}
	err = tk.run(ctx, block, pluginPath, cf, every)
	if err == nil && !asJSON && tk.last != nil {
		s := tk.last
		e.printf("tracking of %s stopped: tracked up to LSN %d (from LSN %d), max tracked LSN age %d, %d gap(s), %d bitmap file(s)\n",
			tk.source, s.TrackedLSN, s.FirstLSN, s.MaxTrackedLSNAge, len(s.Gaps), len(s.Files))
	}
	return err
}

// tracking is one track command's state.
type tracking struct {
	e        *env
	source   string
	json     bool
	last     *shared.TrackStatus
	gapsSeen map[string]bool
}

// run tracks until ctx ends, starting the plugin again after it failed once it had started.
func (tk *tracking) run(ctx context.Context, block *config.Source, pluginPath string, cf *config.File, every time.Duration) error {
	wait := time.Second
	for {
		started, err := tk.session(ctx, block, pluginPath, cf, every)
		if ctx.Err() != nil {
			return nil
		}
		if !started {
			return err
		}
		if err == nil {
			err = errors.New("the plugin ended the track stream")
		}
		tk.e.log().Error("tracking stopped; starting again", "error", shared.Redact(err.Error(), tk.e.secrets...), "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// session starts the plugin and reports statuses until the stream ends; started says the
// tracker had started.
func (tk *tracking) session(ctx context.Context, block *config.Source, pluginPath string, cf *config.File, every time.Duration) (bool, error) {
	ref, src, _, cfg, stop, err := tk.e.sourceFor(ctx, block, pluginPath, cf)
	defer stop()
	if err != nil {
		return false, err
	}
	tr, ok := src.(shared.Tracker)
	if !ok {
		return false, fmt.Errorf("%w: the %s plugin (%s) has no change tracker", shared.ErrUnsupported, ref.Type, ref.Path)
	}
	stream, err := tr.Track(ctx, &shared.TrackRequest{Config: cfg, Interval: every})
	if err != nil {
		return false, pluginError(ref, err)
	}
	tk.e.log().Info("tracking started", "source", tk.source)
	for {
		st, err := stream.Recv()
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return true, pluginError(ref, err)
		}
		tk.report(st)
	}
}

func (tk *tracking) report(st *shared.TrackStatus) {
	tk.last = st
	log := tk.e.log()
	for _, g := range st.Gaps {
		key := g.Kind + "/" + strconv.FormatUint(g.Start, 10) + "/" + strconv.FormatUint(g.End, 10)
		if !tk.gapsSeen[key] {
			tk.gapsSeen[key] = true
			log.Warn("tracking gap: incrementals over it fall back", "source", tk.source, "gap", g.String())
		}
	}
	args := []any{"source", tk.source, "tracked_up_to", st.TrackedLSN, "max_tracked_lsn_age", st.MaxTrackedLSNAge,
		"checkpoint", st.CheckpointLSN, "gaps", len(st.Gaps), "files", len(st.Files)}
	switch {
	case st.LastError != "":
		log.Warn("tracking status", append(args, "problem", st.LastError)...)
	case st.RedoLoggingOff:
		log.Warn("tracking status: redo logging is off, nothing is tracked", args...)
	default:
		log.Info("tracking status", args...)
	}
	if tk.json {
		line := trackLine{Source: tk.source, TrackedLSN: st.TrackedLSN, FirstLSN: st.FirstLSN, CheckpointLSN: st.CheckpointLSN,
			WrittenLSN: st.WrittenLSN, MaxTrackedLSNAge: st.MaxTrackedLSNAge, RedoLoggingOff: st.RedoLoggingOff,
			Gaps: []trackGapEntry{}, Files: st.Files, LastError: st.LastError, At: st.At}
		if line.Files == nil {
			line.Files = []string{}
		}
		for _, g := range st.Gaps {
			line.Gaps = append(line.Gaps, trackGapEntry{Kind: g.Kind, Start: g.Start, End: g.End, Reason: g.Reason})
		}
		b, _ := json.Marshal(line)
		tk.e.printf("%s\n", b)
	}
}
