package pagemap

import (
	"encoding/binary"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files and the generated fuzz seeds under testdata")

// setOf builds a set from (space, page) pairs.
func setOf(pairs ...uint32) *PageSet {
	if len(pairs)%2 != 0 {
		panic("setOf needs pairs")
	}
	s := NewPageSet()
	for i := 0; i < len(pairs); i += 2 {
		s.Add(pairs[i], pairs[i+1])
	}
	return s
}

// idxBytes encodes (space, page) pairs as .idx entries.
func idxBytes(pairs ...uint32) []byte {
	b := make([]byte, 0, len(pairs)*4)
	for _, v := range pairs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// golden compares got with testdata/name, or rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	return want
}

// idxGen generates a synthetic .idx stream on the fly, without holding it in memory.
//
// Every space has distinct pages numbered by k in [0, perSpace): the first seqFrac of them lie
// in runs of runLen adjacent pages separated by gaps, the rest are scattered far apart. The
// stream is repeats passes; each pass visits every chunk of runLen consecutive k of every space
// once, in a pass-specific pseudo-random chunk order, so each page occurs exactly repeats times
// and the stream looks like change tracking output: sequential stretches, jumps between spaces
// and tables, and scattered single pages.
type idxGen struct {
	spaces, perSpace, repeats, runLen int
	seqFrac                           float64

	chunks, chunksPerSpace int
	mul                    uint64 // chunk permutation multiplier, coprime to chunks
	pass, step             int    // chunk order position
	k, kEnd, space         int    // position inside the current chunk
	stage                  [IdxEntrySize]byte
	staged                 int
}

func newIdxGen(spaces, perSpace, repeats, runLen int, seqFrac float64) *idxGen {
	g := &idxGen{spaces: spaces, perSpace: perSpace, repeats: repeats, runLen: runLen, seqFrac: seqFrac}
	g.chunksPerSpace = (perSpace + runLen - 1) / runLen
	g.chunks = g.chunksPerSpace * spaces
	g.mul = 2654435761 % uint64(g.chunks)
	for gcd(int(g.mul), g.chunks) != 1 {
		g.mul++
	}
	return g
}

// Entries returns the number of entries the generator produces.
func (g *idxGen) Entries() uint64 { return uint64(g.spaces*g.perSpace) * uint64(g.repeats) }

// Distinct returns the number of distinct pages.
func (g *idxGen) Distinct() uint64 { return uint64(g.spaces * g.perSpace) }

// page returns the page number of distinct page k.
func (g *idxGen) page(k int) uint32 {
	seq := int(float64(g.perSpace) * g.seqFrac)
	if k < seq {
		return uint32(k/g.runLen*(g.runLen*5/2) + k%g.runLen) // runs, then gaps 1.5× as long
	}
	j := uint32(k - seq)
	base := uint32(seq/g.runLen+1) * uint32(g.runLen*5/2)
	return base + j*997 + (j*2654435761)>>22%997 // one page somewhere in each 997-page stride
}

// Expected returns the set the stream describes.
func (g *idxGen) Expected() *PageSet {
	s := NewPageSet()
	for sp := 0; sp < g.spaces; sp++ {
		for k := 0; k < g.perSpace; k++ {
			s.Add(uint32(sp+1), g.page(k))
		}
	}
	return s
}

// nextChunk positions the generator at the next chunk; false at the end of the stream.
func (g *idxGen) nextChunk() bool {
	for g.k >= g.kEnd {
		if g.pass >= g.repeats {
			return false
		}
		// A multiplicative permutation of the chunk numbers, different in every pass.
		c := int((uint64(g.step)*g.mul + uint64(g.pass)*40503) % uint64(g.chunks))
		g.space = c / g.chunksPerSpace
		g.k = c % g.chunksPerSpace * g.runLen
		g.kEnd = min(g.k+g.runLen, g.perSpace)
		g.step++
		if g.step == g.chunks {
			g.step, g.pass = 0, g.pass+1
		}
	}
	return true
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (g *idxGen) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if g.staged == 0 {
			if !g.nextChunk() {
				break
			}
			binary.BigEndian.PutUint32(g.stage[:], uint32(g.space+1))
			binary.BigEndian.PutUint32(g.stage[4:], g.page(g.k))
			g.k++
			g.staged = IdxEntrySize
		}
		c := copy(p[n:], g.stage[IdxEntrySize-g.staged:])
		g.staged -= c
		n += c
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}
