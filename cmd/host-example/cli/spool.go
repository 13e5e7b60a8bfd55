package cli

// restore --from imports its streams into a temporary repository, a directory named
// .host-example-restore-* under the target's parent (or --tmp). The process holds an flock on
// the directory's owner.lock for as long as it runs; the kernel drops the lock when the
// process dies, however it dies. A process killed with SIGKILL cannot remove its directory,
// so every restore --from first removes the ones in the same place whose lock nobody holds:
// the lock proves their owner is gone.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hashicorp/go-hclog"
)

const (
	spoolPrefix   = ".host-example-restore-"
	spoolLockName = "owner.lock"
)

// newSpool removes stale temporary repositories in parent and creates a new one, locked for
// this process. release removes it.
func newSpool(parent string, log hclog.Logger) (dir string, release func(), err error) {
	removeStaleSpools(parent, log)
	dir, err = os.MkdirTemp(parent, spoolPrefix)
	if err != nil {
		return "", nil, fmt.Errorf("creating the temporary repository: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, spoolLockName), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("locking the temporary repository %s: %w", dir, err)
	}
	return dir, func() {
		os.RemoveAll(dir)
		lock.Close()
	}, nil
}

// removeStaleSpools removes the temporary repositories in parent whose owner is gone. One
// without a lock file was left between its creation and its lock: it can only be empty, and
// only an empty one is removed.
func removeStaleSpools(parent string, log hclog.Logger) {
	dirs, _ := filepath.Glob(filepath.Join(parent, spoolPrefix+"*"))
	for _, dir := range dirs {
		lock, err := os.OpenFile(filepath.Join(dir, spoolLockName), os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			os.Remove(dir) // fails unless empty
			continue
		}
		if err != nil {
			continue
		}
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			if err := os.RemoveAll(dir); err != nil {
				log.Warn("cannot remove the temporary repository of a restore --from that no longer runs", "dir", dir, "error", err)
			} else {
				log.Info("removed the temporary repository of a restore --from that no longer runs", "dir", dir)
			}
		}
		lock.Close()
	}
}
