// Package gostats is a Python module written in Go: pybuf.gobuild builds it,
// with pybuf's core, into the Python module gostats (see README.md).
package gostats

// Typed invokers (pymod_invokers.go), so that calls skip reflection:
//go:generate go run github.com/pybuf-go/pybuf/pybuf/cmd/pymodgen

import (
	"fmt"
	"math"
	"time"

	"github.com/pybuf-go/pybuf/pybuf/gomem"
	"github.com/pybuf-go/pybuf/pybuf/pymod"
)

func init() {
	pymod.Module("gostats", "Small statistics in Go, called from Python without copies.",
		pymod.Func("add", Add, "a", "b").Doc("a + b"),
		pymod.Func("mean", Mean, "x").Doc("The mean of x (float64, 1-D), read where it lies."),
		pymod.Func("histogram", Histogram, "x", "bins", "lo", "hi").
			Doc("Counts of x in bins equal bins over [lo, hi], as numpy.histogram(x, bins, (lo, hi))[0]."),
		pymod.Func("grid", Grid, "rows", "cols").Doc("A (rows, cols) float64 array in Go memory: grid[i, j] = i*cols + j."),
		pymod.Func("submatrix", Submatrix, "rows", "cols", "r0", "r1", "c0", "c1").
			Doc("grid(rows, cols)[r0:r1, c0:c1] as a strided view of one Go grid."),
		pymod.Func("scale", Scale, "x", "k").Writes("x").Doc("Multiplies x (float64, writable) by k in place."),
		pymod.Func("particles", Particles, "n").Doc("n records (id int32, x float64, y float64) from a Go struct slice."),
		pymod.Func("fail", Fail, "msg").Doc("Raises ValueError(msg) from a Go error."),
		pymod.Func("crash", Crash).Doc("Panics in Go: raises RuntimeError."),
		pymod.Func("sleep_ms", SleepMs, "ms").Doc("Sleeps in Go, with the GIL released."),
		pymod.Func("live_pins", LivePins).Doc("Go slices exported to Python and still pinned."),
	)
}

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
