// Package three registers the Python module gothree.
package three

import "github.com/pybuf-go/pybuf/pybuf/pymod"

func init() {
	pymod.Module("gothree", "Another Go module for the tests.",
		pymod.Func("thrice", func(x float64) float64 { return 3 * x }, "x"),
		pymod.Func("ones", func(n int) []float64 {
			s := make([]float64, n)
			for i := range s {
				s[i] = 1
			}
			return s
		}, "n"))
}
