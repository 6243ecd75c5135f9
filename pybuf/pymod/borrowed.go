package pymod

// #include "pybuf_core.h"
import "C"

import (
	"reflect"
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/layout"
	"github.com/pybuf-go/pybuf/pybuf/status"
)

// A borrowed argument is Python's memory, valid only during the call, and
// pinning does not hold it (it is not Go's). A result exported from it would
// outlive it: such a result is refused. (Memory of any other origin that is
// not Go's is the function's business: gomem.ExportC exports it.)

// sliceBytes is the range of bytes a slice's elements occupy.
func sliceBytes(v reflect.Value) (lo, hi uintptr) {
	if v.Kind() != reflect.Slice || v.Len() == 0 {
		return 0, 0
	}
	lo = uintptr(v.UnsafePointer())
	return lo, lo + uintptr(v.Len())*v.Type().Elem().Size()
}

// viewBytes is the range of bytes an argument's view reaches (0, 0 when it
// reaches none, or is not an array).
func viewBytes(p *slot, a *C.pybuf_go_arg) (lo, hi uintptr) {
	if p.kind != kindArray || a.data == nil {
		return 0, 0
	}
	base := uintptr(a.data)
	if a.strides == nil {
		return base, base + uintptr(a.len)
	}
	ndim := int(a.ndim)
	spec := layout.Spec{Itemsize: int64(a.itemsize), Shape: make([]int64, ndim), Strides: make([]int64, ndim)}
	copy(spec.Shape, unsafe.Slice((*int64)(unsafe.Pointer(a.shape)), ndim))
	copy(spec.Strides, unsafe.Slice((*int64)(unsafe.Pointer(a.strides)), ndim))
	res, err := layout.Check(uint64(base), spec)
	if err != nil || res.Nbytes == 0 {
		return 0, 0
	}
	return uintptr(int64(base) + res.Lo), uintptr(int64(base) + res.Hi)
}

// checkBorrowedResult refuses array result j (v, a slice or an Array) when
// it shares bytes with an argument's view.
func (f *function) checkBorrowedResult(j int, v reflect.Value, args []C.pybuf_go_arg) *status.Error {
	r := &f.sig.results[j]
	data := v
	if r.nd {
		data = v.Interface().(arrayValue).pymodArray().data
	}
	rlo, rhi := sliceBytes(data)
	if rlo == rhi {
		return nil
	}
	for i := range f.sig.params {
		p := &f.sig.params[i]
		plo, phi := viewBytes(p, &args[i])
		if plo < rhi && rlo < phi {
			return status.Errorf(status.KindValue, p.name,
				"%s: result %d is memory borrowed from argument '%s', which is Python's and only lent for "+
					"the call: return a copy (slices.Clone)", f.qual, j+1, p.name)
		}
	}
	return nil
}
