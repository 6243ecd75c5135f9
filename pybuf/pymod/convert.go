package pymod

/*
#include "pybuf_core.h"
#include <stdlib.h>
#include <string.h>
*/
import "C"

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/gomem"
	"github.com/pybuf-go/pybuf/pybuf/internal/clayout"
	"github.com/pybuf-go/pybuf/pybuf/layout"
	"github.com/pybuf-go/pybuf/pybuf/status"
)

// The union of pybuf_go_arg and pybuf_go_result, read as each kind.
func argInt(a *C.pybuf_go_arg) int64     { return *(*int64)(unsafe.Pointer(&a.v)) }
func argUint(a *C.pybuf_go_arg) uint64   { return *(*uint64)(unsafe.Pointer(&a.v)) }
func argFloat(a *C.pybuf_go_arg) float64 { return *(*float64)(unsafe.Pointer(&a.v)) }

func setInt(r *C.pybuf_go_result, v int64)     { *(*int64)(unsafe.Pointer(&r.v)) = v }
func setUint(r *C.pybuf_go_result, v uint64)   { *(*uint64)(unsafe.Pointer(&r.v)) = v }
func setFloat(r *C.pybuf_go_result, v float64) { *(*float64)(unsafe.Pointer(&r.v)) = v }

// read converts one argument to the parameter's Go type. Strings are copied
// (the shim's bytes belong to a Python str); slices borrow the view.
func (s *slot) read(a *C.pybuf_go_arg, qual string) (reflect.Value, *status.Error) {
	v := reflect.New(s.t).Elem()
	switch s.kind {
	case kindBool:
		v.SetBool(argInt(a) != 0)
	case kindInt:
		v.SetInt(argInt(a))
	case kindUint:
		v.SetUint(argUint(a))
	case kindFloat:
		v.SetFloat(argFloat(a))
	case kindComplex:
		v.SetComplex(complex(argFloat(a), float64(a.imag)))
	case kindString:
		v.SetString(strings.Clone(unsafe.String((*byte)(a.data), int(a.len))))
	case kindArray:
		if s.nd {
			return s.readArray(a, qual)
		}
		n, err := s.checkView(a, qual)
		if err != nil {
			return v, err
		}
		v = reflect.SliceAt(s.elem, unsafe.Pointer(a.data), n).Convert(s.t)
	}
	return v, nil
}

// checkFormat is the element-type rule shared by slices and Arrays.
func (s *slot) checkFormat(a *C.pybuf_go_arg, arg func() string) (layout.Format, *status.Error) {
	f, text, err := parseViewFormat(a.format)
	if err != nil || f.DLCode != s.parsed.DLCode || f.DLBits != s.parsed.DLBits || f.Itemsize != s.parsed.Itemsize ||
		f.DLCode < 0 {
		return f, status.Errorf(status.KindType, s.name, "%s must hold %s elements (format %q), not format %q",
			arg(), s.elemName, s.format, text)
	}
	return f, nil
}

// readArray borrows any view (N-D, strided, negative strides) as an
// Array[T]: Data spans exactly the elements the view reaches and Offset is
// element (0, ..., 0). Byte strides must be whole elements.
func (s *slot) readArray(a *C.pybuf_go_arg, qual string) (reflect.Value, *status.Error) {
	arg := func() string { return fmt.Sprintf("%s() argument '%s'", qual, s.name) }
	f, err := s.checkFormat(a, arg)
	if err != nil {
		return reflect.Value{}, err
	}
	ndim := int(a.ndim)
	if ndim < 0 || ndim > layout.MaxDim || ndim > 0 && a.shape == nil {
		return reflect.Value{}, status.Errorf(status.KindValue, s.name, "%s has %d dimensions", arg(), ndim)
	}
	spec := layout.Spec{Itemsize: f.Itemsize, Shape: make([]int64, ndim)}
	copy(spec.Shape, unsafe.Slice((*int64)(unsafe.Pointer(a.shape)), ndim))
	if a.strides != nil {
		spec.Strides = make([]int64, ndim)
		copy(spec.Strides, unsafe.Slice((*int64)(unsafe.Pointer(a.strides)), ndim))
		for _, st := range spec.Strides {
			if st%f.Itemsize != 0 {
				return reflect.Value{}, status.Errorf(status.KindValue, s.name,
					"%s has strides %v, not whole %d-byte elements", arg(), spec.Strides, f.Itemsize)
			}
		}
	}
	res, cerr := layout.Check(uint64(uintptr(a.data)), spec)
	if cerr != nil {
		return reflect.Value{}, status.Errorf(status.KindValue, s.name, "%s: %v", arg(), cerr)
	}
	v := reflect.New(s.t).Elem()
	shape := make([]int, ndim)
	strides := make([]int, ndim)
	for i := range ndim {
		shape[i] = int(spec.Shape[i])
		strides[i] = int(res.Strides[i] / f.Itemsize)
	}
	if res.Nbytes > 0 {
		first := unsafe.Add(unsafe.Pointer(a.data), res.Lo)
		v.FieldByName("Data").Set(reflect.SliceAt(s.elem, first, int((res.Hi-res.Lo)/f.Itemsize)))
		v.FieldByName("Offset").SetInt(-res.Lo / f.Itemsize)
	}
	v.FieldByName("Shape").Set(reflect.ValueOf(shape))
	v.FieldByName("Strides").Set(reflect.ValueOf(strides))
	v.FieldByName("Readonly").SetBool(a.readonly != 0)
	return v, nil
}

// formats caches parsed view formats: NumPy gives a handful, over and
// over. Callers choose the strings, so the cache stops growing at
// maxFormats; later formats are parsed each time.
var (
	formats    sync.Map // string -> layout.Format or error
	nformats   atomic.Int64
	maxFormats = int64(256)
)

