package mysqlsrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
	"github.com/pagetrack/pagetrack/mysqlsrc/mysqld"
	"github.com/pagetrack/pagetrack/shared"
)

// redoFileID names the one redo file a restore writes (#ib_redo0). Recovery accepts any id
// for a single file; mysqld numbers the files it creates afterwards from there.
const redoFileID = 0

// Redo file size: a multiple of the page size (mysqld refuses others), rounded to 64 KiB, plus
// 1 MiB of free space so the server can write before it makes its own files.
const (
	redoSizeAlign = 64 << 10
	redoSizeSlack = 1 << 20
)

// Restore writes the datadir a stream describes into req.TargetDir and, with req.Verify,
// starts a server on it to check every table.
func (s *Source) Restore(ctx context.Context, req *shared.RestoreRequest, records shared.RecordStream) (*shared.RestoreResult, error) {
	var bin *mysqld.Binaries
	if req.Verify { // before the first write: not after a datadir written in full
		var err error
		if bin, err = verifyBinaries(); err != nil {
			return nil, err
		}
	}
	target, err := prepareTarget(req.TargetDir)
	if err != nil {
		return nil, err
	}
	w := &datadirWriter{root: target, files: map[uint32]*restoredFile{}, extra: map[string]*os.File{}, check: shared.NewRestoreChecker(),
		sparse: newSparseRestore(target), relocs: req.Relocations, keyringFile: req.KeyringFile}
	result, err := w.write(ctx, records)
	if err == nil {
		w.sparse.report(s.log)
	}
	w.closeAll()
	if err != nil {
		// The target was empty when we started: clear what we wrote so a half datadir is
		// never mistaken for a restore.
		clearDir(target)
		w.layout.clear()
		return nil, err
	}
	s.log.Info("datadir written", "target", target, "files", result.Files, "pages", result.Pages, "bytes", exact(result.Bytes),
		"checkpoint_lsn", exact(w.header.CheckpointLSN), "end_lsn", exact(w.trailer.EndLSN))
	for _, o := range result.ServerOptions {
		s.log.Info("the restored server needs", "option", o)
	}
	if req.Verify {
		if err := s.verify(ctx, bin, w.layout, req.KeyringFile, result); err != nil {
			return result, err
		}
	}
	return result, nil
}

// prepareTarget refuses anything but an absent or empty directory.
func prepareTarget(dir string) (string, error) {
	if dir == "" {
		return "", shared.InvalidConfig("restore needs a target directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(abs, 0o750); err != nil {
			return "", fmt.Errorf("creating restore target: %w", err)
		}
	case err != nil:
		return "", shared.Precondition(fmt.Sprintf("restore target %s: %v", abs, err))
	case len(entries) > 0:
		return "", shared.Precondition(fmt.Sprintf("restore target %s is not empty (%d entries, e.g. %s); restore into an empty or new directory — pagetrack never overwrites an existing datadir", abs, len(entries), entries[0].Name()))
	}
	return abs, nil
}

func clearDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

type restoredFile struct {
	ts *shared.Tablespace
	f  *os.File
}

// datadirWriter applies a record stream to an empty directory.
type datadirWriter struct {
	root    string
	relocs  []shared.Relocation
	layout  *restoreLayout // from the Header: where each file goes
	header  *shared.Header
	trailer *shared.Trailer
	files   map[uint32]*restoredFile
	extra   map[string]*os.File
	binlog  *os.File
	binName string
	redo    *os.File
	redoEnd uint64 // LSN after the last redo byte written
	// keyringFile must hold every key the Header lists; redoKey, unsealed through it,
	// re-encrypts the redo block cut at the end point.
	keyringFile string
	redoKey     *innodb.TablespaceKey
	check       *shared.StreamChecker
	sparse      *sparseRestore // punches the holes of transparently compressed pages (sparse.go)
	result      shared.RestoreResult
	dirs        map[string]bool

	jobs     chan pageJob // page writes for the pool; nil once stopped
	writeErr chan error
	writers  sync.WaitGroup
}

