package repo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// The binlog archive (see doc.go, "Archive"): REPO/archive/SOURCE/SEQ.json, one archive
// record per stored segment, SEQ its 12-digit sequence number from 1, each checksummed like a
// snapshot file and written last, after the blobs it names are durable.

const (
	archiveDir          = "archive"
	archiveRecordFormat = 1
)

// ArchiveRecord is one stored segment of a source's binlog archive.
type ArchiveRecord struct {
	Source string `json:"source"`
	Seq    uint64 `json:"seq"`
	// Restart says the record begins a new chain: Before is where archiving started again
	// (a snapshot's GTID set), not the end of the record before it.
	Restart bool `json:"restart"`
	// Before is the archive's end before this segment: the first record present starts its
	// chain from it, every other must equal the previous records' end.
	Before ArchivePosition `json:"before"`
	// Format is the segment's shared.ArchiveFormat.
	Format       uint32      `json:"archive_format"`
	File         string      `json:"file"`
	Start        uint64      `json:"start"`
	End          uint64      `json:"end"`
	FileEnd      bool        `json:"file_end"`
	GTIDs        string      `json:"gtids"`
	Transactions uint64      `json:"transactions"`
	FirstCommit  time.Time   `json:"first_commit"`
	LastCommit   time.Time   `json:"last_commit"`
	Last         *ArchiveTxn `json:"last"`
	// FormatDescription is the blob of the file's format description event.
	FormatDescription ID `json:"format_description"`
	// Data are the blobs of the segment's bytes, 1 MiB pieces in order; DataSHA256 is the
	// SHA-256 of all of them.
	Data       []ID      `json:"data"`
	DataSHA256 string    `json:"data_sha256"`
	StoredAt   time.Time `json:"stored_at"`
}

// ArchivePosition is shared.ArchivePoint's stored form.
type ArchivePosition struct {
	GTIDs     string      `json:"gtids"`
	File      string      `json:"file"`
	Pos       uint64      `json:"pos"`
	FileEnded bool        `json:"file_ended"`
	Last      *ArchiveTxn `json:"last"`
}

// ArchiveTxn is shared.ArchiveTransaction's stored form (digest in hex).
type ArchiveTxn struct {
	GTID   string    `json:"gtid"`
	File   string    `json:"file"`
	Start  uint64    `json:"start"`
	End    uint64    `json:"end"`
	Commit time.Time `json:"commit"`
	Digest string    `json:"sha256"`
}

func txnToRepo(t *shared.ArchiveTransaction) *ArchiveTxn {
	if t == nil {
		return nil
	}
	return &ArchiveTxn{GTID: t.GTID, File: t.File, Start: t.Start, End: t.End, Commit: t.Commit.UTC(), Digest: hex.EncodeToString(t.Digest[:])}
}

func (t *ArchiveTxn) shared() (*shared.ArchiveTransaction, error) {
	if t == nil {
		return nil, nil
	}
	out := &shared.ArchiveTransaction{GTID: t.GTID, File: t.File, Start: t.Start, End: t.End, Commit: t.Commit}
	d, err := hex.DecodeString(t.Digest)
	if err != nil || len(d) != 32 {
		return nil, fmt.Errorf("transaction %s has a malformed digest %q", t.GTID, t.Digest)
	}
	copy(out.Digest[:], d)
	return out, nil
}

// PositionOf is p's stored form.
func PositionOf(p shared.ArchivePoint) ArchivePosition {
	return ArchivePosition{GTIDs: p.GTIDs, File: p.File, Pos: p.Pos, FileEnded: p.FileEnded, Last: txnToRepo(p.Last)}
}

// Point is the position as the contract's point.
func (p ArchivePosition) Point() (shared.ArchivePoint, error) {
	last, err := p.Last.shared()
	return shared.ArchivePoint{GTIDs: p.GTIDs, File: p.File, Pos: p.Pos, FileEnded: p.FileEnded, Last: last}, err
}

// Head is the record's segment without its bytes, for shared.ArchivePoint.Continue.
func (r *ArchiveRecord) Head() (*shared.ArchiveSegment, error) {
	last, err := r.Last.shared()
	if err != nil {
		return nil, err
	}
	return &shared.ArchiveSegment{Format: r.Format, File: r.File, Start: r.Start, End: r.End, GTIDs: r.GTIDs, Transactions: r.Transactions,
		FirstCommit: r.FirstCommit, LastCommit: r.LastCommit, FileEnd: r.FileEnd, Last: last}, nil
}

