package capi

/*
#include "cgo_const.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/internal/clayout"
	"github.com/pybuf-go/pybuf/pybuf/layout"
	"github.com/pybuf-go/pybuf/pybuf/status"
)

// completeLayout is pybuf_core_layout without the panic guard. The layout is
// only written on success, so a failed call leaves the shim's struct as it
// was.
func completeLayout(l *C.pybuf_layout, errBuf *C.char) C.int32_t {
	if l == nil {
		return fail(errBuf, &layout.Error{Kind: layout.KindValue, Arg: "layout", Msg: "layout is NULL"})
	}
	ndim := int(l.ndim)
	if err := layout.CheckNdim(ndim); err != nil { // before reading the C arrays
		return fail(errBuf, err)
	}

	format := layout.Format{Itemsize: int64(l.itemsize), DLCode: int32(l.dl_code), DLBits: int32(l.dl_bits)}
	if l.format != nil {
		f, err := layout.ParseFormat(C.GoString(l.format))
		if err != nil {
			return fail(errBuf, err)
		}
		format = f
	}

	// Copied out of C memory so that layout keeps no pointer into the shim's
	// struct.
	spec := layout.Spec{Itemsize: format.Itemsize, Shape: make([]int64, ndim)}
	for i := range ndim {
		spec.Shape[i] = int64(l.shape[i])
	}
	if l.has_strides != 0 {
		// The caller's count, not ndim: layout words a mismatch.
		n := int(l.nstrides)
		if n < 0 || n > C.PYBUF_MAXDIM {
			return fail(errBuf, &layout.Error{Kind: layout.KindValue, Arg: "strides",
				Msg: fmt.Sprintf("strides has %d entries but shape has %d", n, ndim)})
		}
		spec.Strides = make([]int64, n)
		for i := range n {
			spec.Strides[i] = int64(l.strides[i])
		}
	}

	var (
		address uint64
		res     layout.Result
		err     error
	)
	if l.is_region != 0 {
		address, res, err = layout.CheckRegion(uint64(l.parent_lo), uint64(l.parent_hi), uint64(l.offset), spec)
	} else {
		address = uint64(l.address)
		res, err = layout.Check(address, spec)
	}
	if err != nil {
		return fail(errBuf, err)
	}

	clayout.Write(unsafe.Pointer(l), address, format, res)
	writeErr(errBuf, "")
	return C.PYBUF_OK
}

// fail reports err to the shim: the status is the error's kind, which has
// the numbers of pybuf_status; an error of any other type is a bug, told as a
// ValueError rather than lost.
func fail(errBuf *C.char, err error) C.int32_t {
	writeErr(errBuf, err.Error())
	var se *status.Error
	if errors.As(err, &se) && se.Kind >= status.KindValue && se.Kind <= status.KindNotFound {
		return C.int32_t(se.Kind)
	}
	return C.PYBUF_ERR_VALUE
}

func cBool(b bool) C.int32_t {
	if b {
		return 1
	}
	return 0
}
