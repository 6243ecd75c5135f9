package gomem

import "testing"

// go test -bench Fresh ./pybuf/gomem: a 10^6 float64 block from the C
// allocator (reused once freed) against make, which Go zeroes.

func BenchmarkEmpty1e6(b *testing.B) {
	for b.Loop() {
		s, _ := Empty[float64](1_000_000)
		s[len(s)-1] = 1
		FreeFresh(s)
	}
}

func BenchmarkMake1e6(b *testing.B) {
	var keep []float64
	for b.Loop() {
		keep = make([]float64, 1_000_000)
		keep[len(keep)-1] = 1
	}
	_ = keep
}
