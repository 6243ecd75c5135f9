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
// with 0xff, so a missing NUL terminator shows. A nil name is a NULL pointer;
// the length passed is the whole Go string's, NUL bytes included.
func shmCall(name *string, f func(*C.pybuf_cchar, C.int64_t, *C.pybuf_mapping, *C.char) C.int32_t) shmResult {
	m := (*C.pybuf_mapping)(C.malloc(C.sizeof_pybuf_mapping))
	defer C.free(unsafe.Pointer(m))
	C.memset(unsafe.Pointer(m), 0xff, C.sizeof_pybuf_mapping)
	errBuf := (*C.char)(C.malloc(C.PYBUF_ERRLEN))
	defer C.free(unsafe.Pointer(errBuf))
	C.memset(unsafe.Pointer(errBuf), 0xff, C.PYBUF_ERRLEN)
	cname := cstr(name)
	defer freeC(cname)

	namelen := C.int64_t(-1) // never read for a NULL name: -1 shows if it were
	if name != nil {
		namelen = C.int64_t(len(*name))
	}
	r := shmResult{Status: int32(f((*C.pybuf_cchar)(cname), namelen, m, errBuf))}
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
	return shmCall(name, func(n *C.pybuf_cchar, nl C.int64_t, m *C.pybuf_mapping, e *C.char) C.int32_t {
		return pybuf_core_shm_create(n, nl, C.uint64_t(size), C.uint32_t(mode), m, e)
	})
}

// shmFlags are pybuf_core_shm_attach's flags as the header defines them.
func shmFlags(readonly, allowForeign bool) int32 {
	var f int32
	if readonly {
		f |= C.PYBUF_SHM_READONLY
	}
	if allowForeign {
		f |= C.PYBUF_SHM_ALLOW_FOREIGN
	}
	return f
}

func callShmAttach(name *string, flags int32) shmResult {
	return shmCall(name, func(n *C.pybuf_cchar, nl C.int64_t, m *C.pybuf_mapping, e *C.char) C.int32_t {
		return pybuf_core_shm_attach(n, nl, C.int32_t(flags), m, e)
	})
}

func callShmUnlink(name *string) shmResult {
	return shmCall(name, func(n *C.pybuf_cchar, nl C.int64_t, _ *C.pybuf_mapping, e *C.char) C.int32_t {
		return pybuf_core_shm_unlink(n, nl, e)
	})
}

// callShmUnlinkLen passes namelen as given, to see how a bad length is read.
func callShmUnlinkLen(name string, namelen int64) shmResult {
	return shmCall(&name, func(n *C.pybuf_cchar, _ C.int64_t, _ *C.pybuf_mapping, e *C.char) C.int32_t {
		return pybuf_core_shm_unlink(n, C.int64_t(namelen), e)
	})
}

func headerNameLen() int { return C.PYBUF_NAMELEN }

// callCheckStreamFormat passes the whole Go string, NUL bytes included.
func callCheckStreamFormat(format string) (int32, string) {
	errBuf := (*C.char)(C.malloc(C.PYBUF_ERRLEN))
	defer C.free(unsafe.Pointer(errBuf))
	C.memset(unsafe.Pointer(errBuf), 0xff, C.PYBUF_ERRLEN)
	cformat := cstr(&format)
	defer freeC(cformat)
	st := int32(pybuf_core_check_stream_format((*C.pybuf_cchar)(cformat), C.int64_t(len(format)), errBuf))
	return st, C.GoStringN(errBuf, C.int(C.strnlen(errBuf, C.PYBUF_ERRLEN)))
}
