package capi

/*
#include "cgo_const.h"
*/
import "C"

import (
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/gomem"
	"github.com/pybuf-go/pybuf/pybuf/pymod"
	"github.com/pybuf-go/pybuf/pybuf/status"
)

// Every core can hold Go modules (package pymod); pybuf's own holds none.

//export pybuf_core_go_module
func pybuf_core_go_module(name *C.pybuf_cchar, out **C.pybuf_cgo_module, errBuf *C.char) (st C.int32_t) {
	defer func() {
		if p := recover(); p != nil {
			st = C.PYBUF_ERR_VALUE
			writeErr(errBuf, internalError(p))
		}
	}()
	d, err := pymod.Describe(goString((*C.char)(name)))
	if err != nil {
		writeErr(errBuf, err.Error())
		return C.int32_t(status.KindNotFound)
	}
	*out = (*C.pybuf_cgo_module)(d)
	return C.PYBUF_OK
}

//export pybuf_core_go_call
func pybuf_core_go_call(id C.uint64_t, args *C.pybuf_cgo_arg, results *C.pybuf_go_result, msg **C.char) C.int32_t {
	return C.int32_t(pymod.Call(uint64(id), unsafe.Pointer(args), unsafe.Pointer(results), unsafe.Pointer(msg)))
}

//export pybuf_core_take_export
func pybuf_core_take_export(address C.uint64_t, out *C.pybuf_export, errBuf *C.char) (st C.int32_t) {
	defer func() {
		if p := recover(); p != nil {
			st = C.PYBUF_ERR_VALUE
			writeErr(errBuf, internalError(p))
		}
	}()
	if err := gomem.Take(uint64(address), unsafe.Pointer(out)); err != nil {
		return fail(errBuf, err)
	}
	return C.PYBUF_OK
}

//export pybuf_core_go_set_callback
func pybuf_core_go_set_callback(fn C.pybuf_go_callback_fn) {
	pymod.SetCallback(unsafe.Pointer(fn))
}
