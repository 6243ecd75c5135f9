package capi

/*
#include "cgo_const.h"
#include <stdlib.h>
*/
import "C"

import (
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/registry"
	"github.com/pybuf-go/pybuf/pybuf/status"
	"github.com/pybuf-go/pybuf/pybuf/version"
)

// versionC is allocated once and never freed: the header promises static
// storage.
var versionC = (*C.pybuf_cchar)(C.CString(version.Version))

//export pybuf_core_abi
func pybuf_core_abi() C.int32_t { return C.PYBUF_CORE_ABI }

//export pybuf_core_version
func pybuf_core_version() *C.pybuf_cchar { return versionC }

//export pybuf_core_layout
func pybuf_core_layout(l *C.pybuf_layout, errBuf *C.char) (status C.int32_t) {
	defer func() {
		if p := recover(); p != nil {
			status = C.PYBUF_ERR_VALUE
			writeErr(errBuf, internalError(p))
		}
	}()
	return completeLayout(l, errBuf)
}

//export pybuf_core_registry_apply
func pybuf_core_registry_apply(regs *C.pybuf_cregistration, nregs C.int32_t, gone *C.pybuf_cuint64, ngone C.int32_t) {
	// An owner that could not be registered only misses from live(), which
	// must not stop the shim from working.
	defer func() { _ = recover() }()
	var batch []registry.Registration
	if regs != nil && nregs > 0 {
		batch = make([]registry.Registration, 0, int(nregs))
		for _, g := range unsafe.Slice(regs, int(nregs)) {
			var c registry.Counts
			if g.counts != nil {
				c = cCounts{g.counts}
			}
			batch = append(batch, registry.Registration{
				ID: uint64(g.id), Name: goString(g.name), Nbytes: int64(g.nbytes),
				Site: goString(g.site), Counts: c, Interp: int64(g.interp),
				Parent: uint64(g.parent),
			})
		}
	}
	var ids []uint64
	if gone != nil && ngone > 0 {
		for _, id := range unsafe.Slice(gone, int(ngone)) {
			ids = append(ids, uint64(id))
		}
	}
	registry.Apply(batch, ids)
}

//export pybuf_core_set_trace
func pybuf_core_set_trace(on C.int32_t) {
	defer func() { _ = recover() }()
	registry.SetTrace(on != 0)
}

//export pybuf_core_trace
func pybuf_core_trace(owner C.uint64_t, kind C.int32_t, site *C.pybuf_cchar) (token C.uint64_t) {
	defer func() {
		if recover() != nil {
			token = 0
		}
	}()
	return C.uint64_t(registry.Trace(uint64(owner), registry.Kind(kind), goString((*C.char)(site))))
}

//export pybuf_core_untrace
func pybuf_core_untrace(token C.uint64_t) {
	defer func() { _ = recover() }()
	registry.Untrace(uint64(token))
}

//export pybuf_core_live_json
func pybuf_core_live_json(interp C.int64_t) (out *C.char) {
	defer func() {
		if recover() != nil {
			out = C.CString("[]")
		}
	}()
	if interp < 0 {
		return C.CString(string(liveJSON(registry.Live())))
	}
	return C.CString(string(liveJSON(registry.LiveIn(int64(interp)))))
}

//export pybuf_core_holders
func pybuf_core_holders(id C.uint64_t) (out *C.char) {
	defer func() {
		if recover() != nil {
			out = C.CString("")
		}
	}()
	return C.CString(registry.Holders(uint64(id)))
}

//export pybuf_core_report_leaks
func pybuf_core_report_leaks(fd C.int32_t) (n C.int64_t) {
	defer func() {
		if recover() != nil {
			n = 0
		}
	}()
	return C.int64_t(registry.ReportLeaks(fdWriter(fd)))
}

//export pybuf_core_free
func pybuf_core_free(p unsafe.Pointer) { C.free(p) }

// sizedString copies n bytes at p (NULL: "") into a Go string; arg names the
// argument in the error for a negative length.
func sizedString(p *C.char, n C.int64_t, arg string) (string, error) {
	switch {
	case p == nil:
		return "", nil
	case n < 0:
		return "", status.Errorf(status.KindValue, arg, "%s length %d is negative", arg, int64(n))
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))), nil
}

// goString is C.GoString that reads NULL as "".
func goString(s *C.char) string {
	if s == nil {
		return ""
	}
	return C.GoString(s)
}
