package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// CheckReport is what Check found. The repository is intact when OK.
type CheckReport struct {
	Snapshots  int   `json:"snapshots"`
	IndexFiles int   `json:"index_files"`
	Packs      int   `json:"packs"`
	PackBytes  int64 `json:"pack_bytes"`
	Blobs      int   `json:"blobs"`
	// ArchiveRecords counts the binlog archive's record files (checkArchive).
	ArchiveRecords int `json:"archive_records"`
	// ReadData: every blob was read and checked (SHA-256, and the pages by the source's page
	// check). PagesNotChecked says why pages were not checked, if they were not.
	ReadData        bool   `json:"read_data"`
	BlobsRead       uint64 `json:"blobs_read"`
	PagesChecked    uint64 `json:"pages_checked"`
	PagesNotChecked string `json:"pages_not_checked,omitempty"`
	// Errors is damage that is not (only) damage to a snapshot's data: damaged index files,
	// pack files whose framing is damaged, damaged blobs no snapshot needs.
	Errors []string `json:"errors"`
	// Damaged lists the snapshots whose restore would read damaged or missing data, oldest
	// first; Unaffected the others.
	Damaged    []SnapshotDamage `json:"damaged"`
	Unaffected []string         `json:"unaffected"`
	// Info is what is worth knowing and harms nothing: unreferenced packs and blobs, files
	// left in tmp/.
	Info []string `json:"info"`
}

// OK reports whether nothing is damaged.
func (r *CheckReport) OK() bool { return len(r.Errors) == 0 && len(r.Damaged) == 0 }

// SnapshotDamage is one snapshot whose restore would fail.
type SnapshotDamage struct {
	ID     string    `json:"id"`
	Source string    `json:"source"`
	Kind   string    `json:"kind"`
	Time   time.Time `json:"time"`
	// Problems, one per damaged item (a file's pages, redo, the record list, the chain).
	Problems []Problem `json:"problems"`
}

// Problem is damaged data a snapshot needs.
type Problem struct {
	// What names the data: a file path (with Pages), "redo at LSN N", "binlog NAME at offset
	// N", "file PATH at offset N", "its record list", "its chain".
	What string `json:"what"`
	// Pages are the page numbers of What that are damaged, when What is a tablespace.
	Pages []uint64 `json:"pages,omitempty"`
	// StoredIn is the snapshot whose record list holds the damaged data, when it is an
	// ancestor of this one (an incremental restores pages from its chain).
	StoredIn string `json:"stored_in,omitempty"`
	// Reason says what is wrong.
	Reason string `json:"reason"`
}

// blob reference flags (how snapshots use a blob).
const (
	refPage uint8 = 1 << iota
	refZipPage
	refData
	refTree
)

type checker struct {
	l      *Local
	ctx    context.Context
	idx    *Index
	report *CheckReport
	// damaged blob index entries and the reason; missing blobs are damaged by ID.
	damaged map[int32]string
	missing map[ID]bool
	refs    map[ID]uint8
	trees   map[string][][]byte
	treeErr map[string]error
	// bad are the snapshot files that do not verify; digestErr the snapshots whose stored
	// stream does not match its digest (read-data).
	bad       []BadSnapshot
	digestErr map[string]error
	pages     shared.PageChecker
}

