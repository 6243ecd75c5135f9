package gomem

// Go-typed doors into descriptors for the tests: cgo is not available in
// test files. adoptForTest does what pybuf.adopt does with a descriptor (copy
// it, free it, keep the release for later); nothing in the library calls it.

/*
#include "pybuf_core.h"
#include <stdlib.h>

// The argument is an id, not a pointer: it stays an integer on the Go side,
// where a small value typed as a pointer would upset the garbage collector.
static void gomem_call(void (*f)(void *), uintptr_t arg) { f((void *)arg); }
static uintptr_t gomem_arg_of(const pybuf_export *d) { return (uintptr_t)d->release_arg; }
*/
import "C"

import "unsafe"

type adopted struct {
	Address      uint64
	Shape        []int64
	Strides      []int64 // nil unless the descriptor has strides
	Format, Name string
	Readonly     bool
	HasRelease   bool
	release      *[0]byte
	arg          C.uintptr_t
}

// Release calls the descriptor's release from C, as the shim does.
func (a adopted) Release() {
	if a.release != nil {
		C.gomem_call(a.release, a.arg)
	}
}

func adoptForTest(p unsafe.Pointer) adopted {
	d := (*C.pybuf_export)(C.calloc(1, C.sizeof_pybuf_export))
	if err := Take(uint64(uintptr(p)), unsafe.Pointer(d)); err != nil {
		panic(err)
	}
	a := adopted{
		Address:    uint64(d.address),
		Format:     C.GoString(&d.format[0]),
		Name:       C.GoString(&d.name[0]),
		Readonly:   d.readonly != 0,
		HasRelease: d.release != nil,
		release:    d.release,
		arg:        C.gomem_arg_of(d),
	}
	for i := range int(d.ndim) {
		a.Shape = append(a.Shape, int64(d.shape[i]))
		if d.has_strides != 0 {
			a.Strides = append(a.Strides, int64(d.strides[i]))
		}
	}
	C.free(unsafe.Pointer(d))
	return a
}

// takeForTest is Take into a scratch pybuf_export.
func takeForTest(address uint64) error {
	d := C.calloc(1, C.sizeof_pybuf_export)
	defer C.free(d)
	return Take(address, d)
}
