package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pagetrack/pagetrack/internal/workload"
)

// bulkSchemas are the workload schemas whose bulk tables hold the data; the first one's
// workload tables also carry the concurrent load of the throughput measurement.
var bulkSchemas = []string{"bench0", "bench1", "bench2", "bench3"}

func workloadConfig(schema string, seed int64) workload.Config {
	return workload.Config{Schema: schema, Clients: 4, Seed: seed}
}

// loadData sets up the workload schemas and grows their bulk tables to about totalBytes of
// InnoDB files in all (workload.Grow's payload becomes about 1.35 times as many bytes of files).
func loadData(ctx context.Context, s *server, totalBytes int64) error {
	payload := int64(float64(totalBytes) / 1.35 / float64(len(bulkSchemas)))
	for i, schema := range bulkSchemas {
		if err := workload.Setup(ctx, s.db, workloadConfig(schema, int64(i+1))); err != nil {
			return err
		}
	}
	// Two loaders at a time: the machine this was written on has two cores.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for i, schema := range bulkSchemas {
		g.Go(func() error { return workload.Grow(gctx, s.db, workloadConfig(schema, int64(i+1)), payload) })
	}
	return g.Wait()
}

// innodbFiles lists the files a backup copies, with the rules of mysqlsrc's discovery: the
// top-level system, undo and .ibd/.ibu files, and .ibd files one directory down, skipping
// '#' directories, performance_schema and the temporary tablespace.
func innodbFiles(datadir string) (paths []string, total int64, err error) {
	top, err := os.ReadDir(datadir)
	if err != nil {
		return nil, 0, err
	}
	add := func(p string) error {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		paths = append(paths, p)
		total += st.Size()
		return nil
	}
	for _, e := range top {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "#"), name == "performance_schema":
		case e.IsDir():
			sub, err := os.ReadDir(filepath.Join(datadir, name))
			if err != nil {
				return nil, 0, err
			}
			for _, s := range sub {
				if s.Type().IsRegular() && strings.HasSuffix(s.Name(), ".ibd") {
					if err := add(filepath.Join(datadir, name, s.Name())); err != nil {
						return nil, 0, err
					}
				}
			}
		case !e.Type().IsRegular(), name == "ibtmp1":
		case strings.HasPrefix(name, "ibdata"), strings.HasPrefix(name, "undo_"),
			strings.HasSuffix(name, ".ibd"), strings.HasSuffix(name, ".ibu"):
			if err := add(filepath.Join(datadir, name)); err != nil {
				return nil, 0, err
			}
		}
	}
	sort.Strings(paths)
	return paths, total, nil
}

// rawRead reads every file sequentially with large reads, in streams parallel streams (files
// handed out in order), and returns the bytes read.
func rawRead(paths []string, streams int) (int64, error) {
	work := make(chan string)
	var g errgroup.Group
	var totals = make([]int64, streams)
	for i := range streams {
		g.Go(func() error {
			buf := make([]byte, 4<<20)
			for p := range work {
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				for {
					n, err := f.Read(buf)
					totals[i] += int64(n)
					if err == io.EOF {
						break
					}
					if err != nil {
						f.Close()
						return err
					}
				}
				f.Close()
			}
			return nil
		})
	}
	for _, p := range paths {
		work <- p
	}
	close(work)
	err := g.Wait()
	var sum int64
	for _, t := range totals {
		sum += t
	}
	return sum, err
}

// bulkTable is one bulk table's shape as the server's statistics see it.
type bulkTable struct {
	schema    string
	rows      int64 // ids 1..rows
	leafPages int64 // leaf pages of the clustered index
}

func bulkTables(ctx context.Context, s *server) ([]bulkTable, error) {
	var out []bulkTable
	for _, schema := range bulkSchemas {
		t := bulkTable{schema: schema}
		if err := s.exec(ctx, fmt.Sprintf("ANALYZE TABLE `%s`.bulk", schema)); err != nil {
			return nil, err
		}
		if err := s.db.QueryRowContext(ctx, fmt.Sprintf("SELECT val FROM `%s`.meta WHERE name = 'bulk_rows'", schema)).Scan(&t.rows); err != nil {
			return nil, err
		}
		if err := s.db.QueryRowContext(ctx, `SELECT stat_value FROM mysql.innodb_index_stats
			WHERE database_name = ? AND table_name = 'bulk' AND index_name = 'PRIMARY' AND stat_name = 'n_leaf_pages'`,
			schema).Scan(&t.leafPages); err != nil {
			return nil, fmt.Errorf("leaf pages of %s.bulk: %w", schema, err)
		}
		if t.leafPages <= 0 || t.rows <= 0 {
			return nil, fmt.Errorf("%s.bulk: %d rows in %d leaf pages", schema, t.rows, t.leafPages)
		}
		out = append(out, t)
	}
	return out, nil
}