// restoreWriters is how many page writes run at once: pages of different files (and of one
// file) are independent, and WriteAt is safe to call concurrently.
const restoreWriters = 4

func (w *datadirWriter) write(ctx context.Context, records shared.RecordStream) (*shared.RestoreResult, error) {
	w.startWriters(ctx)
	res, err := w.receive(ctx, records)
	if werr := w.stopWriters(); err == nil {
		err = werr
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// startWriters runs the page-writing pool. Records are still received, checked and digested
// in stream order by receive; only the writes of page batches fan out.
func (w *datadirWriter) startWriters(ctx context.Context) {
	w.jobs = make(chan pageJob, 2*restoreWriters)
	w.writeErr = make(chan error, restoreWriters)
	for range restoreWriters {
		w.writers.Add(1)
		go func() {
			defer w.writers.Done()
			for j := range w.jobs {
				_, err := j.f.WriteAt(j.data, j.off)
				if err == nil {
					err = w.sparse.punch(j.f, j.path, j.off, j.data, j.pageSize)
				}
				if err != nil {
					select {
					case w.writeErr <- fmt.Errorf("writing %s: %w", j.path, err):
					default:
					}
				}
			}
		}()
	}
}

func (w *datadirWriter) stopWriters() error {
	if w.jobs == nil {
		return nil
	}
	close(w.jobs)
	w.writers.Wait()
	w.jobs = nil
	select {
	case err := <-w.writeErr:
		return err
	default:
		return nil
	}
}

type pageJob struct {
	f        *os.File
	path     string
	off      int64
	data     []byte
	pageSize int
}

func (w *datadirWriter) receive(ctx context.Context, records shared.RecordStream) (*shared.RestoreResult, error) {
	for {
		select {
		case err := <-w.writeErr:
			return nil, err
		default:
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := records.Recv()
		if errors.Is(err, io.EOF) {
			if err := w.check.End(); err != nil {
				return nil, err
			}
			// Finish only now: nothing may follow the trailer.
			if err := w.finish(); err != nil {
				return nil, err
			}
			return &w.result, nil
		}
		if err != nil {
			return nil, err
		}
		// The stream's rules have one owner: nothing is written for a record the checker
		// refused, and the datadir is finished only after it verified the trailer.
		if err := w.check.Check(r); err != nil {
			return nil, err
		}
		if err := w.apply(r); err != nil {
			return nil, err
		}
	}
}

// apply writes one record StreamChecker accepted: every offset and size in it is within
// what the stream carried, so nothing here re-checks the stream's rules.
func (w *datadirWriter) apply(r *shared.Record) error {
	switch r.Kind() {
	case shared.RecordHeader:
		w.header = r.Header
		// The first record: a keyring lacking a key is refused before anything is written.
		key, err := restoreKeys(r.Header, w.keyringFile)
		if err != nil {
			return err
		}
		w.redoKey = key
		layout, err := newRestoreLayout(w.root, r.Header, w.relocs)
		if err != nil {
			return err
		}
		w.layout = layout
		return w.startRedo()
	case shared.RecordTablespace:
		return w.tablespace(r.Tablespace)
	case shared.RecordPages:
		return w.pages(r.Pages)
	case shared.RecordRedo:
		return w.redoSegment(r.Redo)
	case shared.RecordBinlog:
		return w.binlogChunk(r.Binlog)
	case shared.RecordFile:
		return w.fileChunk(r.File)
	case shared.RecordTrailer:
		w.trailer = r.Trailer
	}
	return nil // Progress
}

// create makes the file of stream path rel where the layout puts it; ts is its Tablespace
// record, nil for other files.
func (w *datadirWriter) create(rel string, ts *shared.Tablespace) (*os.File, error) {
	path, err := shared.TargetPath(w.root, rel)
	if w.layout != nil {
		path, err = w.layout.path(rel, ts)
	}
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	if w.dirs == nil {
		w.dirs = map[string]bool{}
	}
	w.dirs[filepath.Dir(path)] = true
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	w.result.Files++
	return f, nil
}

func (w *datadirWriter) tablespace(ts *shared.Tablespace) error {
	if rf, ok := w.files[ts.FileIndex]; ok {
		rf.ts = ts // the file grew during the backup
		return nil
	}
	f, err := w.create(ts.Path, ts)
	if err != nil {
		return err
	}
	w.files[ts.FileIndex] = &restoredFile{ts: ts, f: f}
	return nil
}

func (w *datadirWriter) pages(p *shared.PageBatch) error {
	rf := w.files[p.FileIndex]
	size := uint64(rf.ts.PageSize)
	w.jobs <- pageJob{f: rf.f, path: rf.ts.Path, off: int64(p.FirstPage * size), data: p.Data, pageSize: int(size)}
	w.result.Pages += uint64(len(p.Data)) / size
	w.result.Bytes += uint64(len(p.Data))
	return nil
}

// startRedo creates the redo file with a header starting at C's block and checkpoint C.
func (w *datadirWriter) startRedo() error {
	f, err := w.create(fmt.Sprintf("#innodb_redo/#ib_redo%d", redoFileID), nil)
	if err != nil {
		return err
	}
	w.redo = f
	start := w.header.CheckpointLSN / innodb.RedoBlockSize * innodb.RedoBlockSize
	w.redoEnd = start
	hdr := innodb.RedoFileHeader{Format: innodb.RedoFormat, LogUUID: 0x70616765, StartLSN: start, Creator: "pagetrack"}
	block := make([]byte, innodb.RedoDataOffset)
	copy(block[0:], hdr.Encode())
	copy(block[512:], innodb.EncodeCheckpointBlock(w.header.CheckpointLSN))
	copy(block[1024:], w.header.RedoEncryption) // the sealed redo key, when the redo is encrypted
	copy(block[1536:], innodb.EncodeCheckpointBlock(0))
	_, err = f.WriteAt(block, 0)
	return err
}

func (w *datadirWriter) redoSegment(seg *shared.RedoSegment) error {
	start := w.header.CheckpointLSN / innodb.RedoBlockSize * innodb.RedoBlockSize
	if _, err := w.redo.WriteAt(seg.Data, int64(innodb.RedoDataOffset+seg.StartLSN-start)); err != nil {
		return fmt.Errorf("writing redo: %w", err)
	}
	w.redoEnd += uint64(len(seg.Data))
	return nil
}

func (w *datadirWriter) binlogChunk(c *shared.BinlogChunk) error {
	if w.binlog == nil {
		f, err := w.create(shared.BinlogPath(w.header, c.Name), nil)
		if err != nil {
			return err
		}
		w.binlog, w.binName = f, c.Name
	}
	_, err := w.binlog.WriteAt(c.Data, int64(c.Offset))
	return err
}

func (w *datadirWriter) fileChunk(c *shared.FileChunk) error {
	f := w.extra[c.Path]
	if f == nil {
		var err error
		if f, err = w.create(c.Path, nil); err != nil {
			return err
		}
		w.extra[c.Path] = f
	}
	_, err := f.WriteAt(c.Data, int64(c.Offset))
	return err
}

// finish sizes every file as the backup recorded, cuts the redo at E, writes the binlog
// index and the mysql/ directory, and makes it all durable.
func (w *datadirWriter) finish() error {
	if err := w.stopWriters(); err != nil {
		return err
	}
	for _, rf := range w.files { // every page of every file arrived (StreamChecker)
		if err := rf.f.Truncate(int64(rf.ts.SizePages) * int64(rf.ts.PageSize)); err != nil {
			return fmt.Errorf("sizing %s: %w", rf.ts.Path, err)
		}
	}
	if err := w.cutRedo(); err != nil {
		return err
	}
	if w.binlog != nil {
		indexPath := shared.BinlogPath(w.header, w.header.BinlogBasename+".index")
		index, err := w.create(indexPath, nil)
		if err != nil {
			return err
		}
		w.extra[indexPath] = index
		entry := "./" + w.binName // the server reads relative entries from its datadir
		if shared.BinlogDir(w.header) != "" {
			entry = w.binlog.Name()
		}
		if _, err := index.WriteString(entry + "\n"); err != nil {
			return err
		}
	}
	w.result.ServerOptions = w.layout.serverOptions(w.header)
	optionFile, err := writeOptionFile(w.root, w.result.ServerOptions)
	if err != nil {
		return err
	}
	w.result.OptionFile = optionFile
	if err := os.MkdirAll(filepath.Join(w.root, "mysql"), 0o750); err != nil {
		return err
	}
	w.dirs[filepath.Join(w.root, "mysql")] = true
	w.dirs[w.root] = true
	return w.sync()
}

// cutRedo ends the redo exactly at E: the block holding E gets data_len = E − block start, and
// nothing after it remains, so recovery stops where the binlog position says it must.
func (w *datadirWriter) cutRedo() error {
	e := w.trailer.EndLSN
	start := w.header.CheckpointLSN / innodb.RedoBlockSize * innodb.RedoBlockSize
	last := e / innodb.RedoBlockSize * innodb.RedoBlockSize // the checker saw redo end with this block
	off := int64(innodb.RedoDataOffset + last - start)
	block := make([]byte, innodb.RedoBlockSize)
	if _, err := w.redo.ReadAt(block, off); err != nil {
		return err
	}
	block, err := cutRedoBlock(block, last, e, w.redoKey)
	if err != nil {
		return fmt.Errorf("cutting the redo at the end point %d: %w", e, err)
	}
	if _, err := w.redo.WriteAt(block, off); err != nil {
		return err
	}
	used := off + innodb.RedoBlockSize
	size := (used+redoSizeAlign-1)/redoSizeAlign*redoSizeAlign + redoSizeSlack
	// Truncate to the cut first so no block past E survives, then extend with zeros.
	if err := w.redo.Truncate(used); err != nil {
		return err
	}
	return w.redo.Truncate(size)
}

// cutRedoBlock cuts the block holding the end point (innodb.CutRedoBlock). An encrypted block
// is decrypted, cut and encrypted again with the redo key, so it stays as the server would have
// written it.
func cutRedoBlock(block []byte, blockLSN, end uint64, key *innodb.TablespaceKey) ([]byte, error) {
	if !innodb.RedoBlockEncrypted(block) {
		return block, innodb.CutRedoBlock(block, blockLSN, end)
	}
	if key == nil {
		return nil, errors.New("the block is encrypted, but the stream's Header carries no redo encryption block")
	}
	plain, err := innodb.DecryptRedoBlock(block, key)
	if err != nil {
		return nil, err
	}
	if err := innodb.CutRedoBlock(plain, blockLSN, end); err != nil {
		return nil, err
	}
	return innodb.EncryptRedoBlock(plain, key)
}

func (w *datadirWriter) sync() error {
	all := []*os.File{w.redo, w.binlog}
	for _, rf := range w.files {
		all = append(all, rf.f)
	}
	for _, f := range w.extra {
		all = append(all, f)
	}
	for _, f := range all {
		if f == nil {
			continue
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", f.Name(), err)
		}
	}
	for dir := range w.dirs {
		if err := syncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

func (w *datadirWriter) closeAll() {
	for _, rf := range w.files {
		rf.f.Close()
	}
	for _, f := range w.extra {
		f.Close()
	}
	if w.redo != nil {
		w.redo.Close()
	}
	if w.binlog != nil {
		w.binlog.Close()
	}
}
