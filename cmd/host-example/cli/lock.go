package cli

import (
	"context"

	"github.com/pagetrack/pagetrack/cmd/host-example/internal/repo"
)

// openRepo opens the repository in dir; it logs what it does on its own (stale locks it
// removes) through the command's logger.
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