// Check checks the repository: every snapshot's record list reads and decodes, every blob a
// snapshot refers to is in the index, and every pack the index lists is there with its size.
// With readData every pack is read whole: each blob must decompress and match its SHA-256,
// and a page blob must pass pages' check (the source's, shared.PageChecker; when pages is nil
// or declines, the report's PagesNotChecked says so). Damage is reported per snapshot: which
// data (file and page numbers, redo, …) its restore would find damaged.
func (l *Local) Check(ctx context.Context, readData bool, pages shared.PageChecker) (*CheckReport, error) {
	idx, problems, err := loadIndex(l.dir)
	if err != nil {
		return nil, err
	}
	c := &checker{l: l, ctx: ctx, idx: idx, report: &CheckReport{ReadData: readData, IndexFiles: len(idx.Files), Packs: idx.Packs(), Blobs: idx.Blobs()},
		damaged: map[int32]string{}, missing: map[ID]bool{}, refs: map[ID]uint8{}, trees: map[string][][]byte{}, treeErr: map[string]error{}, digestErr: map[string]error{}, pages: pages}
	for _, p := range problems {
		c.errorf("%v", p)
	}
	snaps, bad, err := l.ScanSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	c.bad = bad
	c.report.Snapshots = len(snaps) + len(bad)
	if err := c.checkPacks(); err != nil {
		return nil, err
	}
	if err := c.readTrees(snaps); err != nil {
		return nil, err
	}
	if readData {
		if err := c.readData(); err != nil {
			return nil, err
		}
		if err := c.digests(snaps); err != nil {
			return nil, err
		}
	}
	if err := c.checkArchive(); err != nil {
		return nil, err
	}
	c.unreferenced()
	if err := c.snapshots(snaps); err != nil {
		return nil, err
	}
	r := c.report
	for _, list := range []*[]string{&r.Errors, &r.Unaffected, &r.Info} {
		if *list == nil {
			*list = []string{}
		}
	}
	if r.Damaged == nil {
		r.Damaged = []SnapshotDamage{}
	}
	return r, nil
}

func (c *checker) errorf(format string, args ...any) {
	c.report.Errors = append(c.report.Errors, fmt.Sprintf(format, args...))
}

func (c *checker) infof(format string, args ...any) {
	c.report.Info = append(c.report.Info, fmt.Sprintf(format, args...))
}

func statPack(dir string, id ID) (int64, error) {
	fi, err := os.Stat(packPath(dir, id))
	if err != nil {
		if os.IsNotExist(err) {
			return 0, fmt.Errorf("%w: pack %s is missing", ErrCorrupt, describePack(id))
		}
		return 0, err
	}
	return fi.Size(), nil
}

// listPacks returns the pack files in REPO/data and their sizes.
func listPacks(dir string) (map[ID]int64, error) {
	out := map[ID]int64{}
	subs, err := os.ReadDir(filepath.Join(dir, dataDir))
	if err != nil {
		return nil, fmt.Errorf("listing packs: %w", err)
	}
	for _, sub := range subs {
		if !sub.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, dataDir, sub.Name()))
		if err != nil {
			return nil, fmt.Errorf("listing packs: %w", err)
		}
		for _, f := range files {
			id, err := ParseID(f.Name())
			if err != nil || !f.Type().IsRegular() {
				continue
			}
			fi, err := f.Info()
			if err != nil {
				continue
			}
			out[id] = fi.Size()
		}
	}
	return out, nil
}

// listTmp returns the files in REPO/tmp.
func listTmp(dir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, tmpDir))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", tmpDir, err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, filepath.Join(dir, tmpDir, e.Name()))
	}
	return out, nil
}

// checkPacks compares the index with the pack files on disk.
func (c *checker) checkPacks() error {
	onDisk, err := listPacks(c.l.dir)
	if err != nil {
		return err
	}
	byPack := c.idx.packEntries()
	for pos, p := range c.idx.packs {
		size, ok := onDisk[p.id]
		var reason string
		switch {
		case !ok:
			reason = fmt.Sprintf("pack %s is missing", describePack(p.id))
		case size != p.size:
			reason = fmt.Sprintf("pack %s is %d bytes, its index says %d", describePack(p.id), size, p.size)
		}
		if reason != "" {
			for _, e := range byPack[pos] {
				c.damaged[e] = reason
			}
			c.errorf("%s", reason)
		}
	}
	var unindexed []string
	var unindexedBytes int64
	for id, size := range onDisk {
		c.report.PackBytes += size
		if _, ok := c.idx.packPos[id]; !ok {
			unindexed = append(unindexed, describePack(id))
			unindexedBytes += size
		}
	}
	if len(unindexed) > 0 {
		sort.Strings(unindexed)
		c.infof("%d pack(s) (%d bytes) are listed in no index: written by a backup that was interrupted (or that runs now); `forget --prune` removes them: %s",
			len(unindexed), unindexedBytes, abbreviateList(unindexed, 5))
	}
	tmp, err := listTmp(c.l.dir)
	if err != nil {
		return err
	}
	if len(tmp) > 0 {
		c.infof("%d file(s) in %s/ were left by an interrupted command (or belong to one that runs now); `forget --prune` removes them: %s",
			len(tmp), tmpDir, abbreviateList(tmp, 5))
	}
	return nil
}

