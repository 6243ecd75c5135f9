// Command goext is a Go extension for Python that shares its Go runtime with
// pybuf: built with
//
//	go build -buildmode=c-shared -o libgoext.so ./examples/goext
//
// it holds pybuf's core (the capi import) next to its own functions, so
// Python loads it once, as pybuf's core (PYBUF_CORE or pybuf.load_core), and
// calls its functions through ctypes. Each export returns a pybuf_export
// descriptor for pybuf.adopt.
package main

/*
#include <stdint.h>
#include <stdlib.h>
*/
import "C"

import (
	"runtime"
	"sync"
	"time"
	"unsafe"
	"weak"

	_ "github.com/pybuf-go/pybuf/pybuf/capi" // pybuf's core, in this library
	"github.com/pybuf-go/pybuf/pybuf/gomem"
)

// last points weakly at the most recent slice from goext_slice, so tests can
// see it become garbage once Python let go of it.
var last struct {
	sync.Mutex
	ptr weak.Pointer[float64]
}

// goext_slice returns n float64 (0, 1, 2, ...) in a Go slice, pinned until
// Python drops the last view. NULL if n is negative.
//
//export goext_slice
func goext_slice(n C.int64_t) unsafe.Pointer {
	if n < 0 {
		return nil // make would panic, and a panic into C aborts Python
	}
	s := make([]float64, int(n))
	for i := range s {
		s[i] = float64(i)
	}
	d, err := gomem.ExportSlice(s)
	if err != nil {
		return nil
	}
	if len(s) > 0 {
		last.Lock()
		last.ptr = weak.Make(&s[0])
		last.Unlock()
	}
	return d.SetName("goext.slice").Pointer()
}

// goext_last_collected reports whether the slice of the latest goext_slice
// has been garbage collected (it runs the collector first).
//
//export goext_last_collected
func goext_last_collected() C.int {
	for range 3 {
		runtime.GC()
	}
	last.Lock()
	defer last.Unlock()
	if last.ptr.Value() == nil {
		return 1
	}
	return 0
}

var cmemFrees struct {
	sync.Mutex
	n int64
}

// goext_cmem returns n int32 (0, 1, 2, ...) in malloc'd memory that a Go
// function frees once Python is done with it. NULL if n is negative.
//
//export goext_cmem
func goext_cmem(n C.int64_t) unsafe.Pointer {
	if n < 0 {
		return nil
	}
	p := C.calloc(C.size_t(max(n, 1)), 4)
	if p == nil {
		return nil
	}
	for i := range unsafe.Slice((*int32)(p), int(n)) {
		unsafe.Slice((*int32)(p), int(n))[i] = int32(i)
	}
	d, err := gomem.ExportC(p, "i", []int{int(n)}, func() {
		C.free(p)
		cmemFrees.Lock()
		cmemFrees.n++
		cmemFrees.Unlock()
	})
	if err != nil {
		C.free(p)
		return nil
	}
	return d.SetName("goext.cmem").Pointer()
}

// goext_cmem_frees counts the frees done by goext_cmem's release.
//
//export goext_cmem_frees
func goext_cmem_frees() C.int64_t {
	cmemFrees.Lock()
	defer cmemFrees.Unlock()
	return C.int64_t(cmemFrees.n)
}

// particle is exported as a NumPy record with Go's own field offsets.
type particle struct {
	ID    int32
	Pos   [3]float64
	Alive bool
	Mass  float32
}

// goext_particles returns n particles whose ID is their index and whose
// mass is ID/2. NULL if n is negative.
//
//export goext_particles
func goext_particles(n C.int64_t) unsafe.Pointer {
	if n < 0 {
		return nil
	}
	ps := make([]particle, int(n))
	for i := range ps {
		ps[i] = particle{ID: int32(i), Pos: [3]float64{float64(i), 0, 0}, Alive: i%2 == 0, Mass: float32(i) / 2}
	}
	d, err := gomem.ExportRecords(ps)
	if err != nil {
		return nil
	}
	return d.Pointer()
}

// goext_live_pins is gomem.LivePins: exported slices still pinned.
//
//export goext_live_pins
func goext_live_pins() C.int64_t { return C.int64_t(gomem.LivePins()) }

// goext_releases counts the releases gomem has run, and goext_bad_releases
// those it refused because the export was not live (a double release).
//
//export goext_releases
func goext_releases() C.int64_t { return C.int64_t(gomem.ReadStats().Releases) }

//export goext_bad_releases
func goext_bad_releases() C.int64_t { return C.int64_t(gomem.ReadStats().UnknownReleases) }

// goext_leak_pinner drops a Pinner that still pins memory, then collects
// garbage: Go's own leak check panics in a finalizer and ends the process
// with status 2. It returns (-1) only if that check did not fire.
//
//export goext_leak_pinner
func goext_leak_pinner() C.int {
	leak()
	for range 200 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // lets the finalizer goroutine run
	}
	return -1
}

func leak() {
	p := new(runtime.Pinner)
	p.Pin(&make([]float64, 16)[0])
}

// kept is the slice goext_make made, for goext_export_kept: exporting it
// again and again measures the export alone, not the allocation. Both are
// called from one Python thread.
var kept []float64

//export goext_make
func goext_make(n C.int64_t) {
	n = max(n, 0)
	kept = make([]float64, int(n))
	for i := range kept {
		kept[i] = float64(i)
	}
}

//export goext_export_kept
func goext_export_kept() unsafe.Pointer {
	d, err := gomem.ExportSlice(kept)
	if err != nil {
		return nil
	}
	return d.Pointer()
}

// main never runs in a c-shared library; it exists so the package builds.
func main() {}
