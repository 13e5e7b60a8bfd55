package workload

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	// maxRetries bounds the retries of one step after deadlocks or lock wait timeouts.
	maxRetries = 100
	// stepTimeout bounds one attempt of a step (the server's lock wait timeout is 50 s).
	stepTimeout = 5 * time.Minute
)

// Run is a running workload: Clients goroutines, each with its own connection, committing steps.
type Run struct {
	cfg Config
	m   *model

	mu      sync.Mutex
	steps   []int
	err     error
	live    int
	changed chan struct{} // closed and replaced whenever steps, err or live change

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{} // closed when every client has exited
}

// Start resumes the workload from the state on the server (step 0 right after Setup, or wherever a
// previous Run stopped) and starts one goroutine per client, each on its own connection. The
// clients run until Stop is called, ctx ends (both take effect between steps) or a client fails.
func Start(ctx context.Context, db *sql.DB, cfg Config) (*Run, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	if err := checkMeta(ctx, db, &cfg); err != nil {
		return nil, fmt.Errorf("workload start: %w", err)
	}
	stats, err := journalStats(ctx, db, &cfg)
	if err != nil {
		return nil, fmt.Errorf("workload start: %w", err)
	}
	r := &Run{cfg: cfg, m: newModel(&cfg), steps: make([]int, cfg.Clients),
		changed: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	clients := make([]*client, 0, cfg.Clients)
	for c := 0; c < cfg.Clients; c++ {
		s := stats[c]
		if s.count != s.max || (s.count > 0 && s.min != 1) {
			err = fmt.Errorf("workload start: journal of client %d is not 1..K (count %d, min %d, max %d); run Check", c, s.count, s.min, s.max)
		} else {
			var cl *client
			cl, err = r.newClient(ctx, db, c, int(s.max))
			if err == nil {
				clients = append(clients, cl)
			}
		}
		if err != nil {
			for _, cl := range clients {
				cl.close()
			}
			return nil, err
		}
		r.steps[c] = int(s.max)
	}
	r.live = len(clients)
	for _, cl := range clients {
		go cl.loop(ctx)
	}
	return r, nil
}

// Steps returns, per client, the number of the last step whose COMMIT succeeded (steps are
// numbered from 1 and continue across Runs, so after a clean Stop this is the K Check finds).
func (r *Run) Steps() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.steps...)
}

// WaitSteps blocks until every client has committed at least n more steps than when it was
// called. It returns early with the run's error if a client failed, with an error if the run
// stopped, or with ctx's error.
func (r *Run) WaitSteps(ctx context.Context, n int) error {
	r.mu.Lock()
	base := append([]int(nil), r.steps...)
	r.mu.Unlock()
	for {
		r.mu.Lock()
		if r.err != nil {
			err := r.err
			r.mu.Unlock()
			return err
		}
		reached := true
		for c, k := range r.steps {
			if k < base[c]+n {
				reached = false
				break
			}
		}
		if reached {
			r.mu.Unlock()
			return nil
		}
		if r.live == 0 {
			r.mu.Unlock()
			return errStopped
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Stop stops the clients (each finishes the step it is in), waits for them and returns the
// committed steps per client and the first client error. A client error is fatal: the server
// misbehaved (or died) and the run cannot go on.
func (r *Run) Stop() ([]int, error) {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.steps...), r.err
}

// notifyLocked wakes WaitSteps callers; r.mu must be held.
func (r *Run) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Run) committed(c, k int) {
	r.mu.Lock()
	r.steps[c] = k
	r.notifyLocked()
	r.mu.Unlock()
}

func (r *Run) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.notifyLocked()
	r.mu.Unlock()
	r.stopOnce.Do(func() { close(r.stop) })
}

func (r *Run) exited() {
	r.mu.Lock()
	r.live--
	if r.live == 0 {
		close(r.done)
	}
	r.notifyLocked()
	r.mu.Unlock()
}

// client is one workload client with its connection and its model state.
type client struct {
	r    *Run
	c    int
	conn *sql.Conn
	st   *clientState

	account, blob, zUpd, zIns, pIns, pDel, gUpd, gIns, jIns *sql.Stmt
}

