package capi

/*
#include "cgo_const.h"
*/
import "C"

import "github.com/pybuf-go/pybuf/pybuf/layout"

//export pybuf_core_check_stream_format
func pybuf_core_check_stream_format(format *C.pybuf_cchar, n C.int64_t, errBuf *C.char) (rc C.int32_t) {
	defer func() {
		if p := recover(); p != nil {
			rc = C.PYBUF_ERR_VALUE
			writeErr(errBuf, internalError(p))
		}
	}()
	s, err := sizedString((*C.char)(format), n, "format")
	if err == nil {
		err = layout.CheckStreamFormat(s)
	}
	if err != nil {
		return fail(errBuf, err)
	}
	writeErr(errBuf, "")
	return C.PYBUF_OK
}