// EncodeArchiveRecord returns the content of r's record file (sealed.go: the same envelope
// as a snapshot file).
func EncodeArchiveRecord(r *ArchiveRecord) ([]byte, error) {
	return sealJSON(archiveRecordFormat, "record", r)
}

// DecodeArchiveRecord checks and decodes the record file of source's record seq.
func DecodeArchiveRecord(source string, seq uint64, data []byte) (*ArchiveRecord, error) {
	var r ArchiveRecord
	if err := openSealed(data, archiveRecordFormat, "archive record", "record", &r); err != nil {
		return nil, err
	}
	if r.Source != source || r.Seq != seq {
		return nil, fmt.Errorf("it names source %q record %d", r.Source, r.Seq)
	}
	return &r, nil
}

var sourceNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

func (l *Local) archiveSourceDir(source string) (string, error) {
	if !sourceNameRE.MatchString(source) || strings.Contains(source, "..") {
		return "", fmt.Errorf("source name %q cannot name an archive directory (letters, digits, '_', '-', '.')", source)
	}
	return filepath.Join(l.dir, archiveDir, source), nil
}

func recordName(seq uint64) string { return fmt.Sprintf("%012d.json", seq) }

// BadArchiveRecord is a record file that does not verify.
type BadArchiveRecord struct {
	Source string `json:"source"`
	Seq    uint64 `json:"seq"`
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func (b BadArchiveRecord) Error() string {
	return fmt.Sprintf("archive record %s #%d cannot be verified: %s", b.Source, b.Seq, b.Reason)
}

// ArchiveSources lists the sources with an archive directory.
func (l *Local) ArchiveSources() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(l.dir, archiveDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && sourceNameRE.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// ArchiveRecords reads every record file of source's archive: those that verify, in sequence
// order, and those that do not (never hidden by the others).
func (l *Local) ArchiveRecords(ctx context.Context, source string) ([]*ArchiveRecord, []BadArchiveRecord, error) {
	dir, err := l.archiveSourceDir(source)
	if err != nil {
		return nil, nil, err
	}
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listing the archive of %s: %w", source, err)
	}
	var good []*ArchiveRecord
	var bad []BadArchiveRecord
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		seq, err := strconv.ParseUint(name, 10, 64)
		if !ok || err != nil || len(name) != 12 || !e.Type().IsRegular() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			bad = append(bad, BadArchiveRecord{Source: source, Seq: seq, Path: path, Reason: err.Error()})
			continue
		}
		r, err := DecodeArchiveRecord(source, seq, data)
		if err != nil {
			bad = append(bad, BadArchiveRecord{Source: source, Seq: seq, Path: path, Reason: fmt.Sprintf("its file %s: %v", path, err)})
			continue
		}
		good = append(good, r)
	}
	sort.Slice(good, func(i, j int) bool { return good[i].Seq < good[j].Seq })
	return good, bad, nil
}

// ArchiveChain is a run of records with no gap: each continues the one before by
// shared.ArchivePoint.Continue.
type ArchiveChain struct {
	Records []*ArchiveRecord
	// Base is where the chain starts (its first record's Before); End where it ends.
	Base, End shared.ArchivePoint
}

// FirstSeq and LastSeq are the chain's record numbers.
func (c *ArchiveChain) FirstSeq() uint64 { return c.Records[0].Seq }
func (c *ArchiveChain) LastSeq() uint64  { return c.Records[len(c.Records)-1].Seq }

