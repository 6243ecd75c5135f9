// Package clayout writes the Go core's verdict on a layout into the shim's
// pybuf_layout (pybuf_core.h): the one place where a layout.Result crosses
// into C, for the layouts the shim asks about (capi) and for the arrays Go
// functions return (pymod).
package clayout

/*
#cgo CFLAGS: -I${SRCDIR}/../../capi
#include "pybuf_core.h"
*/
import "C"

import (
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/layout"
)

// Write fills the output fields of the pybuf_layout at l (a *C.pybuf_layout
// of any cgo package: the struct is the header's) from a layout validated at
// address with element type f. The input fields are left as they are.
func Write(l unsafe.Pointer, address uint64, f layout.Format, res layout.Result) {
	c := (*C.pybuf_layout)(l)
	for i, s := range res.Strides {
		c.strides[i] = C.int64_t(s)
	}
	c.address = C.uint64_t(address)
	c.itemsize = C.int64_t(f.Itemsize)
	c.dl_code = C.int32_t(f.DLCode)
	c.dl_bits = C.int32_t(f.DLBits)
	c.nbytes = C.int64_t(res.Nbytes)
	c.lo, c.hi = C.int64_t(res.Lo), C.int64_t(res.Hi)
	c.c_contiguous = cBool(res.CContiguous)
	c.f_contiguous = cBool(res.FContiguous)
	c.element_strides = cBool(res.ElementStrides)
	lowest, highest := res.AddressRange()
	c.addr_min, c.addr_max = C.uint64_t(lowest), C.uint64_t(highest)
}

func cBool(b bool) C.int32_t {
	if b {
		return 1
	}
	return 0
}
