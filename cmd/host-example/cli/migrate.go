package cli

import (
	"context"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/config"
	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
)

const migrateUsage = `Usage:
  host-example migrate -r REPO

Upgrades a repository of format 2 to the format this host-example reads (3), in place: every
snapshot file gets a checksum, after its metadata was checked against the header and trailer
of its record list. A snapshot that fails that check is set aside into REPO/quarantine/ (see
"host-example repair snapshots"), never given a checksum. The format in config.json is changed
last, so an interrupted migration is simply run again. A repository already at format 3 is
left as it is. migrate takes an exclusive lock.

Flags:
  -r, --repo REPO      repository (or -c CONFIG with repository = "…" in it)
  -c, --config CONFIG  configuration file; used for its repository
  -v, --verbose        debug logs on stderr

Example:
  host-example migrate -r /backups/repo

` + exitStatusHelp

func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("migrate")
	var repoFlag, cfgPath string
	stringFlag(fs, &repoFlag, "r", "repo")
	stringFlag(fs, &cfgPath, "c", "config")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q (the repository is given with -r REPO)", pos[0])
	}
	var cf *config.File
	if cfgPath != "" {
		if cf, err = e.loadConfig(cfgPath); err != nil {
			return err
		}
	}
	dir, err := repoPath(repoFlag, cf)
	if err != nil {
		return err
	}
	rep, err := repo.Migrate(ctx, dir)
	if err != nil {
		return err
	}
	if rep.From == rep.To {
		e.printf("repository %s is at format %d already: nothing to do\n", dir, rep.To)
		return nil
	}
	for _, b := range rep.SetAside {
		e.printf("set aside snapshot %s: %s\n", b.ID, b.Reason)
	}
	e.printf("migrated repository %s from format %d to %d: %d snapshot file(s) checksummed, %d set aside into %s/quarantine\n",
		dir, rep.From, rep.To, len(rep.Migrated), len(rep.SetAside), dir)
	return nil
}
