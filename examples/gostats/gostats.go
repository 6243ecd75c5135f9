// Package gostats is a Python module written in Go: small statistics,
// called from Python without copies. pybuf.gobuild builds it, with pybuf's
// core, into the Python module gostats (see README.md).
package gostats

// The module: every exported function of this package, registered by
// pymodgen (pymod_invokers.go) with its parameter names and its doc comment,
// and typed invokers, so that calls skip reflection:
//go:generate go run github.com/pybuf-go/pybuf/pybuf/cmd/pymodgen -module gostats

import (
	"fmt"
	"math"
	"time"

	"github.com/pybuf-go/pybuf/pybuf/gomem"
	"github.com/pybuf-go/pybuf/pybuf/pymod"
)

// Add returns a + b.
func Add(a, b int) int { return a + b }

// Mean is the arithmetic mean of x; NaN for an empty x.
func Mean(x []float64) float64 {
	sum := 0.0
	for _, v := range x {
		sum += v
	}
	return sum / float64(len(x))
}

// Histogram counts the values of x in bins equal-width bins over [lo, hi],
// bin for bin as numpy.histogram(x, bins, range=(lo, hi)) does: the same
// index arithmetic and the same edge corrections, so values on or next to an
// edge land in the same bin. The last bin includes hi; values outside (and
// NaN) are not counted.
func Histogram(x []float64, bins int, lo, hi float64) ([]int64, error) {
	if bins <= 0 {
		return nil, pymod.ValueError.Errorf("bins must be positive, not %d", bins)
	}
	if !(lo < hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil, pymod.ValueError.Errorf("the range [%g, %g] is empty or not finite", lo, hi)
	}
	counts := make([]int64, bins)
	edges := make([]float64, bins+1) // as numpy.linspace(lo, hi, bins+1)
	step := (hi - lo) / float64(bins)
	for i := range edges {
		edges[i] = lo + float64(i)*step
	}
	edges[bins] = hi
	norm := float64(bins) / (hi - lo)
	for _, v := range x {
		if !(v >= lo && v <= hi) {
			continue
		}
		i := int((v - lo) * norm)
		if i == bins {
			i--
		}
		if v < edges[i] {
			i--
		} else if i != bins-1 && v >= edges[i+1] {
			i++
		}
		counts[i]++
	}
	return counts, nil
}

func newGrid(rows, cols int) ([]float64, error) {
	if rows < 0 || cols < 0 {
		return nil, pymod.ValueError.Errorf("rows and cols must not be negative, not (%d, %d)", rows, cols)
	}
	g := make([]float64, rows*cols)
	for i := range g {
		g[i] = float64(i)
	}
	return g, nil
}

// Grid is a rows x cols matrix whose element (i, j) is i*cols + j.
func Grid(rows, cols int) (pymod.Array[float64], error) {
	g, err := newGrid(rows, cols)
	return pymod.NDArray(g, rows, cols), err
}

// Submatrix is Grid(rows, cols)[r0:r1, c0:c1] without a copy: a view with
// the grid's row stride, as gonum's mat.Dense.Slice makes.
func Submatrix(rows, cols, r0, r1, c0, c1 int) (pymod.Array[float64], error) {
	if r0 < 0 || r0 > r1 || r1 > rows || c0 < 0 || c0 > c1 || c1 > cols {
		return pymod.Array[float64]{}, pymod.IndexError.Errorf(
			"[%d:%d, %d:%d] is not inside a %d x %d grid", r0, r1, c0, c1, rows, cols)
	}
	g, err := newGrid(rows, cols)
	if err != nil {
		return pymod.Array[float64]{}, err
	}
	return pymod.Strided(g, r0*cols+c0, []int{r1 - r0, c1 - c0}, []int{cols, 1}), nil
}

// Scale multiplies x by k where it lies.
//
//pybuf:writes x
func Scale(x []float64, k float64) {
	for i := range x {
		x[i] *= k
	}
}

// Particle is one record; Python sees the fields id, x and y.
type Particle struct {
	ID int32   `pybuf:"id"`
	X  float64 `pybuf:"x"`
	Y  float64 `pybuf:"y"`
}

// Particles returns n particles: id i, x = i/2, y = -i.
func Particles(n int) ([]Particle, error) {
	if n < 0 {
		return nil, pymod.ValueError.Errorf("n must not be negative, not %d", n)
	}
	ps := make([]Particle, n)
	for i := range ps {
		ps[i] = Particle{ID: int32(i), X: float64(i) / 2, Y: -float64(i)}
	}
	return ps, nil
}

// Fail returns an error that raises ValueError(msg).
func Fail(msg string) error { return pymod.ValueError.New(msg) }

// Crash panics; Python sees RuntimeError.
func Crash() { panic(fmt.Sprintf("gostats.crash was called (%d)", 42)) }

// SleepMs sleeps ms milliseconds; other Python threads run meanwhile.
func SleepMs(ms int) { time.Sleep(time.Duration(ms) * time.Millisecond) }

// LivePins is the number of Go slices exported to Python and still pinned.
func LivePins() int { return gomem.LivePins() }

// LinAlgError is the class Invert2 raises for a singular matrix: NumPy's
// own, or ValueError where NumPy does not import.
var LinAlgError = pymod.Class("numpy.linalg.LinAlgError", pymod.ValueError)

// Invert2 is the inverse of the 2 x 2 matrix m (any layout, as
// numpy.linalg.inv(m)); a singular m raises numpy.linalg.LinAlgError.
func Invert2(m pymod.Array[float64]) (pymod.Array[float64], error) {
	if len(m.Shape) != 2 || m.Shape[0] != 2 || m.Shape[1] != 2 {
		return pymod.Array[float64]{}, pymod.ValueError.Errorf("m must be 2 x 2, not %v", m.Shape)
	}
	at := func(i, j int) float64 { return m.Data[m.Offset+i*m.Strides[0]+j*m.Strides[1]] }
	a, b, c, d := at(0, 0), at(0, 1), at(1, 0), at(1, 1)
	det := a*d - b*c
	if det == 0 {
		return pymod.Array[float64]{}, LinAlgError.New("Singular matrix")
	}
	return pymod.NDArray([]float64{d / det, -b / det, -c / det, a / det}, 2, 2), nil
}

// Full is n copies of c, as numpy.full(n, c): the result is made with
// pymod.Empty (every element is written), in memory pybuf owns: not Go's
// heap, so not zeroed by Go and not pinned.
func Full(n int, c float64) ([]float64, error) {
	if n < 0 {
		return nil, pymod.ValueError.Errorf("n must not be negative, not %d", n)
	}
	s, err := pymod.Empty[float64](n)
	if err != nil {
		return nil, err
	}
	fill(s, c)
	return s, nil
}

// fill sets every element of s to c: a block by hand, then copies of that
// block (copy is memmove: wide stores, and its source stays in the cache).
func fill(s []float64, c float64) {
	block := s[:min(len(s), 512)]
	for i := range block {
		block[i] = c
	}
	for k := len(block); k < len(s); k += len(block) {
		copy(s[k:], block)
	}
}

// FullGoHeap is Full with a slice of Go's heap (make): Go zeroes it, and
// it stays pinned until the last view is gone.
func FullGoHeap(n int, c float64) ([]float64, error) {
	if n < 0 {
		return nil, pymod.ValueError.Errorf("n must not be negative, not %d", n)
	}
	s := make([]float64, n)
	fill(s, c)
	return s, nil
}

// FreshBlocks is the number of pymod.Fresh blocks not freed yet.
func FreshBlocks() int { return gomem.FreshBlocks() }
