package repo

import (
	"crypto/sha256"
	"errors"
	"sync"

	"github.com/pagetrack/pagetrack/shared"
)

// The store pipeline of a stream: Append copies a record's payload and returns, workers hash
// and compress its pieces (spread over the cores, while the host receives the next records),
// and one goroutine, the committer, stores the results and the record-list items strictly in
// Append order. At most pipelineDepth records are in flight, which bounds the memory: their
// payload copies and stored forms. The first error stops it: nothing more is stored, Append
// and Commit return the error, and Commit records nothing.
const (
	pipelineDepth = 16
	// taskPieces is how many pieces (pages) one worker task hashes and compresses.
	taskPieces = 16
)

type storePipeline struct {
	w     *localWriter
	jobs  chan *storeJob // to the committer, in Append order
	tasks chan storeTask // to the workers
	// idle is closed when the committer has finished; workers end with tasks closed.
	idle    chan struct{}
	workers sync.WaitGroup
	closed  bool // jobs and tasks are closed (only the Append goroutine touches it)

	mu  sync.Mutex
	err error // the first error: the pipeline stores nothing more
}

// storeJob is one record on its way through the pipeline.
type storeJob struct {
	// barrier, when set, is closed by the committer on reaching it (drain), and the job
	// holds nothing else.
	barrier chan struct{}
	head    []byte // the record-list item without its blob IDs
	typ     BlobType
	data    *[]byte // the payload's copy (pooled); nil without a payload
	piece   int
	sums    [][sha256.Size]byte // the pieces' SHA-256 sums when the caller has them, else nil
	ids     []ID
	// stored[k] is the stored form of piece k when this job stores it (a slice of one of
	// arenas), else nil: the repository has it, or another record stores it.
	stored [][]byte
	arenas []*[]byte
	left   sync.WaitGroup // tasks not yet done
}

type storeTask struct {
	job      *storeJob
	from, to int     // pieces
	arena    *[]byte // where the task's stored forms go
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1<<20); return &b }}

func getBuf() *[]byte { b := bufPool.Get().(*[]byte); *b = (*b)[:0]; return b }

func putBuf(b *[]byte) {
	if b != nil && cap(*b) <= 4<<20 {
		bufPool.Put(b)
	}
}

func startStorePipeline(w *localWriter, workers int) (*storePipeline, error) {
	p := &storePipeline{w: w, jobs: make(chan *storeJob, pipelineDepth), tasks: make(chan storeTask, pipelineDepth*4),
		idle: make(chan struct{})}
	encs := make([]*blobEncoder, workers)
	for g := range encs {
		enc, err := newBlobEncoder(w.repo.Compression())
		if err != nil {
			return nil, err
		}
		encs[g] = enc
	}
	for _, enc := range encs {
		p.workers.Add(1)
		go p.work(enc)
	}
	go p.commit()
	return p, nil
}

// add hands one record to the pipeline; the writer keeps nothing of rec.
func (p *storePipeline) add(rec *shared.Record, typ BlobType, data []byte, piece uint32, sums [][sha256.Size]byte) {
	j := &storeJob{typ: typ, piece: int(piece), sums: sums}
	j.head = appendItemHead(nil, rec, uint64(len(data)), piece)
	if !hasPayload(rec) {
		p.jobs <- j
		return
	}
	j.data = getBuf()
	*j.data = append(*j.data, data...)
	n := 0
	if len(data) > 0 {
		n = (len(data) + j.piece - 1) / j.piece
	}
	j.ids, j.stored = make([]ID, n), make([][]byte, n)
	tasks := (n + taskPieces - 1) / taskPieces
	j.arenas = make([]*[]byte, tasks)
	j.left.Add(tasks)
	p.jobs <- j
	for t := 0; t < tasks; t++ {
		j.arenas[t] = getBuf()
		p.tasks <- storeTask{job: j, from: t * taskPieces, to: min((t+1)*taskPieces, n), arena: j.arenas[t]}
	}
}

// work hashes the pieces of tasks and compresses those new to the repository and to the
// stream, each new blob once (the first worker to claim it).
func (p *storePipeline) work(enc *blobEncoder) {
	defer p.workers.Done()
	for t := range p.tasks {
		j := t.job
		data := *j.data
		if p.failure() == nil {
			for k := t.from; k < t.to; k++ {
				piece := data[k*j.piece : min((k+1)*j.piece, len(data))]
				var id ID
				if j.sums != nil {
					id = j.sums[k]
				} else {
					id = Hash(piece)
				}
				j.ids[k] = id
				if p.w.idx.Has(id) || !p.w.claim(id) {
					continue
				}
				at := len(*t.arena)
				*t.arena = enc.encode(*t.arena, piece)
				j.stored[k] = (*t.arena)[at:len(*t.arena):len(*t.arena)]
			}
		}
		j.left.Done()
	}
}

// commit stores the jobs' blobs and items in order; after an error it only drains.
func (p *storePipeline) commit() {
	defer close(p.idle)
	for j := range p.jobs {
		if j.barrier != nil {
			close(j.barrier)
			continue
		}
		j.left.Wait()
		if p.failure() == nil {
			if err := p.store(j); err != nil {
				p.setErr(err)
			}
		}
		putBuf(j.data)
		for _, a := range j.arenas {
			putBuf(a)
		}
	}
}

func (p *storePipeline) store(j *storeJob) error {
	w := p.w
	for k, id := range j.ids {
		if s := j.stored[k]; s != nil {
			raw := min(j.piece, len(*j.data)-k*j.piece)
			if err := w.store(j.typ, id, s, raw); err != nil {
				return err
			}
		}
		w.ref(id)
	}
	if j.data != nil {
		w.logical += int64(len(*j.data))
	}
	item := j.head
	for _, id := range j.ids {
		item = append(item, id[:]...)
	}
	w.logical += int64(len(item))
	if chunk := w.chunk.add(item); chunk != nil {
		return w.saveTree(chunk)
	}
	return nil
}

func (p *storePipeline) setErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

// failure is the pipeline's first error, or nil.
func (p *storePipeline) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// drain waits until every record handed over so far is stored (or dropped after an error).
func (p *storePipeline) drain() {
	j := &storeJob{barrier: make(chan struct{})}
	p.jobs <- j
	<-j.barrier
}

// stop makes the pipeline drop what it has not stored yet: the stream is being aborted.
func (p *storePipeline) stop() { p.setErr(errAborted) }

var errAborted = errors.New("the stream was aborted")

// finish waits until every record handed over is stored (or dropped after an error) and the
// goroutines are gone, and returns the first error. It may be called again.
func (p *storePipeline) finish() error {
	if p == nil {
		return nil
	}
	if !p.closed {
		p.closed = true
		close(p.jobs)
		<-p.idle
		close(p.tasks)
		p.workers.Wait()
	}
	return p.failure()
}
