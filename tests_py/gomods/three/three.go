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
		}, "n"),
		pymod.Func("trace", func(m pymod.Array[float64]) float64 {
			t := 0.0
			for i := 0; i < m.Shape[0] && i < m.Shape[1]; i++ {
				t += m.Data[m.Offset+i*m.Strides[0]+i*m.Strides[1]]
			}
			return t
		}, "m"),
		pymod.Func("negate", func(m pymod.Array[float64]) {
			for i := 0; i < m.Shape[0]; i++ {
				for j := 0; j < m.Shape[1]; j++ {
					k := m.Offset + i*m.Strides[0] + j*m.Strides[1]
					m.Data[k] = -m.Data[k]
				}
			}
		}, "m").Writes("m"))
}

// gobad is a registration mistake: importing it must raise ImportError, and
// nothing else in the library may suffer.
func init() {
	pymod.Module("gobad", "", pymod.Func("count", func(m map[string]int) int { return len(m) }, "m"))
}
