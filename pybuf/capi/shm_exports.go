package capi

/*
#include "cgo_const.h"
*/
import "C"

import (
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/shm"
)

//export pybuf_core_shm_create
func pybuf_core_shm_create(name *C.pybuf_cchar, size C.uint64_t, mode C.uint32_t, out *C.pybuf_mapping, errBuf *C.char) (status C.int32_t) {
	defer recoverShm(&status, errBuf)
	m, err := shm.Create(goString((*C.char)(name)), uint64(size), uint32(mode))
	return answerMapping(m, err, out, errBuf)
}

//export pybuf_core_shm_attach
func pybuf_core_shm_attach(name *C.pybuf_cchar, readonly C.int32_t, out *C.pybuf_mapping, errBuf *C.char) (status C.int32_t) {
	defer recoverShm(&status, errBuf)
	m, err := shm.Attach(goString((*C.char)(name)), readonly != 0)
	return answerMapping(m, err, out, errBuf)
}

//export pybuf_core_shm_unlink
func pybuf_core_shm_unlink(name *C.pybuf_cchar, errBuf *C.char) (status C.int32_t) {
	defer recoverShm(&status, errBuf)
	return shmStatus(shm.Unlink(goString((*C.char)(name))), errBuf)
}

func recoverShm(status *C.int32_t, errBuf *C.char) {
	if p := recover(); p != nil {
		*status = C.PYBUF_ERR_VALUE
		writeErr(errBuf, internalError(p))
	}
}

// answerMapping fills out (address, size, NUL-terminated name) on success.
func answerMapping(m shm.Mapping, err error, out *C.pybuf_mapping, errBuf *C.char) C.int32_t {
	if err != nil {
		return shmStatus(err, errBuf)
	}
	out.address = C.uint64_t(uintptr(m.Addr))
	out.size = C.uint64_t(m.Size)
	name := unsafe.Slice((*byte)(unsafe.Pointer(&out.name[0])), C.PYBUF_NAMELEN)
	name[copy(name[:len(name)-1], m.Name)] = 0 // shm.CleanName keeps names short enough
	return shmStatus(nil, errBuf)
}

func shmStatus(err error, errBuf *C.char) C.int32_t {
	if err == nil {
		writeErr(errBuf, "")
		return C.PYBUF_OK
	}
	return fail(errBuf, err)
}
