package mysqlsrc

import (
	"errors"
	"os"
	"sort"
	"sync"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/pagetrack/pagetrack/mysqlsrc/innodb"
)

// Transparent page compression (COMPRESSION='zlib'|'lz4') saves space only because the server
// punches a hole over the unused tail of every compressed page it writes: the tail, rounded up
// to the file system's block size, is given back with fallocate(PUNCH_HOLE|KEEP_SIZE). The
// backup carries each page as the server wrote it (payload, then zeros), so a restore that only
// wrote the pages would make the file as large on disk as uncompressed. The restore punches the
// same holes again. With pages no larger than a block (4 KiB pages on a 4 KiB-block file
// system) there is nothing to punch, as on the server.

// sparseRestore punches the holes of one restore and remembers, per file, what it did.
type sparseRestore struct {
	blockSize int64 // of the target's file system; 0 = unknown, punch nothing

	mu          sync.Mutex
	unsupported bool // the file system refused a punch: stop trying
	files       map[string]*sparseFile
}

type sparseFile struct {
	f          *os.File
	compressed uint64 // FIL_PAGE_COMPRESSED pages written
	punched    int64  // bytes given back
}

func newSparseRestore(dir string) *sparseRestore {
	s := &sparseRestore{files: map[string]*sparseFile{}}
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) == nil && st.Bsize > 0 {
		s.blockSize = int64(st.Bsize)
	}
	return s
}

// punch gives back the unused tail of every FIL_PAGE_COMPRESSED page of data, which was just
// written at off in f. Only zeros are punched: a tail holding anything else is left alone.
func (s *sparseRestore) punch(f *os.File, path string, off int64, data []byte, pageSize int) error {
	if s == nil {
		return nil
	}
	var pages uint64
	var punched int64
	for i := 0; i+pageSize <= len(data); i += pageSize {
		page := data[i : i+pageSize]
		end, ok := innodb.CompressedPageEnd(page)
		if !ok {
			continue
		}
		pages++
		if s.blockSize == 0 || s.isUnsupported() {
			continue
		}
		start := (int64(end) + s.blockSize - 1) / s.blockSize * s.blockSize
		if start >= int64(pageSize) || !innodb.IsZeroPage(page[start:]) {
			continue
		}
		err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off+int64(i)+start, int64(pageSize)-start)
		if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
			s.setUnsupported()
			continue
		}
		if err != nil {
			return err
		}
		punched += int64(pageSize) - start
	}
	if pages > 0 {
		s.mu.Lock()
		sf := s.files[path]
		if sf == nil {
			sf = &sparseFile{f: f}
			s.files[path] = sf
		}
		sf.compressed += pages
		sf.punched += punched
		s.mu.Unlock()
	}
	return nil
}

func (s *sparseRestore) isUnsupported() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unsupported
}

func (s *sparseRestore) setUnsupported() {
	s.mu.Lock()
	s.unsupported = true
	s.mu.Unlock()
}

// report logs, for every file that holds compressed pages, its apparent and allocated size —
// or why nothing was punched.
func (s *sparseRestore) report(log hclog.Logger) {
	if s == nil {
		return
	}
	paths := make([]string, 0, len(s.files))
	for p := range s.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		sf := s.files[p]
		var st unix.Stat_t
		if err := unix.Fstat(int(sf.f.Fd()), &st); err != nil {
			log.Warn("cannot stat restored file", "file", p, "error", err)
			continue
		}
		args := []any{"file", p, "compressed_pages", sf.compressed, "apparent_bytes", st.Size, "allocated_bytes", st.Blocks * 512, "punched_bytes", sf.punched}
		switch {
		case sf.punched > 0:
			log.Info("transparently compressed file restored sparse", args...)
		case s.unsupported:
			log.Warn("the target file system cannot punch holes: the compressed file takes its full size", args...)
		default:
			log.Info("transparently compressed file: no page tail spans a whole file-system block, nothing to punch", append(args, "block_size", s.blockSize)...)
		}
	}
}