// changeStats says what changePages did.
type changeStats struct {
	Rows     int
	Duration time.Duration
}

// changePages updates one row in each of about pages distinct leaf pages, spread over the bulk
// tables in proportion to their size and at random within each: the rows are picked from the
// middle of distinct, randomly chosen page-sized stretches of the id range (rows are inserted in
// id order, so a stretch of rows/leafPages ids fills about one page). Each row gets grp+1: an
// in-place update of a 4-byte column, so the undo and binlog (row image MINIMAL for this
// session) stay small. Updates go in statements of up to 500 rows, a transaction per 2000.
func changePages(ctx context.Context, s *server, tables []bulkTable, pages int64, seed uint64) (changeStats, error) {
	t0 := time.Now()
	var leaves int64
	for _, t := range tables {
		leaves += t.leafPages
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return changeStats{}, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET SESSION binlog_row_image = 'MINIMAL'"); err != nil {
		return changeStats{}, err
	}
	rows := 0
	for _, t := range tables {
		want := min(t.leafPages, (pages*t.leafPages+leaves/2)/leaves)
		if want <= 0 || t.rows == 0 {
			continue
		}
		perPage := float64(t.rows) / float64(t.leafPages)
		stretches := sample(rng, t.leafPages, want)
		ids := make([]int64, len(stretches))
		for i, p := range stretches {
			ids[i] = min(t.rows, 1+int64((float64(p)+0.5)*perPage))
		}
		for lo := 0; lo < len(ids); lo += 2000 {
			hi := min(lo+2000, len(ids))
			if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
				return changeStats{}, err
			}
			for a := lo; a < hi; a += 500 {
				b := min(a+500, hi)
				var q strings.Builder
				fmt.Fprintf(&q, "UPDATE `%s`.bulk SET grp = grp + 1 WHERE id IN (", t.schema)
				for i, id := range ids[a:b] {
					if i > 0 {
						q.WriteByte(',')
					}
					fmt.Fprint(&q, id)
				}
				q.WriteByte(')')
				if _, err := conn.ExecContext(ctx, q.String()); err != nil {
					conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
					return changeStats{}, err
				}
			}
			if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
				return changeStats{}, err
			}
			rows += hi - lo
		}
	}
	return changeStats{Rows: rows, Duration: time.Since(t0)}, nil
}

// sample returns k distinct integers from [0, n) in random order.
func sample(rng *rand.Rand, n, k int64) []int64 {
	if k*3 >= n {
		all := rng.Perm(int(n))
		out := make([]int64, k)
		for i := range out {
			out[i] = int64(all[i])
		}
		return out
	}
	seen := make(map[int64]bool, k)
	out := make([]int64, 0, k)
	for int64(len(out)) < k {
		v := rng.Int64N(n)
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// dirSize sums the sizes of the regular files under dir.
func dirSize(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

// readAll reads a file into the page cache.
func readAll(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

// randomReads reads n random 16 KiB pages of the files (chosen in proportion to their sizes)
// with inflight reads at a time, and returns how long that took.
func randomReads(paths []string, n, inflight int, seed uint64) (time.Duration, error) {
	type page struct {
		path string
		off  int64
	}
	sizes := make([]int64, len(paths))
	var total int64
	for i, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return 0, err
		}
		sizes[i] = st.Size() / 16384
		total += sizes[i]
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	work := make(chan page, n)
	for range n {
		k := rng.Int64N(total)
		for i, sz := range sizes {
			if k < sz {
				work <- page{paths[i], k * 16384}
				break
			}
			k -= sz
		}
	}
	close(work)
	files := map[string]*os.File{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		files[p] = f
	}
	t0 := time.Now()
	var g errgroup.Group
	for range inflight {
		g.Go(func() error {
			buf := make([]byte, 16384)
			for pg := range work {
				if _, err := files[pg.path].ReadAt(buf, pg.off); err != nil && err != io.EOF {
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	return time.Since(t0), err
}
