package pymod

import (
	"reflect"

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

// arraySlice is the slice under a parameter or result of kindArray.
func arraySlice(s *slot, v reflect.Value) reflect.Value {
	if s.nd {
		return v.Interface().(arrayValue).pymodArray().data
	}
	return v
}

// checkNotBorrowed refuses array results that share bytes with an argument.
func (f *function) checkNotBorrowed(in, out []reflect.Value) *status.Error {
	for j := range f.sig.results {
		r := &f.sig.results[j]
		if r.kind != kindArray {
			continue
		}
		rlo, rhi := sliceBytes(arraySlice(r, out[j]))
		if rlo == rhi {
			continue
		}
		for i := range f.sig.params {
			p := &f.sig.params[i]
			if p.kind != kindArray {
				continue
			}
			plo, phi := sliceBytes(arraySlice(p, in[i]))
			if plo < rhi && rlo < phi {
				return status.Errorf(status.KindValue, p.name,
					"%s: result %d is memory borrowed from argument '%s', which is Python's and only lent for "+
						"the call: return a copy (slices.Clone)", f.qual, j+1, p.name)
			}
		}
	}
	return nil
}
