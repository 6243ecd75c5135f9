package gomem

/*
#include "pybuf_core.h"
#include <stdlib.h>
#include <string.h>
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/status"
)

// Descriptors handed over (Pointer, Address) and not yet taken by pybuf.
// pybuf.adopt takes a descriptor only from this set, so an address that is
// not one (adopted already, a pointer ctypes truncated to an int, any other
// number) is refused before anything reads it: no double free, no read of
// freed or foreign memory.
var handed = map[uintptr]struct{}{} // guarded by table's lock

func markHanded(p unsafe.Pointer) {
	table.Lock()
	handed[uintptr(p)] = struct{}{}
	table.Unlock()
}

// Take moves the descriptor at address into out (a pybuf_export the
// caller owns) and frees it, if it is one handed over and not taken yet;
// from then on the caller owns its release. It backs pybuf_core_take_export.
func Take(address uint64, out unsafe.Pointer) error {
	p := uintptr(address)
	table.Lock()
	_, ok := handed[p]
	delete(handed, p)
	table.Unlock()
	if !ok {
		return status.Errorf(status.KindValue, "descriptor",
			"descriptor %#x is not a descriptor waiting for adoption: it was adopted already, or it is not "+
				"the address a gomem Descriptor handed over (through ctypes, set restype = ctypes.c_void_p)", address)
	}
	if out == nil {
		return fmt.Errorf("gomem: Take into NULL")
	}
	src := *(*unsafe.Pointer)(unsafe.Pointer(&p)) // the C descriptor, known live
	C.memcpy(out, src, C.sizeof_pybuf_export)
	C.free(src)
	return nil
}

// Moved frees a descriptor that was copied elsewhere without handing it
// over (pybuf/pymod copies it into the shim's result slot, whose owner now
// runs the release); the release does not run here.
func (d *Descriptor) Moved() {
	if d.p != nil {
		C.free(unsafe.Pointer(d.p))
		d.p = nil
	}
}
