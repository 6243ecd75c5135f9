package gomem

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/layout"
)

// ExportStrided describes a strided view of s for Python, gonum-style:
// element (i, j, ...) is s[offset + i*strides[0] + j*strides[1] + ...].
// Strides count elements (as mat.Dense's Stride does) and may be negative;
// every element the view reaches must lie inside s, or nothing is exported.
// The whole backing array of s stays pinned until the last view is gone.
func ExportStrided[T any](s []T, offset int, shape, strides []int) (*Descriptor, error) {
	return ExportValue(reflect.ValueOf(s), offset, shape, strides)
}

// ExportValue is ExportSlice, ExportRecords and ExportStrided for a slice
// whose type is known only at run time (pybuf/pymod uses it): v must be a
// slice. With strides nil and offset 0, shape must hold exactly v.Len()
// elements, as for ExportSlice; otherwise the view is checked as for
// ExportStrided.
func ExportValue(v reflect.Value, offset int, shape, strides []int) (*Descriptor, error) {
	if v.Kind() != reflect.Slice {
		return nil, fmt.Errorf("gomem: %v is not a slice", v.Type())
	}
	t := v.Type().Elem()
	data := v.UnsafePointer()
	if strides == nil && offset == 0 {
		return exportSlice(t, (*byte)(data), v.Len(), v.Interface(), shape)
	}
	return exportStrided(t, data, v.Len(), v.Interface(), offset, shape, strides)
}

// ElementFormat is the PEP 3118 format of an export of []t: t's own code
// ("d" for float64), a record for structs, the innermost element's code for
// array types (whose lengths become trailing dimensions).
func ElementFormat(t reflect.Type) (string, error) {
	el, err := layoutOf(t)
	return el.format, err
}

func exportStrided(t reflect.Type, data unsafe.Pointer, n int, keep any, offset int, shape, strides []int) (*Descriptor, error) {
	el, err := layoutOf(t)
	if err != nil {
		return nil, err
	}
	if len(shape) != len(strides) {
		return nil, fmt.Errorf("gomem: %d strides for %d dimensions", len(strides), len(shape))
	}
	if len(shape)+len(el.dims) > layout.MaxDim {
		return nil, fmt.Errorf("gomem: %d dimensions, at most %d", len(shape)+len(el.dims), layout.MaxDim)
	}
	if offset < 0 || offset > n {
		return nil, fmt.Errorf("gomem: offset %d is outside the slice of %d elements", offset, n)
	}
	empty := false
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("gomem: shape %v has a negative dimension", shape)
		}
		empty = empty || d == 0
	}
	// The lowest and highest element index the view reaches, checked one
	// dimension at a time so that no product can overflow.
	lo, hi := offset, offset
	for i, d := range shape {
		if empty || d == 1 {
			continue
		}
		s := strides[i]
		reach := n // any step beyond the slice's length leaves the slice
		if s > -n && s < n {
			reach = (d - 1) * abs(s)
		}
		if s < 0 {
			lo -= reach
		} else {
			hi += reach
		}
		if lo < 0 || hi >= n {
			return nil, fmt.Errorf("gomem: shape %v with strides %v from offset %d reaches outside the slice of %d elements",
				shape, strides, offset, n)
		}
	}
	if !empty && offset >= n {
		return nil, fmt.Errorf("gomem: offset %d is outside the slice of %d elements", offset, n)
	}
	dims := make([]int64, 0, len(shape)+len(el.dims))
	byteStrides := make([]int64, 0, cap(dims))
	for i, d := range shape {
		dims = append(dims, int64(d))
		byteStrides = append(byteStrides, int64(strides[i])*int64(el.size))
	}
	inner := make([]int64, len(el.dims)) // trailing dimensions are C-contiguous inside one element
	step := el.itemsize
	for i := len(el.dims) - 1; i >= 0; i-- {
		inner[i] = step
		step *= int64(el.dims[i])
	}
	for i, d := range el.dims {
		dims = append(dims, int64(d))
		byteStrides = append(byteStrides, inner[i])
	}
	e, err := holdFor(data, n, uintptr(el.size), keep)
	if err != nil {
		return nil, err
	}
	addr := uint64(uintptr(data)) + uint64(offset)*uint64(el.size)
	if empty {
		addr = uint64(uintptr(data)) // a view of nothing points at the slice, as NumPy's would
	}
	d, err := describeStrided(addr, el.format, el.itemsize, dims, byteStrides)
	return publish(e, d, err)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
