package capi

// Go-typed doors into the exports, for capi_test.go: cgo is not available in
// test files, so the C structs and strings the tests pass are built here.
// Nothing in the library calls these; the linker leaves them out.

/*
#include "cgo_const.h"
#include <stdlib.h>
#include <string.h>
*/
import "C"

import (
	"sync/atomic"
	"unsafe"
)

// layoutCase is a pybuf_layout in Go types. Format nil is a NULL format.
type layoutCase struct {
	Format                  *string
	IsRegion, HasStrides    bool
	Ndim                    int32 // taken as is, so tests can pass a bad one
	ParentLo, ParentHi, Off uint64
	Shape, Strides          []int64
	Address                 uint64
	Itemsize                int64
	DLCode, DLBits          int32
	Nbytes, Lo, Hi          int64
	CContiguous             bool
	FContiguous             bool
	ElementStrides          bool
}

// callLayout runs pybuf_core_layout on a C copy of in and returns the struct
// as the core left it, the status and the message. The error buffer starts
// filled with 0xff so a missing NUL terminator shows.
func callLayout(in layoutCase) (out layoutCase, status int32, msg string, msgLen int) {
	l := (*C.pybuf_layout)(C.calloc(1, C.sizeof_pybuf_layout))
	defer C.free(unsafe.Pointer(l))
	errBuf := (*C.char)(C.malloc(C.PYBUF_ERRLEN))
	defer C.free(unsafe.Pointer(errBuf))
	C.memset(unsafe.Pointer(errBuf), 0xff, C.PYBUF_ERRLEN)

	if in.Format != nil {
		l.format = C.CString(*in.Format)
		defer C.free(unsafe.Pointer(l.format))
	}
	l.is_region = cBool(in.IsRegion)
	l.has_strides = cBool(in.HasStrides)
	l.ndim = C.int32_t(in.Ndim)
	l.parent_lo, l.parent_hi, l.offset = C.uint64_t(in.ParentLo), C.uint64_t(in.ParentHi), C.uint64_t(in.Off)
	for i, v := range in.Shape {
		l.shape[i] = C.int64_t(v)
	}
	for i, v := range in.Strides {
		l.strides[i] = C.int64_t(v)
	}
	l.nstrides = C.int32_t(len(in.Strides))
	l.address = C.uint64_t(in.Address)
	l.itemsize = C.int64_t(in.Itemsize)
	l.dl_code, l.dl_bits = C.int32_t(in.DLCode), C.int32_t(in.DLBits)
	l.nbytes, l.lo, l.hi = C.int64_t(in.Nbytes), C.int64_t(in.Lo), C.int64_t(in.Hi)

	status = int32(pybuf_core_layout(l, errBuf))

	out = in
	n := max(0, min(int(in.Ndim), C.PYBUF_MAXDIM))
	out.Strides = make([]int64, n)
	for i := range n {
		out.Strides[i] = int64(l.strides[i])
	}
	out.Address = uint64(l.address)
	out.Itemsize = int64(l.itemsize)
	out.DLCode, out.DLBits = int32(l.dl_code), int32(l.dl_bits)
	out.Nbytes, out.Lo, out.Hi = int64(l.nbytes), int64(l.lo), int64(l.hi)
	out.CContiguous, out.FContiguous = l.c_contiguous != 0, l.f_contiguous != 0
	out.ElementStrides = l.element_strides != 0
	msgLen = int(C.strnlen(errBuf, C.PYBUF_ERRLEN))
	return out, status, C.GoStringN(errBuf, C.int(msgLen)), msgLen
}

// callLayoutNil passes a NULL layout, and a NULL error buffer when noErr.
func callLayoutNil(noErr bool) (int32, string) {
	if noErr {
		return int32(pybuf_core_layout(nil, nil)), ""
	}
	errBuf := (*C.char)(C.calloc(1, C.PYBUF_ERRLEN))
	defer C.free(unsafe.Pointer(errBuf))
	status := pybuf_core_layout(nil, errBuf)
	return int32(status), C.GoString(errBuf)
}

// writeErrRaw runs writeErr on a fresh buffer and returns its bytes up to
// the NUL.
func writeErrRaw(msg string) []byte {
	errBuf := (*C.char)(C.malloc(C.PYBUF_ERRLEN))
	defer C.free(unsafe.Pointer(errBuf))
	C.memset(unsafe.Pointer(errBuf), 0xff, C.PYBUF_ERRLEN)
	writeErr(errBuf, msg)
	return C.GoBytes(unsafe.Pointer(errBuf), C.int(C.strnlen(errBuf, C.PYBUF_ERRLEN)))
}

// testCounts is a pybuf_counts in C memory, as the shim keeps it.
type testCounts struct{ p *C.pybuf_counts }

func newTestCounts(buffers, exports, nbytes, state int64) testCounts {
	c := testCounts{(*C.pybuf_counts)(C.calloc(1, C.sizeof_pybuf_counts))}
	c.set(buffers, exports, nbytes, state)
	return c
}

func (c testCounts) set(buffers, exports, nbytes, state int64) {
	c.p.buffers, c.p.exports = C.int64_t(buffers), C.int64_t(exports)
	c.p.nbytes, c.p.state = C.int64_t(nbytes), C.int64_t(state)
}

