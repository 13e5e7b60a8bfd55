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
	"time"
)

// quarantineDir holds the snapshot files `repair snapshots` (SetAside) and `migrate` set
// aside: REPO/quarantine/ID.json as it was, and ID.reason.txt saying why. It is created when
// first needed; nothing reads it.
const quarantineDir = "quarantine"

// VerifySnapshots checks what forget and prune act on, for every snapshot: its file's
// checksum, its metadata against its record list's header and trailer (the record list's first
// and last blob are read), and its chain (every parent there and verified, of the same source,
// its checkpoint the base the child was taken on, no loop). It returns the snapshots that pass,
// oldest first, and the others with the reason. A snapshot whose parent fails fails too.
func (l *Local) VerifySnapshots(ctx context.Context) ([]*Snapshot, []BadSnapshot, error) {
	snaps, bad, err := l.ScanSnapshots(ctx)
	if err != nil {
		return nil, nil, err
	}
	idx, err := l.Index()
	if err != nil {
		return nil, nil, err
	}
	r, err := newBlobReader(l.dir, idx)
	if err != nil {
		return nil, nil, err
	}
	defer r.close()
	var good []*Snapshot
	for _, s := range snaps {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if err := r.verifyEnds(s); err != nil {
			bad = append(bad, BadSnapshot{ID: s.ID, Path: l.snapshotPath(s.ID), Reason: reasonOf(err)})
			continue
		}
		good = append(good, s)
	}
	good, broken := brokenChains(good, bad, l.dir)
	for _, b := range broken {
		b.Path = l.snapshotPath(b.ID)
		bad = append(bad, b)
	}
	sort.Slice(bad, func(i, j int) bool { return bad[i].ID < bad[j].ID })
	return good, bad, nil
}

// brokenChains splits snaps into those whose chain resolves among them and those whose chain
// is broken, repeating until no snapshot builds on one that was split off.
func brokenChains(snaps []*Snapshot, bad []BadSnapshot, location string) (good []*Snapshot, broken []BadSnapshot) {
	unverified := map[string]bool{}
	for _, b := range bad {
		unverified[b.ID] = true
	}
	for {
		good = good[:0:0]
		var more []BadSnapshot
		for _, s := range snaps {
			if _, err := ResolveChain(snaps, s, location); err != nil {
				reason := err.Error()
				if unverified[s.Parent] {
					reason = fmt.Sprintf("its chain is broken: it builds on snapshot %s, which cannot be verified", s.Parent)
				}
				more = append(more, BadSnapshot{ID: s.ID, Reason: reason})
				continue
			}
			good = append(good, s)
		}
		if len(more) == 0 {
			return good, broken
		}
		for _, b := range more {
			unverified[b.ID] = true
		}
		broken = append(broken, more...)
		snaps = good
	}
}

// RefuseUnverified is the error forget and prune return when bad is not empty: it names every
// snapshot and the way out.
func RefuseUnverified(location string, bad []BadSnapshot) error {
	if len(bad) == 0 {
		return nil
	}
	var b strings.Builder
	for _, s := range bad {
		fmt.Fprintf(&b, "\n  %v", s)
	}
	return fmt.Errorf("%w: retention acts on every snapshot's parent, kind, time and checkpoint, and %d snapshot(s) cannot be verified, so nothing was forgotten or pruned:%s\n%s",
		ErrUnverified, len(bad), b.String(), repairHint(location))
}

