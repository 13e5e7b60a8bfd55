// Package cli is host-example's command layer: flag parsing, the commands and their output.
//
// It runs in process: Run takes the arguments, the output writers and a SourceLoader, so tests
// drive it with an in-memory shared.Source and the real binary drives it with go-plugin (see
// package pluginhost). stdout carries only each command's result; logs and errors go to stderr.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/pagetrack/pagetrack/shared"
)

// Exit statuses.
const (
	ExitOK      = 0 // the command succeeded
	ExitFailure = 1 // the command failed; the reason is on stderr
	ExitUsage   = 2 // the command line is wrong
)

// PluginRef says which plugin executable serves a source type, and why that one.
type PluginRef struct {
	// Type is the source type, e.g. "mysql".
	Type string
	// Path is the plugin executable, absolute.
	Path string
	// Origin says where Path came from, for messages: the --plugin flag, a plugin block, or
	// the default location.
	Origin string
}

// SourceLoader starts the plugin ref names and returns its Source, with a function that stops
// the plugin (called once the command is done with it). Logs go to logger.
type SourceLoader func(ctx context.Context, ref PluginRef, logger hclog.Logger) (shared.Source, func(), error)

// Options configure Run.
type Options struct {
	// LoadSource starts a source plugin. Required by backup, restore and forget (for the
	// tracking purge).
	LoadSource SourceLoader
	// PluginPath is the plugin executable to use when neither --plugin nor a plugin block in
	// the configuration names one. Empty means pagetrack-TYPE next to the running executable.
	PluginPath string
	// LookupEnv backs the configuration's env() function; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Terminal reports whether w is a terminal, which turns the progress line on; nil means
	// "stderr is an *os.File connected to a terminal".
	Terminal func(w io.Writer) bool
	// MergeStats, when set, receives what restoring an incremental read from the repository
	// and sent to the plugin, once the restore is over (tests and diagnostics).
	MergeStats func(MergeStats)
}

// Run runs host-example with args (without the program name) and returns the exit status.
// ctx cancels the command (the binary cancels it on SIGINT and SIGTERM).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, opts Options) int {
	// Plugin log lines arrive on go-plugin's goroutines; everything written to stderr goes
	// through one lock so that lines never interleave.
	if opts.Terminal == nil {
		term := isTerminal(stderr)
		opts.Terminal = func(io.Writer) bool { return term }
	}
	stderr = &lockedWriter{w: stderr}
	e := &env{stdout: stdout, stderr: stderr, opts: opts}

	global := newFlagSet("host-example")
	verbose := global.Bool("v", false, "")
	global.BoolVar(verbose, "verbose", false, "")
	rest, err := parseGlobal(global, args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, mainUsage)
		return ExitOK
	}
	if err != nil {
		return e.fail("", err)
	}
	e.verbose = *verbose
	if len(rest) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return ExitUsage
	}
	name, cmdArgs := rest[0], rest[1:]
	if name == "help" {
		if len(cmdArgs) == 0 {
			fmt.Fprint(stdout, mainUsage)
			return ExitOK
		}
		c, ok := commands[cmdArgs[0]]
		if !ok {
			return e.fail("", usageErrorf("unknown command %q; the commands are %s", cmdArgs[0], commandNames()))
		}
		fmt.Fprint(stdout, c.usage)
		return ExitOK
	}
	c, ok := commands[name]
	if !ok {
		return e.fail("", usageErrorf("unknown command %q; the commands are %s", name, commandNames()))
	}
	if err := c.run(ctx, e, cmdArgs); err != nil {
		if errors.Is(err, errHelp) {
			fmt.Fprint(stdout, c.usage)
			return ExitOK
		}
		return e.fail(name, interrupted(ctx, name, err))
	}
	return ExitOK
}

type command struct {
	run   func(ctx context.Context, e *env, args []string) error
	usage string
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"init":          {runInit, initUsage},
		"backup":        {runBackup, backupUsage},
		"snapshots":     {runSnapshots, snapshotsUsage},
		"restore":       {runRestore, restoreUsage},
		"check":         {runCheck, checkUsage},
		"forget":        {runForget, forgetUsage},
		"stats":         {runStats, statsUsage},
		"repair":        {runRepair, repairUsage},
		"migrate":       {runMigrate, migrateUsage},
		"archive":       {runArchive, archiveUsage},
		"timeline":      {runTimeline, timelineUsage},
		"track":         {runTrack, trackUsage},
		"changed-pages": {runChangedPages, changedPagesUsage},
	}
}

