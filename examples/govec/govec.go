// Package govec is a small Python module of vector functions written in Go:
// one of the two modules of the bundle example (see README.md).
package govec

import "github.com/pybuf-go/pybuf/pybuf/pymod"

func init() {
	pymod.Module("govec", "Small vector functions in Go.",
		pymod.Func("dot", Dot, "x", "y").Doc("The dot product of x and y (float64, 1-D, equal lengths)."),
		pymod.Func("cumsum", Cumsum, "x").Doc("The running sums of x, as a new float64 array in Go memory."),
	)
}

// Dot is the sum of x[i]*y[i].
func Dot(x, y []float64) (float64, error) {
	if len(x) != len(y) {
		return 0, pymod.ValueError.Errorf("x and y differ in length (%d and %d)", len(x), len(y))
	}
	sum := 0.0
	for i := range x {
		sum += x[i] * y[i]
	}
	return sum, nil
}

// Cumsum returns the running sums of x.
func Cumsum(x []float64) []float64 {
	out := make([]float64, len(x))
	sum := 0.0
	for i, v := range x {
		sum += v
		out[i] = sum
	}
	return out
}