// readTrees reads every snapshot's record list and notes every blob it refers to.
func (c *checker) readTrees(snaps []*Snapshot) error {
	r, err := newBlobReader(c.l.dir, c.idx)
	if err != nil {
		return err
	}
	defer r.close()
	for _, s := range snaps {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		for _, id := range s.Tree {
			c.ref(id, refTree)
		}
		tree, err := r.readTree(s)
		if err != nil {
			c.treeErr[s.ID] = err
			continue
		}
		files := map[uint32]*shared.Tablespace{}
		err = eachItem(s.ID, tree, func(it *item) error {
			if t := it.rec.Tablespace; t != nil {
				files[t.FileIndex] = t
			}
			flag := refData
			if b := it.rec.Pages; b != nil {
				flag = refPage
				if t := files[b.FileIndex]; t != nil && t.ZipSize != 0 {
					flag = refZipPage
				}
			}
			for _, id := range it.blobs {
				c.ref(id, flag)
			}
			return nil
		})
		if err != nil {
			c.treeErr[s.ID] = err
			continue
		}
		c.trees[s.ID] = tree
	}
	c.report.BlobsRead += r.stats.TreeBlobs
	return nil
}

func (c *checker) ref(id ID, flag uint8) {
	c.refs[id] |= flag
	if !c.idx.Has(id) {
		c.missing[id] = true
	}
}

// readData reads every pack the index lists (and that is there with its size) and checks
// every blob in it.
func (c *checker) readData() error {
	dec, err := newBlobReader(c.l.dir, c.idx)
	if err != nil {
		return err
	}
	defer dec.close()
	byPack := c.idx.packEntries()
	pages := newPageCheck(c, c.pages)
	for pos, p := range c.idx.packs {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		entries := byPack[pos]
		if len(entries) > 0 && c.damaged[entries[0]] != "" {
			continue // missing or of the wrong size: reported
		}
		b, err := os.ReadFile(packPath(c.l.dir, p.id))
		if err != nil {
			return fmt.Errorf("reading pack %s: %w", describePack(p.id), err)
		}
		hashOK := Hash(b) == p.id
		header, herr := parsePack(b)
		if herr == nil && !sameEntries(header, c.idx.entries, entries) {
			herr = fmt.Errorf("its header does not list the blobs its index lists")
		}
		blobsOK := true
		for _, e := range entries {
			be := c.idx.entries[e]
			data, err := dec.decode(be, b[be.offset:be.offset+be.length])
			c.report.BlobsRead++
			if err != nil {
				c.damaged[e] = strings.TrimPrefix(err.Error(), ErrCorrupt.Error()+": ")
				blobsOK = false
				continue
			}
			flags := c.refs[be.id]
			for _, zip := range []bool{false, true} {
				if (!zip && flags&refPage == 0) || (zip && flags&refZipPage == 0) {
					continue
				}
				where := fmt.Sprintf("blob %s in pack %s at offset %d", be.id.Short(), describePack(p.id), be.offset)
				if err := pages.add(e, zip, data, where); err != nil {
					return err
				}
			}
		}
		if err := pages.flush(); err != nil {
			return err
		}
		for _, e := range entries {
			blobsOK = blobsOK && c.damaged[e] == ""
		}
		switch {
		case herr != nil:
			c.errorf("pack %s is damaged: %v (its blobs were checked through the index)", describePack(p.id), herr)
		case !hashOK && blobsOK:
			c.errorf("pack %s does not match its name (SHA-256), but every blob in it checks out: the damage is outside the blobs", describePack(p.id))
		}
	}
	return nil
}

func sameEntries(header []packEntry, all []blobEntry, entries []int32) bool {
	if len(header) != len(entries) {
		return false
	}
	want := map[packEntry]bool{}
	for _, e := range entries {
		be := all[e]
		want[packEntry{Type: be.typ, ID: be.id, Offset: be.offset, Length: be.length, Raw: be.raw}] = true
	}
	for _, h := range header {
		if !want[h] {
			return false
		}
	}
	return true
}

