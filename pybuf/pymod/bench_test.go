package pymod

import "testing"

// The Go side of one call (Call alone: no crossing from C, arguments built
// once): typed invokers against the reflection path.
func benchmarkCall(b *testing.B, name string, args []testArg, nresults int) {
	call, free := benchCall(idOf(&testing.T{}, "pymodtest", name), args, nresults)
	defer free()
	for b.Loop() {
		if st := call(); st != 0 {
			b.Fatalf("status %d", st)
		}
	}
}

// func(int, int) int: a typed invoker.
func BenchmarkCallTypedScalar(b *testing.B) { benchmarkCall(b, "add", []testArg{{I: 1}, {I: 2}}, 1) }

// func(int8, uint16, float32, celsius) float64: reflection.
func BenchmarkCallReflectScalar(b *testing.B) {
	benchmarkCall(b, "addf", []testArg{{I: 1}, {U: 2}, {F: 3}, {F: 4}}, 1)
}

// func([]float64) float64: a typed invoker, the view checked as always.
func BenchmarkCallTypedSlice(b *testing.B) {
	benchmarkCall(b, "sum", []testArg{{Floats: []float64{1, 2, 3}, Format: strp("d"), Ndim: 1}}, 1)
}

// func(string) (string, []byte, int): reflection, two C allocations.
func BenchmarkCallReflectString(b *testing.B) {
	benchmarkCall(b, "upper", []testArg{{Str: strp("go")}}, 3)
}

// func(int8, float32) float64 through a pymodgen-style Frame invoker: what
// reflection's BenchmarkCallReflectScalar pays for the same kind of function.
func BenchmarkCallFrameScalar(b *testing.B) {
	call, free := benchCall(idOf(&testing.T{}, "pymodframe", "scale"), []testArg{{I: 2}, {F: 1.5}}, 1)
	defer free()
	for b.Loop() {
		if st := call(); st != 0 {
			b.Fatalf("status %d", st)
		}
	}
}
