package capi

// Go-typed doors into the shared-memory exports, for shm_exports_test.go
// (cgo is not available in test files). The linker leaves them out of the core.

/*
#include "cgo_const.h"
#include <stdlib.h>
#include <string.h>

*/
import "C"

import "unsafe"

// shmResult is what an export left in its pybuf_mapping and error buffer.
type shmResult struct {
	Status  int32
	Msg     string
	Name    string
	Address unsafe.Pointer
	Size    uint64
	NameNUL bool // the name field is NUL-terminated
}

// shmCall runs f with a pybuf_mapping and an error buffer that start filled
// with 0xff, so a missing NUL terminator shows. A nil name is a NULL pointer.
func shmCall(name *string, f func(*C.pybuf_cchar, *C.pybuf_mapping, *C.char) C.int32_t) shmResult {
	m := (*C.pybuf_mapping)(C.malloc(C.sizeof_pybuf_mapping))
	defer C.free(unsafe.Pointer(m))
	C.memset(unsafe.Pointer(m), 0xff, C.sizeof_pybuf_mapping)
	errBuf := (*C.char)(C.malloc(C.PYBUF_ERRLEN))
	defer C.free(unsafe.Pointer(errBuf))
	C.memset(unsafe.Pointer(errBuf), 0xff, C.PYBUF_ERRLEN)
	cname := cstr(name)
	defer freeC(cname)

	r := shmResult{Status: int32(f((*C.pybuf_cchar)(cname), m, errBuf))}
	r.Msg = C.GoStringN(errBuf, C.int(C.strnlen(errBuf, C.PYBUF_ERRLEN)))
	if r.Status == 0 {
		n := C.strnlen(&m.name[0], C.PYBUF_NAMELEN)
		r.NameNUL = n < C.PYBUF_NAMELEN
		r.Name = C.GoStringN(&m.name[0], C.int(n))
		// read the uint64 field as the pointer it is (no uintptr round trip)
		r.Address, r.Size = *(*unsafe.Pointer)(unsafe.Pointer(&m.address)), uint64(m.size)
	}
	return r
}

func callShmCreate(name *string, size uint64, mode uint32) shmResult {
	return shmCall(name, func(n *C.pybuf_cchar, m *C.pybuf_mapping, e *C.char) C.int32_t {
		return pybuf_core_shm_create(n, C.uint64_t(size), C.uint32_t(mode), m, e)
	})
}

func callShmAttach(name *string, readonly bool) shmResult {
	return shmCall(name, func(n *C.pybuf_cchar, m *C.pybuf_mapping, e *C.char) C.int32_t {
		return pybuf_core_shm_attach(n, cBool(readonly), m, e)
	})
}

func callShmUnlink(name *string) shmResult {
	return shmCall(name, func(n *C.pybuf_cchar, _ *C.pybuf_mapping, e *C.char) C.int32_t {
		return pybuf_core_shm_unlink(n, e)
	})
}

func headerNameLen() int { return C.PYBUF_NAMELEN }