func (c testCounts) free() { C.free(unsafe.Pointer(c.p)) }

// cstr is a C copy of s, or NULL for nil; free it with freeC.
func cstr(s *string) *C.char {
	if s == nil {
		return nil
	}
	return C.CString(*s)
}

func freeC(p *C.char) { C.free(unsafe.Pointer(p)) }

// testIDs numbers owners the way the shim does: below 2^63, never reused.
var testIDs uint64

func callRegister(name *string, nbytes int64, site *string, counts *testCounts) uint64 {
	return callRegisterIn(0, name, nbytes, site, counts)
}

// callRegisterIn registers an owner as created by Python interpreter `interp`.
func callRegisterIn(interp int64, name *string, nbytes int64, site *string, counts *testCounts) uint64 {
	n, s := cstr(name), cstr(site)
	defer freeC(n)
	defer freeC(s)
	reg := (*C.pybuf_registration)(C.calloc(1, C.sizeof_pybuf_registration))
	defer C.free(unsafe.Pointer(reg))
	id := atomic.AddUint64(&testIDs, 1)
	reg.id, reg.name, reg.nbytes, reg.site = C.uint64_t(id), n, C.int64_t(nbytes), s
	reg.interp = C.int64_t(interp)
	if counts != nil {
		reg.counts = counts.p
	}
	pybuf_core_registry_apply((*C.pybuf_cregistration)(reg), 1, nil, 0)
	return id
}

// callRegisterChild registers an owner whose memory belongs to owner `parent`.
func callRegisterChild(parent uint64, name *string) uint64 {
	n := cstr(name)
	defer freeC(n)
	reg := (*C.pybuf_registration)(C.calloc(1, C.sizeof_pybuf_registration))
	defer C.free(unsafe.Pointer(reg))
	id := atomic.AddUint64(&testIDs, 1)
	reg.id, reg.name, reg.nbytes, reg.parent = C.uint64_t(id), n, -1, C.uint64_t(parent)
	pybuf_core_registry_apply((*C.pybuf_cregistration)(reg), 1, nil, 0)
	return id
}

func callUnregister(id uint64) {
	gone := (*C.uint64_t)(C.malloc(8))
	defer C.free(unsafe.Pointer(gone))
	*gone = C.uint64_t(id)
	pybuf_core_registry_apply(nil, 0, (*C.pybuf_cuint64)(gone), 1)
}

func callSetTrace(on int32)        { pybuf_core_set_trace(C.int32_t(on)) }
func callUntrace(token uint64)     { pybuf_core_untrace(C.uint64_t(token)) }
func callAbi() int32               { return int32(pybuf_core_abi()) }
func callVersion() string          { return C.GoString((*C.char)(pybuf_core_version())) }
func callReportLeaks(fd int) int64 { return int64(pybuf_core_report_leaks(C.int32_t(fd))) }

func callTrace(owner uint64, kind int32, site *string) uint64 {
	s := cstr(site)
	defer freeC(s)
	return uint64(pybuf_core_trace(C.uint64_t(owner), C.int32_t(kind), (*C.pybuf_cchar)(s)))
}

// takeString returns a malloc'd string from the core and frees it.
func takeString(p *C.char) string {
	defer pybuf_core_free(unsafe.Pointer(p))
	return C.GoString(p)
}

func callLiveJSON() string { return takeString(pybuf_core_live_json(-1)) }
func callLiveJSONIn(interp int64) string {
	return takeString(pybuf_core_live_json(C.int64_t(interp)))
}
func callHolders(id uint64) string { return takeString(pybuf_core_holders(C.uint64_t(id))) }

// The header's numbers, for the tests that check the Go packages agree.
func headerStatuses() []int32 {
	return []int32{C.PYBUF_OK, C.PYBUF_ERR_VALUE, C.PYBUF_ERR_OVERFLOW,
		C.PYBUF_ERR_TYPE, C.PYBUF_ERR_BUFFER, C.PYBUF_ERR_NOT_PEP3118, C.PYBUF_ERR_NOT_FOUND,
		C.PYBUF_ERR_KEY, C.PYBUF_ERR_INDEX, C.PYBUF_ERR_RUNTIME, C.PYBUF_ERR_NAMED, C.PYBUF_ERR_CALLBACK}
}

func headerTraceKinds() (buffer, export int32)  { return C.PYBUF_TRACE_BUFFER, C.PYBUF_TRACE_EXPORT }
func headerStateBits() (closed, released int64) { return C.PYBUF_STATE_CLOSED, C.PYBUF_STATE_RELEASED }
func headerABI() int32                          { return C.PYBUF_CORE_ABI }
func headerMaxDim() int                         { return C.PYBUF_MAXDIM }
func headerErrLen() int                         { return C.PYBUF_ERRLEN }
func headerDLCodes() []int32 {
	return []int32{C.PYBUF_DL_NONE, C.PYBUF_DL_INT, C.PYBUF_DL_UINT, C.PYBUF_DL_FLOAT,
		C.PYBUF_DL_COMPLEX, C.PYBUF_DL_BOOL}
}
