// Package gomem hands Go memory, and C memory with a Go release, to Python as
// pybuf Buffers: zero-copy, and alive exactly as long as Python can see it.
//
// It is for code built into a Go library that embeds pybuf's core (a
// -buildmode=c-shared main package importing pybuf/capi). A process can run
// only one Go runtime, so the Go developer's functions and pybuf's core must
// live in the same library; Python selects it with PYBUF_CORE=/path/lib.so or
// pybuf.load_core(path) before the first use of pybuf.
//
// ExportSlice pins a slice's backing array with a runtime.Pinner and keeps the
// slice reachable until pybuf releases it; ExportC describes C memory whose
// release is a Go function. Either returns a Descriptor, C memory that an
// exported function returns as a void*; Python passes that address to
// pybuf.adopt, which consumes it and returns a pybuf.Buffer. Its release runs
// exactly once, from C, after the last NumPy array, memoryview or DLPack
// tensor over the memory is gone (never in a forked child): only then is the
// slice unpinned, and collectable.
//
// A library exports a slice like this:
//
//	package main
//
//	import "C"
//
//	import (
//		"unsafe"
//
//		_ "github.com/pybuf-go/pybuf/pybuf/capi" // pybuf's core: the process's one Go runtime
//		"github.com/pybuf-go/pybuf/pybuf/gomem"
//	)
//
//	//export grid
//	func grid(rows, cols C.int) unsafe.Pointer {
//		if rows < 0 || cols < 0 {
//			return nil // a panic here would abort Python; pybuf.adopt(None) raises
//		}
//		g := make([]float64, int(rows)*int(cols))
//		d, err := gomem.ExportSlice(g, int(rows), int(cols))
//		if err != nil {
//			return nil
//		}
//		return d.SetName("grid").Pointer()
//	}
//
//	func main() {}
//
// and Python uses it like this:
//
//	lib = ctypes.CDLL(path); lib.grid.restype = ctypes.c_void_p
//	pybuf.load_core(path)
//	g = np.asarray(pybuf.adopt(lib.grid(3, 4)))   # float64, shape (3, 4), Go's memory
//
// A Descriptor that never reaches pybuf.adopt must be given back with
// Discard, or the slice stays pinned for the life of the process.
package gomem
