package pagemap

import (
	"errors"
	"os"
	"testing"
)

// TestVisitBitmapRuns: each run overlapping the range comes with its own pages, in LSN order
// and across files; an uncovered range or a damaged block gives an error before any run is
// visited; CheckBitmapFile reports a file's coverage and refuses a torn one.
func TestVisitBitmapRuns(t *testing.T) {
	dir := t.TempDir()
	for _, runs := range [][]struct {
		start, end uint64
		set        *PageSet
	}{
		{{100, 200, setOf(1, 4)}, {200, 300, setOf(1, 4, 2, 9)}},
		{{300, 400, setOf(3, BitmapBlockPages+1)}, {500, 600, setOf(1, 1, 2, 5)}}, // [400, 500) missing; two blocks
	} {
		w, err := OpenBitmapWriter(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if err := w.WriteRun(r.start, r.end, r.set); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
	}
	files, err := ListBitmapFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		run         LSNRange
		space, page uint32
	}
	visit := func(start, end uint64) ([]row, error) {
		var rows []row
		err := VisitBitmapRuns(files, start, end, func(r LSNRange, pages *PageSet) error {
			pages.Each(func(space, page uint32) bool {
				rows = append(rows, row{r, space, page})
				return true
			})
			return nil
		})
		return rows, err
	}
	rows, err := visit(150, 350)
	want := []row{{LSNRange{100, 200}, 1, 4}, {LSNRange{200, 300}, 1, 4}, {LSNRange{200, 300}, 2, 9}, {LSNRange{300, 400}, 3, BitmapBlockPages + 1}}
	if err != nil || len(rows) != len(want) {
		t.Fatalf("rows %v, %v; want %v", rows, err, want)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Fatalf("row %d is %v, want %v", i, rows[i], want[i])
		}
	}
	if rows, err := visit(350, 550); !errors.Is(err, ErrRangeNotCovered) || rows != nil {
		t.Fatalf("over the missing [400, 500): rows %v, error %v", rows, err)
	}

	if cov, err := CheckBitmapFile(files[0].Path); err != nil || len(cov) != 1 || cov[0] != (LSNRange{100, 300}) {
		t.Fatalf("CheckBitmapFile: %v, %v", cov, err)
	}
	raw, _ := os.ReadFile(files[1].Path)
	os.WriteFile(files[1].Path, raw[:len(raw)-BitmapBlockSize], 0o640) // the last run loses its last block
	if _, err := CheckBitmapFile(files[1].Path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a file ending inside a run: %v", err)
	}
	raw[10] ^= 1
	os.WriteFile(files[1].Path, raw, 0o640)
	if rows, err := visit(150, 350); !errors.Is(err, ErrCorrupt) || rows != nil {
		t.Fatalf("with a damaged block: rows %v, error %v", rows, err)
	}
}
