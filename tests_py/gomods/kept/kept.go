// Package kept registers the Python module gokept: the misuse checked mode
// (PYBUF_GO_CHECKED=1) turns into an exception, and callbacks.
package kept

import "github.com/pybuf-go/pybuf/pybuf/pymod"

var kept []float64

func init() {
	pymod.Module("gokept", "Borrowed slices kept after their call.",
		pymod.Func("keep", Keep, "x"),
		pymod.Func("kept_sum", KeptSum),
		pymod.Func("scribble", Scribble, "x"),
		pymod.Func("scale", Scale, "x", "k").Writes("x"),
		pymod.Func("total", Total, "x"),
	)
}

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