// SetAside moves the snapshot files of bad into REPO/quarantine/, each with a file saying why,
// so that the other snapshots can be retained and pruned again. Nothing is deleted: a file set
// aside can be moved back. It needs an exclusive lock (Lock). It returns the paths the files
// were moved to.
func (l *Local) SetAside(ctx context.Context, bad []BadSnapshot) ([]string, error) {
	if !l.holdsExclusive() {
		return nil, errors.New("setting snapshots aside needs an exclusive lock on the repository")
	}
	dir := filepath.Join(l.dir, quarantineDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	var moved []string
	for _, b := range bad {
		if err := ctx.Err(); err != nil {
			return moved, err
		}
		to, err := l.setAsideOne(dir, b)
		if err != nil {
			return moved, err
		}
		moved = append(moved, to)
	}
	return moved, nil
}

func (l *Local) setAsideOne(dir string, b BadSnapshot) (string, error) {
	if !validID(b.ID) {
		return "", fmt.Errorf("%q is not a snapshot id", b.ID)
	}
	name := b.ID
	for i := 1; ; i++ { // never overwrite what an earlier repair set aside
		if _, err := os.Lstat(filepath.Join(dir, name+".json")); os.IsNotExist(err) {
			break
		}
		name = fmt.Sprintf("%s.%d", b.ID, i)
	}
	note := fmt.Sprintf("snapshot %s was set aside on %s by `host-example repair snapshots`:\n%s\n", b.ID, time.Now().UTC().Format(time.RFC3339), b.Reason)
	tmp := filepath.Join(l.dir, tmpDir, name+".reason"+partialExt)
	if err := writeFileAtomic(tmp, filepath.Join(dir, name+".reason.txt"), []byte(note)); err != nil {
		return "", fmt.Errorf("setting snapshot %s aside: %w", b.ID, err)
	}
	to := filepath.Join(dir, name+".json")
	if err := os.Rename(l.snapshotPath(b.ID), to); err != nil {
		return "", fmt.Errorf("setting snapshot %s aside: %w", b.ID, err)
	}
	for _, d := range []string{dir, filepath.Join(l.dir, snapshotsDir)} {
		if err := syncDir(d); err != nil {
			return "", err
		}
	}
	return to, nil
}

// MigrateReport says what Migrate did.
type MigrateReport struct {
	From, To int
	// Migrated are the snapshots whose files were rewritten with a checksum; SetAside the
	// ones whose metadata did not match their record list (see SetAside), with why.
	Migrated []string
	SetAside []BadSnapshot
}

// Migrate upgrades the repository in dir from format 2 to FormatVersion (3): every snapshot
// file gets its checksum, after its metadata was checked against its record list's header and
// trailer; a snapshot that fails that check is set aside into REPO/quarantine/, never given a
// checksum it does not deserve. config.json is rewritten last, so an interrupted migration is
// simply run again. A repository already at format 3 is left as it is.
func Migrate(ctx context.Context, dir string) (*MigrateReport, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	rep := &MigrateReport{From: cfg.Format, To: FormatVersion}
	switch cfg.Format {
	case FormatVersion:
		return rep, nil
	case 2:
	default:
		return nil, fmt.Errorf("repository %s has format %d; this host-example migrates format 2 only", dir, cfg.Format)
	}
	l, err := openLocal(dir, cfg)
	if err != nil {
		return nil, err
	}
	lk, err := l.Lock(ctx, true, "migrate")
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	if err := l.migrateSnapshots(ctx, rep); err != nil {
		return nil, err
	}
	cfg.Format = FormatVersion
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, tmpDir, configFile+partialExt), filepath.Join(dir, configFile), append(data, '\n')); err != nil {
		return nil, fmt.Errorf("writing repository config: %w", err)
	}
	return rep, nil
}

func (l *Local) migrateSnapshots(ctx context.Context, rep *MigrateReport) error {
	idx, err := l.Index()
	if err != nil {
		return err
	}
	r, err := newBlobReader(l.dir, idx)
	if err != nil {
		return err
	}
	defer r.close()
	entries, err := os.ReadDir(filepath.Join(l.dir, snapshotsDir))
	if err != nil {
		return fmt.Errorf("listing snapshots: %w", err)
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !validID(id) || !e.Type().IsRegular() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := os.ReadFile(l.snapshotPath(id))
		if err != nil {
			return fmt.Errorf("reading snapshot %s: %w", id, err)
		}
		if _, err := DecodeSnapshotFile(id, data); err == nil {
			continue // migrated by an earlier run that was interrupted
		}
		s, err := decodeFormat2(id, data)
		if err == nil {
			err = r.verifyEnds(s)
		}
		if err == nil {
			err = l.writeSnapshotFile(s)
			if err != nil {
				return fmt.Errorf("rewriting snapshot %s: %w", id, err)
			}
			rep.Migrated = append(rep.Migrated, id)
			continue
		}
		b := BadSnapshot{ID: id, Path: l.snapshotPath(id), Reason: reasonOf(err)}
		if _, serr := l.SetAside(ctx, []BadSnapshot{b}); serr != nil {
			return serr
		}
		rep.SetAside = append(rep.SetAside, b)
	}
	return nil
}

// decodeFormat2 reads a format-2 snapshot file: the Snapshot's JSON, without a checksum.
func decodeFormat2(id string, data []byte) (*Snapshot, error) {
	var s Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("its file does not parse: %v", err)
	}
	if s.ID != id {
		return nil, fmt.Errorf("its file names snapshot id %q", s.ID)
	}
	return &s, nil
}
