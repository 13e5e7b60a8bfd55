package cli

import (
	"context"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
)

const initUsage = `Usage:
  host-example init -r REPO [--compression off|fast|default|better]

Creates a repository in the directory REPO, which must be absent or empty. An existing
repository is never touched. The directory is created readable by its owner only: it will
hold copies of every table.

--compression is how backups compress what they add (config.json's "compression"): off
stores blobs as they are; fast (the default) writes runs of one byte (an InnoDB page's free
space) as run-length blocks, without entropy coding; default is zstd's default level, better
its "better compression" level. On InnoDB pages of random row data fast keeps 23.7 % of the
page bytes out of the repository, default 28.0 %, better 28.3 %, fast at a tenth of
default's CPU; off saves nothing. Text rows shrink further at default and better. A blob a
zstd level does not shrink by 1/16 is stored as it is. Restores read every setting.

Flags:
  -r, --repo REPO            directory to create the repository in (required)
      --compression SETTING  off, fast, default or better (default fast)
  -v, --verbose              debug logs on stderr

Example:
  host-example init -r /backups/repo

` + exitStatusHelp

func runInit(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("init")
	var dir, compression string
	stringFlag(fs, &dir, "r", "repo")
	stringFlag(fs, &compression, "compression")
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
	c, err := repo.ParseCompression(compression)
	if err != nil {
		return usageErrorf("%v", err)
	}
	r, err := repo.InitWith(dir, repo.InitOptions{Compression: c})
	if err != nil {
		return err
	}
	e.printf("created repository %s (id %s, compression %s)\n", r.Location(), r.Config().ID, r.Compression())
	return nil
}
