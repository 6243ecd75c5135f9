// Package kept registers the Python module gokept: the misuse checked mode
// (PYBUF_GO_CHECKED=1) turns into an exception, and Python callables given
// for Go func parameters (tests_py/test_gocallback.py).
package kept

import (
	"fmt"
	"sync"

	"github.com/pybuf-go/pybuf/pybuf/pymod"
)

var (
	kept     []float64
	keptFunc func(float64) float64
)

func init() {
	pymod.Module("gokept", "Borrowed slices kept after their call.",
		pymod.Func("keep", Keep, "x"),
		pymod.Func("kept_sum", KeptSum),
		pymod.Func("scribble", Scribble, "x"),
		pymod.Func("scale", Scale, "x", "k").Writes("x"),
		pymod.Func("total", Total, "x"),
		pymod.Func("apply", Apply, "f", "x"),
		pymod.Func("fill", Fill, "g", "n"),
		pymod.Func("with_error", WithError, "f"),
		pymod.Func("parallel", Parallel, "f", "n"),
		pymod.Func("keep_func", KeepFunc, "f"),
		pymod.Func("call_kept_func", CallKeptFunc),
		pymod.Func("small", Small, "f"),
		pymod.Func("raise_named", RaiseNamed, "name"),
	)
}

// Apply is f(x) + f(2x).
func Apply(f func(float64) float64, x float64) float64 { return f(x) + f(2*x) }

// Fill gives g a slice of n zeros to fill, and returns what g returned and
// the slice.
func Fill(g func(x []float64, k int) float64, n int) (float64, []float64) {
	x := make([]float64, n)
	s := g(x, 7)
	return s, x
}

// WithError returns f's error, wrapped.
func WithError(f func(float64) (float64, error)) (float64, error) {
	v, err := f(1)
	if err != nil {
		return 0, fmt.Errorf("f failed: %w", err)
	}
	return v, nil
}

// Parallel calls f(i) for i < n, each in its own goroutine, and sums.
func Parallel(f func(float64) float64, n int) float64 {
	var wg sync.WaitGroup
	out := make([]float64, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); out[i] = f(float64(i)) }()
	}
	wg.Wait()
	s := 0.0
	for _, v := range out {
		s += v
	}
	return s
}

// KeepFunc keeps f past its call: the mistake that is refused.
func KeepFunc(f func(float64) float64) { keptFunc = f }

// CallKeptFunc calls what KeepFunc kept.
func CallKeptFunc() float64 { return keptFunc(1) }

// Small returns what f returns, an int8.
func Small(f func() int8) int { return int(f()) }

// Keep stores x past its call: the mistake the documentation forbids.
func Keep(x []float64) { kept = x }

// KeptSum reads what Keep stored.
func KeptSum() float64 {
	s := 0.0
	for _, v := range kept {
		s += v
	}
	return s
}

// Scribble writes x without declaring Writes.
func Scribble(x []float64) { x[0] = -1 }

// Scale multiplies x by k in place (declared).
func Scale(x []float64, k float64) {
	for i := range x {
		x[i] *= k
	}
}

// Total sums x.
func Total(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s
}

// RaiseNamed fails with an error of the Python class name, KeyError when it
// cannot be had.
func RaiseNamed(name string) error { return pymod.Class(name, pymod.KeyError).New("named") }