// ArchiveChains folds records (in sequence order, verified files) into chains by the shared
// contiguity rule. A record that begins a chain must say so (Restart) or be the first present;
// anything else that does not continue — a missing sequence number, a Before that is not
// the previous end, a segment the rule refuses — is returned as a problem and starts a new
// chain, so that callers see every gap.
func ArchiveChains(recs []*ArchiveRecord) ([]*ArchiveChain, []error) {
	var chains []*ArchiveChain
	var problems []error
	var cur *ArchiveChain
	for _, r := range recs {
		head, err := r.Head()
		var before shared.ArchivePoint
		if err == nil {
			before, err = r.Before.Point()
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("archive record %s #%d: %v", r.Source, r.Seq, err))
			cur = nil
			continue
		}
		if cur != nil && !r.Restart {
			prev := cur.Records[len(cur.Records)-1].Seq
			switch {
			case r.Seq != prev+1:
				problems = append(problems, fmt.Errorf("archive of %s: records %d to %d are missing (a gap between %s:%d and %s:%d)", r.Source, prev+1, r.Seq-1, cur.End.File, cur.End.Pos, r.File, r.Start))
				cur = nil
			case !samePoint(before, cur.End):
				problems = append(problems, fmt.Errorf("archive record %s #%d says the archive ended at %s:%d before it, but the records before it end at %s:%d", r.Source, r.Seq, before.File, before.Pos, cur.End.File, cur.End.Pos))
				cur = nil
			}
		}
		if cur == nil || r.Restart {
			cur = &ArchiveChain{Base: before, End: before}
			chains = append(chains, cur)
		}
		next, err := cur.End.Continue(head)
		if err != nil {
			problems = append(problems, fmt.Errorf("archive record %s #%d does not continue the archive: %v", r.Source, r.Seq, err))
			cur = nil
			if len(chains[len(chains)-1].Records) == 0 {
				chains = chains[:len(chains)-1]
			}
			continue
		}
		cur.End = next
		cur.Records = append(cur.Records, r)
	}
	return chains, problems
}

// samePoint compares two archive points by meaning (GTID sets as sets).
func samePoint(a, b shared.ArchivePoint) bool {
	if a.File != b.File || a.Pos != b.Pos || a.FileEnded != b.FileEnded {
		return false
	}
	x, err1 := shared.ParseGTIDSet(a.GTIDs)
	y, err2 := shared.ParseGTIDSet(b.GTIDs)
	return err1 == nil && err2 == nil && x.Equal(y)
}

// AppendArchive stores seg as record seq of source's archive, continuing the archive that
// ends at before (or, with restart, starting a new chain there): it checks the segment by the
// shared rule, stores its bytes as data blobs (those the repository lacks), writes their index
// file, and last the record file, which never replaces one that exists. It takes a shared
// lock for the duration.
func (l *Local) AppendArchive(ctx context.Context, source string, seq uint64, before shared.ArchivePoint, restart bool, seg *shared.ArchiveSegment) (*ArchiveRecord, shared.ArchivePoint, error) {
	next, err := before.Next(seg)
	if err != nil {
		return nil, before, fmt.Errorf("the source sent a segment that does not continue the stored archive, so it is not stored: %w", err)
	}
	dir, err := l.archiveSourceDir(source)
	if err != nil {
		return nil, before, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, before, err
	}
	lk, err := l.Lock(ctx, false, "archive")
	if err != nil {
		return nil, before, err
	}
	defer lk.Unlock()
	l.refreshIndex()
	idx, err := l.Index()
	if err != nil {
		return nil, before, err
	}
	w, err := l.newBlobWriter(idx)
	if err != nil {
		return nil, before, err
	}
	rec, err := w.storeSegment(source, seq, before, restart, seg)
	if err != nil {
		w.Abort()
		return nil, before, err
	}
	data, err := EncodeArchiveRecord(rec)
	if err != nil {
		w.Abort()
		return nil, before, err
	}
	final := filepath.Join(dir, recordName(seq))
	tmp := filepath.Join(l.dir, tmpDir, source+"-"+recordName(seq)+partialExt)
	if err := writeFileNoClobber(tmp, final, data); err != nil {
		w.done = true // the index file is published: the packs stay for prune to judge
		return nil, before, fmt.Errorf("recording archive record %s #%d: %w", source, seq, err)
	}
	w.done = true
	return rec, next, nil
}

// storeSegment stores seg's blobs and index file and returns its record (not yet written).
func (w *localWriter) storeSegment(source string, seq uint64, before shared.ArchivePoint, restart bool, seg *shared.ArchiveSegment) (*ArchiveRecord, error) {
	fd, err := w.save(BlobData, seg.FormatDescription)
	if err != nil {
		return nil, err
	}
	blobs, err := w.savePieces(BlobData, seg.Data, maxDataBlob)
	if err != nil {
		return nil, err
	}
	if w.pack != nil {
		if err := w.finishPack(); err != nil {
			return nil, err
		}
	}
	if len(w.packs) > 0 {
		indexID, err := writeIndexFile(w.repo.dir, w.packs)
		if err != nil {
			return nil, err
		}
		w.published = true
		w.repo.addToIndex(indexID, w.packs)
	}
	sum := sha256.Sum256(seg.Data)
	return &ArchiveRecord{
		Source: source, Seq: seq, Restart: restart, Before: PositionOf(before), Format: seg.Format,
		File: seg.File, Start: seg.Start, End: seg.End, FileEnd: seg.FileEnd, GTIDs: seg.GTIDs, Transactions: seg.Transactions,
		FirstCommit: seg.FirstCommit.UTC(), LastCommit: seg.LastCommit.UTC(), Last: txnToRepo(seg.Last),
		FormatDescription: fd, Data: blobs, DataSHA256: hex.EncodeToString(sum[:]), StoredAt: time.Now().UTC(),
	}, nil
}