// unreferenced reports blobs no snapshot refers to, and damaged ones among them.
func (c *checker) unreferenced() {
	var n int
	var bytes int64
	for e, be := range c.idx.entries {
		id := be.id
		if !c.idx.first(int32(e)) || c.refs[id] != 0 {
			continue
		}
		n++
		bytes += int64(c.idx.entries[e].length)
		if reason := c.damaged[int32(e)]; reason != "" && c.report.ReadData {
			c.errorf("an unreferenced blob is damaged (%s): no snapshot needs it, but a later backup could store a reference to it; `forget --prune` removes it", reason)
		}
	}
	if n > 0 {
		c.infof("%d blob(s) (%d bytes compressed) are referenced by no snapshot: left by an interrupted backup or by forgotten snapshots; `forget --prune` removes them", n, bytes)
	}
}

// damage says whether the blob id is damaged, and why.
func (c *checker) damage(id ID) (string, bool) {
	if c.missing[id] {
		return fmt.Sprintf("blob %s is missing from the index", id.Short()), true
	}
	e := c.idx.lookup(id)
	if e < 0 {
		return fmt.Sprintf("blob %s is missing from the index", id.Short()), true
	}
	r, bad := c.damaged[e]
	return r, bad
}

// snapshots decides, per snapshot, what its restore would find damaged.
func (c *checker) snapshots(snaps []*Snapshot) error {
	unverified := map[string]bool{}
	for _, b := range c.bad {
		unverified[b.ID] = true
		c.report.Damaged = append(c.report.Damaged, SnapshotDamage{ID: b.ID, Problems: []Problem{{What: "its snapshot file", Reason: b.Reason + "; `host-example repair snapshots` sets it aside"}}})
	}
	anyDamage := len(c.damaged) > 0 || len(c.missing) > 0
	for _, s := range snaps {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		d := &damageSet{}
		if err := c.treeErr[s.ID]; err != nil {
			d.add(Problem{What: "its record list", Reason: reasonOf(err)}, -1)
		}
		if err := c.digestErr[s.ID]; err != nil {
			d.add(Problem{What: "its stream", Reason: reasonOf(err)}, -1)
		}
		chain, err := ResolveChain(snaps, s, c.l.dir)
		if err != nil {
			reason := err.Error()
			if unverified[s.Parent] {
				reason = fmt.Sprintf("its chain is broken: it builds on snapshot %s, which cannot be verified", s.Parent)
			}
			d.add(Problem{What: "its chain", Reason: reason}, -1)
		} else {
			for _, p := range chain[1:] {
				if err := c.treeErr[p.ID]; err != nil {
					d.add(Problem{What: "its chain", StoredIn: p.ID, Reason: "the record list of snapshot " + p.ID + " is damaged: " + reasonOf(err)}, -1)
				}
			}
		}
		if len(d.problems) == 0 {
			if len(chain) == 1 {
				if anyDamage {
					c.fullDamage(s, d)
				}
			} else if err := c.chainDamage(chain, d, anyDamage); err != nil {
				return err
			}
		}
		if len(d.problems) == 0 {
			c.report.Unaffected = append(c.report.Unaffected, s.ID)
			continue
		}
		for i := range d.problems {
			pages := d.problems[i].Pages
			sort.Slice(pages, func(a, b int) bool { return pages[a] < pages[b] })
			d.problems[i].Pages = slices.Compact(pages)
		}
		c.report.Damaged = append(c.report.Damaged, SnapshotDamage{ID: s.ID, Source: s.Source, Kind: s.Kind, Time: s.Time, Problems: d.problems})
	}
	return nil
}

// fullDamage: a full snapshot is restored from every record it stored.
func (c *checker) fullDamage(s *Snapshot, d *damageSet) {
	files := map[uint32]*shared.Tablespace{}
	eachItem(s.ID, c.trees[s.ID], func(it *item) error {
		if t := it.rec.Tablespace; t != nil {
			files[t.FileIndex] = t
		}
		for k, id := range it.blobs {
			reason, bad := c.damage(id)
			if !bad {
				continue
			}
			if b := it.rec.Pages; b != nil {
				path := fmt.Sprintf("file index %d", b.FileIndex)
				if t := files[b.FileIndex]; t != nil {
					path = t.Path
				}
				d.add(Problem{What: path, Reason: reason}, batchPage(b, k))
				continue
			}
			d.add(Problem{What: describeItem(it, k, ""), Reason: reason}, -1)
		}
		return nil
	})
}

