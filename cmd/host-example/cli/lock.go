package cli

import (
	"context"
	"github.com/pagetrack/pagetrack/cmd/host-example/internal/config"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
)

// openRepo opens the repository in dir; it logs what it does on its own (stale locks it
// removes) through the command's logger.
// openRepoFor opens the repository a command names — by -r, or by the repository attribute
// of the optional config file — and, unless purpose is empty, locks it for purpose. release
// drops the lock (a no-op without one).
func (e *env) openRepoFor(ctx context.Context, repoFlag, cfgPath string, exclusive bool, purpose string) (cf *config.File, r *repo.Local, release func(), err error) {
	if cfgPath != "" {
		if cf, err = e.loadConfig(cfgPath); err != nil {
			return nil, nil, nil, err
		}
	}
	dir, err := repoPath(repoFlag, cf)
	if err != nil {
		return nil, nil, nil, err
	}
	if r, err = e.openRepo(dir); err != nil {
		return nil, nil, nil, err
	}
	release = func() {}
	if purpose != "" {
		if release, err = e.lockRepo(ctx, r, exclusive, purpose); err != nil {
			return nil, nil, nil, err
		}
	}
	return cf, r, release, nil
}

func (e *env) openRepo(dir string) (*repo.Local, error) {
	r, err := repo.Open(dir)
	if err != nil {
		return nil, err
	}
	r.SetLogger(e.log())
	return r, nil
}

// lockRepo locks r for the command: shared for backup, restore, check and stats (they go
// together), exclusive for forget (it needs the repository to itself). The returned function
// releases the lock; it is never nil.
func (e *env) lockRepo(ctx context.Context, r *repo.Local, exclusive bool, purpose string) (func(), error) {
	lk, err := r.Lock(ctx, exclusive, purpose)
	if err != nil {
		return func() {}, err
	}
	e.log().Debug("repository locked", "exclusive", exclusive, "purpose", purpose, "id", lk.Info().ID)
	return func() {
		if err := lk.Unlock(); err != nil {
			e.log().Warn("cannot release the repository lock", "error", err)
		}
	}, nil
}