func commandNames() string {
	names := make([]string, 0, len(commands))
	for _, n := range commandOrder {
		if _, ok := commands[n]; ok {
			names = append(names, n)
		}
	}
	for n := range commands {
		if !slices.Contains(commandOrder, n) {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

var commandOrder = []string{"init", "backup", "archive", "track", "changed-pages", "snapshots", "timeline", "restore", "check", "forget", "stats", "repair", "migrate"}

// env is what a command runs with.
type env struct {
	stdout, stderr io.Writer
	opts           Options
	verbose        bool
	logger         hclog.Logger
	// secrets are the sensitive configuration values of the command, scrubbed from errors.
	secrets []string
}

// log is the hclog logger on stderr, named "host-example"; plugins log under it.
func (e *env) log() hclog.Logger {
	if e.logger == nil {
		level := hclog.Info
		if e.verbose {
			level = hclog.Debug
		}
		e.logger = hclog.New(&hclog.LoggerOptions{
			Name:   "host-example",
			Output: e.stderr,
			Level:  level,
		})
	}
	return e.logger
}

// interrupted makes the error of a command that a signal (ctx) ended say so, as
// docs/exit-codes.md promises, when the command did not already.
func interrupted(ctx context.Context, name string, err error) error {
	if ctx.Err() == nil || strings.HasPrefix(err.Error(), "interrupted") {
		return err
	}
	return fmt.Errorf("interrupted: %s did not finish: %w", name, err)
}

// fail prints err on stderr and returns its exit status.
func (e *env) fail(cmd string, err error) int {
	msg := shared.Redact(err.Error(), e.secrets...)
	prefix := "host-example"
	if cmd != "" {
		prefix += " " + cmd
	}
	if strings.Contains(msg, "\n") {
		fmt.Fprintf(e.stderr, "%s: error:\n  %s\n", prefix, strings.ReplaceAll(msg, "\n", "\n  "))
	} else {
		fmt.Fprintf(e.stderr, "%s: error: %s\n", prefix, msg)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		if cmd != "" {
			fmt.Fprintf(e.stderr, "Run \"host-example %s --help\" for usage.\n", cmd)
		} else {
			fmt.Fprintf(e.stderr, "Run \"host-example --help\" for usage.\n")
		}
		return ExitUsage
	}
	return ExitFailure
}

func (e *env) terminal() bool { return e.opts.Terminal(e.stderr) }

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// printf writes the command's result on stdout.
func (e *env) printf(format string, args ...any) {
	fmt.Fprintf(e.stdout, format, args...)
}

func lookupEnv(opts Options) func(string) (string, bool) {
	if opts.LookupEnv != nil {
		return opts.LookupEnv
	}
	return os.LookupEnv
}

const exitStatusHelp = `Exit status:
  0  success
  1  the command failed; the reason is printed on stderr
  2  usage error: unknown command or flag, missing or extra argument
`

var mainUsage = `host-example takes hot physical backups of MySQL/InnoDB through pagetrack source
plugins, stores them in a repository and restores them into new datadirs.

Usage:
  host-example [-v] COMMAND [FLAGS] [ARGS]

Commands:
  init       create a repository
  backup     take a backup (an incremental on the source's newest snapshot, or
             --full) and record it as a snapshot
  archive    follow the source's binary log and store it next to the snapshots
             (until stopped, or --until-now) for point-in-time recovery
  track      run the source's change tracker (redo → changed-page bitmaps) until
             stopped, so that incrementals survive server restarts
  changed-pages
             the pages the tracker recorded as changed in an LSN range
  snapshots  list the snapshots of a repository
  timeline   the recoverable windows: each snapshot through the archive after it
  restore    write a snapshot into a new datadir
  check      check the repository; --read-data reads and checks every page
  forget     remove snapshots a retention policy does not keep (chains are kept
             whole), --prune their data, and tell the plugin the tracking floor
  stats      stored against logical bytes, deduplication ratio, per snapshot
  repair     "repair snapshots": set aside snapshots that cannot be verified, so
             that forget and prune run again
  migrate    upgrade a format-2 repository to format 3 (checksummed snapshots)

Global flags:
  -v, --verbose   debug logs on stderr (also accepted after the command)
  -h, --help      this help; "host-example COMMAND --help" shows a command's flags

Example:
  host-example init -r /backups/repo
  host-example backup -c /etc/pagetrack/backup.hcl --full
  host-example backup -c /etc/pagetrack/backup.hcl
  host-example snapshots -r /backups/repo
  host-example restore -r /backups/repo latest --target /var/lib/mysql-restored --verify
  host-example check -r /backups/repo --read-data
  host-example forget -c /etc/pagetrack/backup.hcl --prune

Only results go to stdout; logs (hclog) and errors go to stderr.

` + exitStatusHelp
