package three

import (
	"strings"

	"github.com/pybuf-go/pybuf/pybuf/gomem"
	"github.com/pybuf-go/pybuf/pybuf/pymod"
)

// Results of every kind, several at once, for the shim's result path.
func init() {
	pymod.Module("goresults", "Results of every kind.",
		pymod.Func("kinds", func(z complex128, b bool, u uint8, i int8, s string) (complex128, bool, uint8, int8, string, []byte) {
			return z * 1i, !b, u + 1, -i, strings.ToUpper(s), []byte(s)
		}, "z", "b", "u", "i", "s"),
		pymod.Func("arrays", func(n int) ([]float64, []int32, string, []float64, []uint8) {
			a, b, c, d := make([]float64, n), make([]int32, n), make([]float64, n), make([]uint8, n)
			for i := range n {
				a[i], b[i], c[i], d[i] = float64(i), int32(-i), float64(2*i), uint8(i)
			}
			return a, b, "three arrays, then bytes", c, d
		}, "n"),
		pymod.Func("second_fails", func() ([]float64, pymod.Array[float64]) {
			return make([]float64, 3), pymod.Strided(make([]float64, 2), 0, []int{3}, []int{1})
		}),
		pymod.Func("pins", gomem.LivePins),
		pymod.Func("count", func(b []byte, c byte) int {
			n := 0
			for _, v := range b {
				if v == c {
					n++
				}
			}
			return n
		}, "b", "c"),
	)
}
