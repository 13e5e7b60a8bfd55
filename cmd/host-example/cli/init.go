package cli

import (
	"context"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
)

const initUsage = `Usage:
  host-example init -r REPO

Creates a repository in the directory REPO, which must be absent or empty. An existing
repository is never touched. The directory is created readable by its owner only: it will
hold copies of every table.

Flags:
  -r, --repo REPO  directory to create the repository in (required)
  -v, --verbose    debug logs on stderr

Example:
  host-example init -r /backups/repo

` + exitStatusHelp

func runInit(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("init")
	var dir string
	stringFlag(fs, &dir, "r", "repo")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q (the repository is given with -r REPO)", pos[0])
	}
	if dir == "" {
		return usageErrorf("no repository: pass -r REPO")
	}
	r, err := repo.Init(dir)
	if err != nil {
		return err
	}
	e.printf("created repository %s (id %s)\n", r.Location(), r.Config().ID)
	return nil
}
