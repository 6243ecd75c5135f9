package capi

/*
#include "cgo_const.h"
*/
import "C"

import (
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/shm"
	"github.com/pybuf-go/pybuf/pybuf/status"
)

//export pybuf_core_shm_create
func pybuf_core_shm_create(name *C.pybuf_cchar, namelen C.int64_t, size C.uint64_t, mode C.uint32_t, out *C.pybuf_mapping, errBuf *C.char) (rc C.int32_t) {
	defer recoverShm(&rc, errBuf)
	n, err := nameArg(name, namelen)
	if err != nil {
		return shmStatus(err, errBuf)
	}
	m, err := shm.Create(n, uint64(size), uint32(mode))
	return answerMapping(m, err, out, errBuf)
}

//export pybuf_core_shm_attach
func pybuf_core_shm_attach(name *C.pybuf_cchar, namelen C.int64_t, flags C.int32_t, out *C.pybuf_mapping, errBuf *C.char) (rc C.int32_t) {
	defer recoverShm(&rc, errBuf)
	if flags&^(C.PYBUF_SHM_READONLY|C.PYBUF_SHM_ALLOW_FOREIGN) != 0 {
		return shmStatus(status.Errorf(status.KindValue, "flags", "flags %#x has unknown bits", int32(flags)), errBuf)
	}
	n, err := nameArg(name, namelen)
	if err != nil {
		return shmStatus(err, errBuf)
	}
	m, err := shm.Attach(n, shm.AttachOptions{
		Readonly:     flags&C.PYBUF_SHM_READONLY != 0,
		AllowForeign: flags&C.PYBUF_SHM_ALLOW_FOREIGN != 0,
	})
	return answerMapping(m, err, out, errBuf)
}

//export pybuf_core_shm_unlink
func pybuf_core_shm_unlink(name *C.pybuf_cchar, namelen C.int64_t, errBuf *C.char) (rc C.int32_t) {
	defer recoverShm(&rc, errBuf)
	n, err := nameArg(name, namelen)
	if err != nil {
		return shmStatus(err, errBuf)
	}
	return shmStatus(shm.Unlink(n), errBuf)
}

// nameArg is a name passed as pointer and length, every byte of it (a NUL
// included, so that shm.CleanName refuses it instead of C cutting it short).
func nameArg(name *C.pybuf_cchar, namelen C.int64_t) (string, error) {
	return sizedString((*C.char)(name), namelen, "name")
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