func (r *Run) newClient(ctx context.Context, db *sql.DB, c, k int) (*client, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("workload client %d: %w", c, err)
	}
	cl := &client{r: r, c: c, conn: conn}
	cfg := &r.cfg
	prep := []struct {
		dst   **sql.Stmt
		query string
	}{
		{&cl.account, "UPDATE " + cfg.tbl("accounts") + " SET balance = balance + ? WHERE client = ? AND id = ? AND balance = ?"},
		{&cl.blob, "UPDATE " + cfg.tbl("blobs") + " SET version = ?, body = ?, digest = ? WHERE client = ? AND slot = ? AND version = ?"},
		{&cl.zUpd, "UPDATE " + cfg.tbl("ztab") + " SET rev = ?, val = ?, txt = ? WHERE client = ? AND id = ? AND rev = ?"},
		{&cl.zIns, "INSERT INTO " + cfg.tbl("ztab") + " (client, id, rev, val, txt) VALUES (?, ?, 0, ?, ?)"},
		{&cl.pIns, "INSERT INTO " + cfg.tbl("ptab") + " (client, id, tag, payload) VALUES (?, ?, ?, ?)"},
		{&cl.pDel, "DELETE FROM " + cfg.tbl("ptab") + " WHERE client = ? AND id = ?"},
		{&cl.gUpd, "UPDATE " + cfg.tbl("gtab") + " SET rev = ?, val = ?, pad = ? WHERE client = ? AND id = ? AND rev = ?"},
		{&cl.gIns, "INSERT INTO " + cfg.tbl("gtab") + " (client, id, rev, val, pad) VALUES (?, ?, 0, ?, ?)"},
		{&cl.jIns, "INSERT INTO " + cfg.tbl("journal") + " (client, seq, step_hash, note) VALUES (?, ?, ?, ?)"},
	}
	for _, p := range prep {
		if *p.dst, err = conn.PrepareContext(ctx, p.query); err != nil {
			cl.close()
			return nil, fmt.Errorf("workload client %d: preparing %s: %w", c, p.query, err)
		}
	}
	cl.st = r.m.stateAt(c, k, false)
	return cl, nil
}

func (cl *client) close() {
	for _, s := range []*sql.Stmt{cl.account, cl.blob, cl.zUpd, cl.zIns, cl.pIns, cl.pDel, cl.gUpd, cl.gIns, cl.jIns} {
		if s != nil {
			s.Close()
		}
	}
	cl.conn.Close()
}