// refreshIndex drops the cached index when index files were added or removed since it was
// read (a prune by another process), so that deduplication never counts on a pruned blob.
func (l *Local) refreshIndex() {
	entries, err := os.ReadDir(filepath.Join(l.dir, indexDir))
	if err != nil {
		l.dropIndex()
		return
	}
	l.mu.Lock()
	stale := l.idx == nil || len(l.idx.Files) != len(entries)
	if !stale {
		known := map[string]bool{}
		for _, id := range l.idx.Files {
			known[id.String()] = true
		}
		for _, e := range entries {
			if !known[e.Name()] {
				stale = true
				break
			}
		}
	}
	l.mu.Unlock()
	if stale {
		l.dropIndex()
	}
}

// writeFileNoClobber writes data durably to final, refusing when final exists (a hard link
// from tmp, which fails with EEXIST, then the directory synced).
func writeFileNoClobber(tmp, final string, data []byte) error {
	if err := writeFileAtomic(tmp, tmp+".ready", data); err != nil {
		return err
	}
	defer os.Remove(tmp + ".ready")
	if err := os.Link(tmp+".ready", final); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists already: another archiver stores this archive", final)
		}
		return err
	}
	return syncDir(filepath.Dir(final))
}

// ReadArchiveSegment reads r's segment back from its blobs, checking each blob, the data's
// SHA-256 and the segment's own data rule (shared.ArchiveSegment.CheckData).
func (l *Local) ReadArchiveSegment(r *ArchiveRecord) (*shared.ArchiveSegment, error) {
	idx, err := l.Index()
	if err != nil {
		return nil, err
	}
	br, err := newBlobReader(l.dir, idx)
	if err != nil {
		return nil, err
	}
	defer br.close()
	seg, err := r.Head()
	if err != nil {
		return nil, err
	}
	if seg.FormatDescription, err = br.readOne(r.FormatDescription); err != nil {
		return nil, fmt.Errorf("archive record %s #%d, its format description: %w", r.Source, r.Seq, err)
	}
	for i, id := range r.Data {
		b, err := br.readOne(id)
		if err != nil {
			return nil, fmt.Errorf("archive record %s #%d, blob %d of %d: %w", r.Source, r.Seq, i+1, len(r.Data), err)
		}
		seg.Data = append(seg.Data, b...)
	}
	if sum := sha256.Sum256(seg.Data); hex.EncodeToString(sum[:]) != r.DataSHA256 {
		return nil, fmt.Errorf("archive record %s #%d: its data does not match its SHA-256", r.Source, r.Seq)
	}
	if err := seg.CheckData(); err != nil {
		return nil, fmt.Errorf("archive record %s #%d: %w", r.Source, r.Seq, err)
	}
	return seg, nil
}

// RemoveArchiveRecords deletes the named records of source's archive, oldest first, so that
// an interruption leaves the archive a shorter chain, never one with a hole. It needs an
// exclusive lock.
func (l *Local) RemoveArchiveRecords(source string, seqs []uint64) error {
	if !l.holdsExclusive() {
		return errors.New("removing archive records needs an exclusive lock on the repository")
	}
	dir, err := l.archiveSourceDir(source)
	if err != nil {
		return err
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, s := range seqs {
		if err := os.Remove(filepath.Join(dir, recordName(s))); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return syncDir(dir)
}

// archiveBlobs adds every blob the verified archive records refer to to used, and refuses
// when a record file does not verify (it may refer to blobs too).
func (l *Local) archiveBlobs(ctx context.Context, used map[ID]bool) error {
	sources, err := l.ArchiveSources()
	if err != nil {
		return err
	}
	for _, src := range sources {
		recs, bad, err := l.ArchiveRecords(ctx, src)
		if err != nil {
			return err
		}
		if len(bad) > 0 {
			return fmt.Errorf("nothing was pruned: %v; run `host-example check`, then move the bad record file aside", bad[0])
		}
		for _, r := range recs {
			used[r.FormatDescription] = true
			for _, id := range r.Data {
				used[id] = true
			}
		}
	}
	return nil
}
