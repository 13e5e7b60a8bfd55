package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Locks: every process that uses a repository writes REPO/locks/ID.json while it does. Shared
// locks (backup, restore, check) go together; an exclusive lock (forget, prune) needs the
// repository to itself: it is refused while any other lock exists, and any lock is refused
// while an exclusive one exists. Two processes that lock at the same instant both see each
// other's file (each writes its own before it looks), so at worst both are refused.
//
// A lock of a process that is gone is stale and removed by the next process that looks: on the
// same host, when its pid no longer runs; from another host, when its time was not refreshed
// for lockStale (a holder rewrites its lock every lockRefresh).
const (
	lockRefresh = 5 * time.Minute
	lockStale   = 30 * time.Minute
)

// LockInfo is the content of a lock file.
type LockInfo struct {
	ID        string    `json:"id"`
	PID       int       `json:"pid"`
	Hostname  string    `json:"hostname"`
	Time      time.Time `json:"time"`
	Exclusive bool      `json:"exclusive"`
	// Purpose is the command that holds the lock ("backup", "forget --prune").
	Purpose string `json:"purpose"`
}

func (i LockInfo) describe() string {
	kind := "a shared"
	if i.Exclusive {
		kind = "an exclusive"
	}
	purpose := ""
	if i.Purpose != "" {
		purpose = fmt.Sprintf(" for %q", i.Purpose)
	}
	return fmt.Sprintf("pid %d on host %s holds %s lock%s since %s", i.PID, i.Hostname, kind, purpose, i.Time.Local().Format("2006-01-02 15:04:05 MST"))
}

// LockedError is the refusal of a lock.
type LockedError struct {
	Repo   string
	Holder LockInfo
	// Path is the holder's lock file.
	Path string
	// Wanted is the purpose of the refused lock; Exclusive whether it was exclusive.
	Wanted    string
	Exclusive bool
}

func (e *LockedError) Error() string {
	need := "needs to share it"
	if e.Exclusive {
		need = "needs it to itself"
	}
	return fmt.Sprintf("repository %s is locked: %s (%s); %s %s. Try again when that is done; if that process is gone, remove %s",
		e.Repo, e.Holder.describe(), e.Path, e.Wanted, need, e.Path)
}

// Lock is a held lock.
type Lock struct {
	repo *Local
	info LockInfo
	path string
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown"
	}
	return h
}

// Lock takes a lock on the repository for purpose (a command name, for messages). Stale locks
// are removed, each with a log line. The returned lock refreshes itself until Unlock.
func (l *Local) Lock(ctx context.Context, exclusive bool, purpose string) (*Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	info := LockInfo{ID: randomHex(8), PID: os.Getpid(), Hostname: hostname(), Time: time.Now().UTC(), Exclusive: exclusive, Purpose: purpose}
	lk := &Lock{repo: l, info: info, path: filepath.Join(l.dir, locksDir, info.ID+".json"), stop: make(chan struct{})}
	if err := lk.write(); err != nil {
		return nil, fmt.Errorf("locking repository %s: %w", l.dir, err)
	}
	others, err := l.readLocks(info.ID)
	if err != nil {
		os.Remove(lk.path)
		return nil, err
	}
	for _, o := range others {
		if o.err != nil {
			// A lock that does not parse (a crash while it was written) is stale once old.
			if fi, err := os.Stat(o.path); err == nil && time.Since(fi.ModTime()) > lockStale {
				if err := os.Remove(o.path); err == nil || os.IsNotExist(err) {
					l.logger.Info(fmt.Sprintf("removed stale lock %s: it cannot be read (%v) and is %s old", o.path, o.err, time.Since(fi.ModTime()).Round(time.Second)))
					continue
				}
			}
			os.Remove(lk.path)
			return nil, fmt.Errorf("repository %s: lock file %s cannot be read (%v); remove it if no process uses the repository", l.dir, o.path, o.err)
		}
		if stale, why := o.info.stale(info.Hostname); stale {
			if err := os.Remove(o.path); err != nil && !os.IsNotExist(err) {
				os.Remove(lk.path)
				return nil, fmt.Errorf("removing stale lock %s: %w", o.path, err)
			}
			l.logger.Info(fmt.Sprintf("removed stale lock %s: %s (%s)", o.path, o.info.describe(), why))
			continue
		}
		if exclusive || o.info.Exclusive {
			os.Remove(lk.path)
			return nil, &LockedError{Repo: l.dir, Holder: o.info, Path: o.path, Wanted: purpose, Exclusive: exclusive}
		}
	}
	l.mu.Lock()
	l.locks++
	if exclusive {
		l.exclusive++
	}
	l.mu.Unlock()
	lk.wg.Add(1)
	go lk.refresh()
	return lk, nil
}

func (i LockInfo) stale(host string) (bool, string) {
	if i.Hostname == host {
		if !pidAlive(i.PID) {
			return true, fmt.Sprintf("process %d no longer runs", i.PID)
		}
		return false, ""
	}
	if age := time.Since(i.Time); age > lockStale {
		return true, fmt.Sprintf("not refreshed for %s", age.Round(time.Second))
	}
	return false, ""
}

func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func (lk *Lock) write() error {
	data, err := json.MarshalIndent(lk.info, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(lk.repo.dir, tmpDir, "lock-"+lk.info.ID+partialExt)
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, lk.path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(lk.path))
}

func (lk *Lock) refresh() {
	defer lk.wg.Done()
	t := time.NewTicker(lockRefresh)
	defer t.Stop()
	for {
		select {
		case <-lk.stop:
			return
		case <-t.C:
			lk.info.Time = time.Now().UTC()
			if err := lk.write(); err != nil {
				lk.repo.logger.Warn("cannot refresh the repository lock", "path", lk.path, "error", err)
			}
		}
	}
}

// Unlock releases the lock. It may be called on nil and more than once.
func (lk *Lock) Unlock() error {
	if lk == nil {
		return nil
	}
	var err error
	lk.once.Do(func() {
		close(lk.stop)
		lk.wg.Wait()
		if rerr := os.Remove(lk.path); rerr != nil && !os.IsNotExist(rerr) {
			err = fmt.Errorf("removing lock %s: %w", lk.path, rerr)
		}
		lk.repo.mu.Lock()
		lk.repo.locks--
		if lk.info.Exclusive {
			lk.repo.exclusive--
		}
		lk.repo.mu.Unlock()
	})
	return err
}

// Info is the lock's content.
func (lk *Lock) Info() LockInfo { return lk.info }

func (l *Local) holdsLock() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.locks > 0
}

func (l *Local) holdsExclusive() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.exclusive > 0
}

type lockFile struct {
	path string
	info LockInfo
	err  error
}

// readLocks reads every lock file but the one with id except.
func (l *Local) readLocks(except string) ([]lockFile, error) {
	dir := filepath.Join(l.dir, locksDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing locks: %w", err)
	}
	var out []lockFile
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || id == except || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue // released meanwhile
		}
		lf := lockFile{path: path, err: err}
		if err == nil {
			lf.err = json.Unmarshal(data, &lf.info)
		}
		out = append(out, lf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].info.Time.Before(out[j].info.Time) })
	return out, nil
}