func (cl *client) loop(ctx context.Context) {
	r := cl.r
	defer r.exited()
	defer cl.close()
	for {
		select {
		case <-r.stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		st := r.m.step(cl.c, cl.st.k+1)
		if err := cl.do(ctx, &st); err != nil {
			r.fail(fmt.Errorf("workload: client %d step %d: %w", cl.c, st.k, err))
			return
		}
		cl.st.apply(&st)
		r.committed(cl.c, st.k)
		if r.cfg.Pause > 0 {
			t := time.NewTimer(r.cfg.Pause)
			select {
			case <-t.C:
			case <-r.stop:
			case <-ctx.Done():
			}
			t.Stop()
		}
	}
}

// op is one statement of a step; it must affect exactly one row.
type op struct {
	what string
	stmt *sql.Stmt
	args []any
}

// plan turns step st into statements. Every UPDATE is guarded by the value the model expects the
// row to hold, so a server that lost or misapplied an earlier step is caught at once.
func (cl *client) plan(st *step) []op {
	m, s, c := cl.r.m, cl.st, cl.c
	ops := make([]op, 0, 10)
	add := func(stmt *sql.Stmt, what string, args ...any) {
		ops = append(ops, op{what: what, stmt: stmt, args: args})
	}
	add(cl.account, fmt.Sprintf("debit accounts id %d", st.from), -st.amount, c, st.from, s.balances[st.from])
	add(cl.account, fmt.Sprintf("credit accounts id %d", st.to), st.amount, c, st.to, s.balances[st.to])

	body := m.blobBody(c, st.slot, st.blobVersion)
	add(cl.blob, fmt.Sprintf("rewrite blobs slot %d to version %d", st.slot, st.blobVersion),
		st.blobVersion, body, digest(body), c, st.slot, s.blobVer[st.slot])

	zval, ztxt := m.zRow(c, 0, int64(st.k))
	add(cl.zUpd, "bump ztab id 0", st.k, zval, ztxt, c, 0, s.k)
	if st.zInsert != 0 {
		val, txt := m.zRow(c, st.zInsert, 0)
		add(cl.zIns, fmt.Sprintf("insert ztab id %d", st.zInsert), c, st.zInsert, val, txt)
	}
	if st.zUpdate != 0 {
		rev := s.zRev[st.zUpdate-1]
		val, txt := m.zRow(c, st.zUpdate, rev+1)
		add(cl.zUpd, fmt.Sprintf("update ztab id %d", st.zUpdate), rev+1, val, txt, c, st.zUpdate, rev)
	}

	tag, payload := m.pRow(c, st.pInsert)
	add(cl.pIns, fmt.Sprintf("insert ptab id %d", st.pInsert), c, st.pInsert, tag, payload)
	if st.pDelete != 0 {
		add(cl.pDel, fmt.Sprintf("delete ptab id %d", st.pDelete), c, st.pDelete)
	}

	gval, gpad := m.gRow(c, 0, int64(st.k))
	add(cl.gUpd, "bump gtab id 0", st.k, gval, gpad, c, 0, s.k)
	if st.gInsert != 0 {
		val, pad := m.gRow(c, st.gInsert, 0)
		add(cl.gIns, fmt.Sprintf("insert gtab id %d", st.gInsert), c, st.gInsert, val, pad)
	}

	h := chain(s.last, st.note())
	add(cl.jIns, fmt.Sprintf("insert journal seq %d", st.k), c, st.k, hexHash(h), st.note())
	return ops
}

// do runs step st as one transaction, retrying it after deadlocks and lock wait timeouts.
func (cl *client) do(ctx context.Context, st *step) error {
	ops := cl.plan(st)
	for attempt := 0; ; attempt++ {
		err := cl.try(ctx, ops)
		if err == nil {
			return nil
		}
		if !isRetryable(err) || attempt >= maxRetries {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * time.Millisecond)
	}
}

// try runs the statements between BEGIN and COMMIT once. Statements are not interrupted by ctx:
// a step in flight is always finished (or fails on its own).
func (cl *client) try(ctx context.Context, ops []op) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stepTimeout)
	defer cancel()
	if _, err := cl.conn.ExecContext(sctx, "BEGIN"); err != nil {
		return fmt.Errorf("BEGIN: %w", err)
	}
	for _, o := range ops {
		res, err := o.stmt.ExecContext(sctx, o.args...)
		if err == nil {
			var n int64
			if n, err = res.RowsAffected(); err == nil && n != 1 {
				err = fmt.Errorf("affected %d rows, want 1: the server's state differs from the model", n)
			}
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", o.what, err)
			if _, rerr := cl.conn.ExecContext(sctx, "ROLLBACK"); rerr != nil {
				return fmt.Errorf("%w; %w: %v", err, errRollbackFailed, rerr)
			}
			return err
		}
	}
	if _, err := cl.conn.ExecContext(sctx, "COMMIT"); err != nil {
		return &commitError{err}
	}
	return nil
}

// commitError is a failed COMMIT; whether the step was committed is unknown.
type commitError struct{ err error }

func (e *commitError) Error() string {
	return fmt.Sprintf("COMMIT failed, outcome unknown: %v", e.err)
}
func (e *commitError) Unwrap() error { return e.err }

// isRetryable reports a deadlock or lock wait timeout outside COMMIT (after which the step is
// rolled back and can be retried).
func isRetryable(err error) bool {
	var ce *commitError
	if errors.As(err, &ce) || errors.Is(err, errRollbackFailed) {
		return false
	}
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

var errRollbackFailed = errors.New("ROLLBACK failed too")

// errStopped is WaitSteps' answer once every client has stopped.
var errStopped = errors.New("workload: run stopped before reaching the steps waited for")
