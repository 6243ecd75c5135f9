package capi

/*
#include "cgo_const.h"
*/
import "C"

import (
	"fmt"
	"unicode/utf8"
	"unsafe"
)

// writeErr copies msg into the shim's PYBUF_ERRLEN-byte buffer, NUL
// terminated. A long message is cut on a UTF-8 boundary because the shim
// decodes it as UTF-8 to build the Python exception.
func writeErr(errBuf *C.char, msg string) {
	if errBuf == nil {
		return
	}
	buf := unsafe.Slice((*byte)(unsafe.Pointer(errBuf)), C.PYBUF_ERRLEN)
	if len(msg) > len(buf)-1 {
		msg = msg[:len(buf)-1]
		for len(msg) > 0 {
			r, size := utf8.DecodeLastRuneInString(msg)
			if r != utf8.RuneError || size != 1 {
				break
			}
			msg = msg[:len(msg)-1]
		}
	}
	n := copy(buf, msg)
	buf[n] = 0
}

func internalError(p any) string {
	return fmt.Sprintf("pybuf core: internal error: %v", p)
}