// chainDamage: an incremental is restored from the plan of its chain.
func (c *checker) chainDamage(chain []*Snapshot, d *damageSet, anyDamage bool) error {
	plan, err := makePlan(c.ctx, c.idx, chain, func(s *Snapshot) ([][]byte, error) { return c.trees[s.ID], nil })
	if err != nil {
		if c.ctx.Err() != nil {
			return err
		}
		d.add(Problem{What: "its chain", Reason: reasonOf(err)}, -1)
		return nil
	}
	if !anyDamage {
		return nil
	}
	target := chain[0].ID
	return plan.visit(func(u blobUse) error {
		reason, bad := c.damage(u.id)
		if !bad {
			return nil
		}
		if u.page < 0 {
			d.add(Problem{What: u.what, Reason: reason}, -1)
			return nil
		}
		prob := Problem{What: u.path, Reason: reason}
		if u.snap.ID != target {
			prob.StoredIn = u.snap.ID
		}
		d.add(prob, u.page)
		return nil
	})
}

func reasonOf(err error) string {
	if de, ok := err.(*DamageError); ok {
		return de.What + ": " + strings.TrimPrefix(de.Err.Error(), ErrCorrupt.Error()+": ")
	}
	return strings.TrimPrefix(err.Error(), ErrCorrupt.Error()+": ")
}

// damageSet collects problems, merging the pages of one file with one reason.
type damageSet struct {
	problems []Problem
	at       map[problemKey]int
}

type problemKey struct{ what, storedIn, reason string }

func (d *damageSet) add(p Problem, page int64) {
	key := problemKey{p.What, p.StoredIn, p.Reason}
	if d.at == nil {
		d.at = map[problemKey]int{}
	}
	i, ok := d.at[key]
	if !ok {
		i = len(d.problems)
		d.at[key] = i
		p.Pages = nil
		d.problems = append(d.problems, p)
	}
	if page >= 0 {
		d.problems[i].Pages = append(d.problems[i].Pages, uint64(page))
	}
}

func abbreviateList(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	var b bytes.Buffer
	b.WriteString(strings.Join(items[:n], ", "))
	fmt.Fprintf(&b, " and %d more", len(items)-n)
	return b.String()
}

// digests reads every snapshot's stored stream and recomputes its digest (shared.Digester):
// the records must match the trailer's digest and count, and the trailer the metadata
// (OpenSnapshot checks that before the first record). A stream that cannot be read is left to
// the blob damage already found.
func (c *checker) digests(snaps []*Snapshot) error {
	for _, s := range snaps {
		if c.treeErr[s.ID] != nil {
			continue
		}
		err := c.l.digestStream(c.ctx, s)
		if c.ctx.Err() != nil {
			return c.ctx.Err()
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			return err
		}
		if err != nil && c.damagedBlobsOnly(err) {
			continue
		}
		if err != nil {
			c.digestErr[s.ID] = err
		}
	}
	return nil
}

// damagedBlobsOnly reports whether err is a read of a blob check already found damaged.
func (c *checker) damagedBlobsOnly(err error) bool {
	var de *DamageError
	return errors.As(err, &de) && de.What != "its stream" && (len(c.damaged) > 0 || len(c.missing) > 0)
}

// digestStream reads s's stored stream and checks it against its trailer's digest.
func (l *Local) digestStream(ctx context.Context, s *Snapshot) error {
	sr, err := l.OpenSnapshot(ctx, s)
	if err != nil {
		return err
	}
	defer sr.Close()
	dig := shared.NewDigester()
	for {
		rec, err := sr.Next()
		if err == io.EOF {
			return &DamageError{Snapshot: s.ID, What: "its stream", Err: fmt.Errorf("%w: it ends without a trailer", ErrCorrupt)}
		}
		if err != nil {
			return err
		}
		if rec.Trailer == nil {
			dig.Add(rec)
			continue
		}
		if err := dig.Check(rec.Trailer); err != nil {
			return &DamageError{Snapshot: s.ID, What: "its stream", Err: fmt.Errorf("%w: %v", ErrCorrupt, err)}
		}
		return nil
	}
}