func cacheFormat(key string, v any) {
	if nformats.Add(1) <= maxFormats {
		formats.Store(key, v)
	}
}

func parseViewFormat(p *C.char) (layout.Format, string, error) {
	if p == nil {
		return layout.Format{Itemsize: 1, DLCode: 1, DLBits: 8}, "B", nil
	}
	key := unsafe.String((*byte)(unsafe.Pointer(p)), int(C.strlen(p)))
	if v, ok := formats.Load(key); ok {
		if f, ok := v.(layout.Format); ok {
			return f, key, nil
		}
		return layout.Format{}, key, v.(error)
	}
	key = strings.Clone(key)
	f, err := layout.ParseFormat(key)
	if err != nil {
		cacheFormat(key, err)
		return f, key, err
	}
	cacheFormat(key, f)
	return f, key, nil
}

// checkView is the layout rule for a borrowed slice: a 1-D, C-contiguous
// view of exactly the parameter's element type. It returns the number of
// elements. (Writability is the buffer protocol's: the shim asks the
// exporter for a writable view when the function writes the parameter.)
func (s *slot) checkView(a *C.pybuf_go_arg, qual string) (int, *status.Error) {
	// Only a refusal spells the argument out: the accepted path allocates nothing.
	arg := func() string { return fmt.Sprintf("%s() argument '%s'", qual, s.name) }
	f, err := s.checkFormat(a, arg)
	if err != nil {
		return 0, err
	}
	if a.ndim != 1 {
		return 0, status.Errorf(status.KindValue, s.name, "%s must be 1-dimensional, not %d-dimensional", arg(), int(a.ndim))
	}
	n := int64(0)
	if a.shape != nil {
		n = *(*int64)(unsafe.Pointer(a.shape))
	}
	if a.strides != nil && n > 1 && *(*int64)(unsafe.Pointer(a.strides)) != f.Itemsize {
		return 0, status.Errorf(status.KindValue, s.name,
			"%s must be contiguous (its stride is %d bytes, its elements %d bytes): pass a copy, e.g. numpy.ascontiguousarray",
			arg(), *(*int64)(unsafe.Pointer(a.strides)), f.Itemsize)
	}
	if n < 0 || n*f.Itemsize != int64(a.len) {
		return 0, status.Errorf(status.KindValue, s.name, "%s: the view's shape does not match its length", arg())
	}
	if n > 0 && a.data == nil {
		return 0, status.Errorf(status.KindValue, s.name, "%s: the view's buffer is NULL", arg())
	}
	return int(n), nil
}

// write stores one result for the shim. An array result is exported; the
// returned Descriptor must be handed over (or discarded) by the caller.
func (s *slot) write(r *C.pybuf_go_result, v reflect.Value) (*gomem.Descriptor, error) {
	switch s.kind {
	case kindBool:
		setInt(r, int64(btoi(v.Bool())))
	case kindInt:
		setInt(r, v.Int())
	case kindUint:
		setUint(r, v.Uint())
	case kindFloat:
		setFloat(r, v.Float())
	case kindComplex:
		c := v.Complex()
		setFloat(r, real(c))
		r.imag = C.double(imag(c))
	case kindString:
		setBytes(r, unsafe.StringData(v.String()), v.Len())
	case kindBytes:
		setBytes(r, unsafe.SliceData(v.Bytes()), v.Len())
	case kindArray:
		return s.export(r.array, v)
	}
	return nil, nil
}

func setBytes(r *C.pybuf_go_result, p *byte, n int) {
	r.len = C.int64_t(n)
	r.data = nil
	if n > 0 {
		r.data = (*C.char)(C.malloc(C.size_t(n)))
		if r.data == nil {
			panic("pymod: out of C memory")
		}
		copy(unsafe.Slice((*byte)(unsafe.Pointer(r.data)), n), unsafe.Slice(p, n))
	}
}

// export pins the result and writes its validated, completed layout into
// the shim's pybuf_go_array.
func (s *slot) export(dst *C.pybuf_go_array, v reflect.Value) (*gomem.Descriptor, error) {
	var (
		d   *gomem.Descriptor
		err error
		ro  bool
	)
	if s.nd {
		p := v.Interface().(arrayValue).pymodArray()
		d, err = gomem.ExportValue(p.data, p.offset, p.shape, p.strides)
		ro = p.readonly
	} else {
		d, err = gomem.ExportValue(v, 0, nil, nil)
	}
	if err != nil {
		return nil, err
	}
	d.SetReadonly(ro)
	e := (*C.pybuf_export)(d.Peek())
	spec := layout.Spec{Itemsize: s.parsed.Itemsize, Shape: make([]int64, int(e.ndim))}
	for i := range spec.Shape {
		spec.Shape[i] = int64(e.shape[i])
	}
	if e.has_strides != 0 {
		spec.Strides = make([]int64, int(e.ndim))
		for i := range spec.Strides {
			spec.Strides[i] = int64(e.strides[i])
		}
	}
	res, err := layout.Check(uint64(e.address), spec)
	if err != nil {
		d.Discard()
		return nil, err
	}
	l := &dst.layout
	l.format = nil
	l.ndim = e.ndim
	l.has_strides = 1
	l.nstrides = e.ndim
	for i := range spec.Shape {
		l.shape[i] = C.int64_t(spec.Shape[i])
	}
	clayout.Write(unsafe.Pointer(l), uint64(e.address), s.parsed, res)
	dst.format = e.format
	dst.readonly = e.readonly
	dst.release = e.release
	dst.release_arg = e.release_arg
	return d, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
