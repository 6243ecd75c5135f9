package gomem

/*
#cgo CFLAGS: -I${SRCDIR}/../capi
#include "pybuf_core.h"
#include <stdlib.h>

extern void pybuf_gomem_release_id(uintptr_t id);

// The id travels as the release's void * argument and reaches Go as an
// integer: a Go unsafe.Pointer holding a small integer could look like a bad
// pointer to the garbage collector.
static void gomem_release(void *arg) { pybuf_gomem_release_id((uintptr_t)arg); }

static void gomem_arm(pybuf_export *d, uintptr_t id)
{
    d->release = gomem_release;
    d->release_arg = (void *)id;
}
*/
import "C"

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/layout"
)

// Descriptor is an export on its way to Python: a pybuf_export in C memory
// (pybuf_core.h). Hand it over with Pointer or Address and have Python pass
// it to pybuf.adopt exactly once, or give it back with Discard.
type Descriptor struct {
	p  *C.pybuf_export
	id uint64 // 0: nothing to release on the Go side
}

// Pointer hands the descriptor over, for an exported function to return as
// a void *. Later calls return nil, so one descriptor cannot be adopted twice.
func (d *Descriptor) Pointer() unsafe.Pointer {
	p := unsafe.Pointer(d.p)
	d.p = nil
	if p != nil {
		markHanded(p)
	}
	return p
}

// Peek is the descriptor without handing it over (nil once handed over):
// pybuf/pymod reads it to fill the shim's result slot, then calls Moved.
func (d *Descriptor) Peek() unsafe.Pointer { return unsafe.Pointer(d.p) }

// Address is Pointer as an integer, for functions returning uintptr_t.
func (d *Descriptor) Address() uintptr { return uintptr(d.Pointer()) }

// SetName names the owner pybuf.live() shows (at most 127 bytes are kept).
func (d *Descriptor) SetName(name string) *Descriptor {
	if d.p != nil {
		copyCString(d.p.name[:], name)
	}
	return d
}

// SetReadonly makes the Buffer, and every view of it, read-only.
func (d *Descriptor) SetReadonly(readonly bool) *Descriptor {
	if d.p != nil {
		d.p.readonly = C.int32_t(btoi(readonly))
	}
	return d
}

// Discard frees a descriptor that will not reach pybuf.adopt and runs its
// release now (unpins the slice, or calls ExportC's release).
func (d *Descriptor) Discard() {
	if d.p == nil {
		return
	}
	C.free(unsafe.Pointer(d.p))
	d.p = nil
	if d.id != 0 {
		releaseID(d.id)
	}
}

// ExportSlice describes s for Python, pinned and kept reachable until the
// last view is gone. shape (default: len(s)) must multiply to len(s); the
// format follows T ("d" for float64, "q" for int on 64-bit platforms, ...).
func ExportSlice[T Element](s []T, shape ...int) (*Descriptor, error) {
	return exportSlice(reflect.TypeFor[T](), unsafe.SliceData(s), len(s), s, shape)
}

// ExportRecords is ExportSlice for element types checked at run time:
// structs (exported as NumPy records with Go's field names and offsets) and
// fixed-size arrays, whose lengths become trailing dimensions. Types holding
// pointers, strings, slices, maps or interfaces are refused.
func ExportRecords[T any](s []T, shape ...int) (*Descriptor, error) {
	return exportSlice(reflect.TypeFor[T](), unsafe.SliceData(s), len(s), s, shape)
}

func exportSlice[P any](t reflect.Type, data *P, n int, keep any, shape []int) (*Descriptor, error) {
	el, err := layoutOf(t)
	if err != nil {
		return nil, err
	}
	dims, err := sliceShape(n, shape, el.dims)
	if err != nil {
		return nil, err
	}
	e, err := holdFor(unsafe.Pointer(data), n, uintptr(el.size), keep)
	if err != nil {
		return nil, err
	}
	d, err := describe(uint64(uintptr(unsafe.Pointer(data))), el.format, el.itemsize, dims)
	return publish(e, d, err)
}

// publish hands out descriptor d for table entry e: registered, its release
// armed; when describing failed, e's memory is unpinned and nothing is kept.
func publish(e *entry, d *Descriptor, err error) (*Descriptor, error) {
	if err != nil {
		if e.pinner != nil {
			e.pinner.Unpin()
		}
		if e.fresh != nil {
			untakeFresh(e.fresh)
		}
		return nil, err
	}
	d.id = register(e)
	armDescriptor(d)
	return d, nil
}

// armDescriptor makes the descriptor's release that of its table entry.
func armDescriptor(d *Descriptor) { C.gomem_arm(d.p, C.uintptr_t(d.id)) }

func sliceShape(n int, shape, trailing []int) ([]int64, error) {
	if len(shape) == 0 {
		shape = []int{n}
	}
	dims := make([]int64, 0, len(shape)+len(trailing))
	count, zero, over := 1, false, false
	for _, v := range shape {
		switch {
		case v < 0:
			return nil, fmt.Errorf("gomem: shape %v has a negative dimension", shape)
		case v == 0:
			zero = true
		case count > n/v: // the product passes n: stop before it can overflow
			over = true
		default:
			count *= v
		}
		dims = append(dims, int64(v))
	}
	if zero && n != 0 || !zero && (over || count != n) {
		return nil, fmt.Errorf("gomem: shape %v does not hold exactly the %d elements of the slice", shape, n)
	}
	for _, v := range trailing {
		dims = append(dims, int64(v))
	}
	return dims, nil
}

// ExportC describes C memory (or any memory Go must not move) at ptr for
// Python. release, if not nil, runs exactly once after the last view is gone,
// on whichever thread drops it, never in a forked child; nil means the memory
// is borrowed and outlives every view by other means. On error nothing was
// taken over: release will not run.
func ExportC(ptr unsafe.Pointer, format string, shape []int, release func()) (*Descriptor, error) {
	f, err := layout.ParseFormat(format)
	if err != nil {
		return nil, fmt.Errorf("gomem: %w", err)
	}
	dims := make([]int64, len(shape))
	for i, v := range shape {
		dims[i] = int64(v)
	}
	d, err := describe(uint64(uintptr(ptr)), format, f.Itemsize, dims)
	if err != nil || release == nil {
		return d, err
	}
	d.id = register(&entry{release: release})
	C.gomem_arm(d.p, C.uintptr_t(d.id))
	return d, nil
}

// describe validates a layout the way pybuf.adopt will, so errors surface in
// Go, and fills a descriptor with it.
func describe(addr uint64, format string, itemsize int64, shape []int64) (*Descriptor, error) {
	return describeStrided(addr, format, itemsize, shape, nil)
}

// describeStrided is describe with byte strides (nil: C-contiguous).
func describeStrided(addr uint64, format string, itemsize int64, shape, strides []int64) (*Descriptor, error) {
	if len(format) >= C.PYBUF_FORMATLEN {
		return nil, fmt.Errorf("gomem: format %q is longer than pybuf_export holds (%d bytes)", format, C.PYBUF_FORMATLEN-1)
	}
	if _, err := layout.Check(addr, layout.Spec{Itemsize: itemsize, Shape: shape, Strides: strides}); err != nil {
		return nil, fmt.Errorf("gomem: %w", err)
	}
	p := (*C.pybuf_export)(C.calloc(1, C.sizeof_pybuf_export))
	if p == nil {
		return nil, fmt.Errorf("gomem: out of C memory")
	}
	p.address = C.uint64_t(addr)
	p.ndim = C.int32_t(len(shape))
	for i, v := range shape {
		p.shape[i] = C.int64_t(v)
	}
	if strides != nil {
		p.has_strides = 1
		for i, v := range strides {
			p.strides[i] = C.int64_t(v)
		}
	}
	copyCString(p.format[:], format)
	return &Descriptor{p: p}, nil
}

// copyCString writes s into a zeroed C array, truncated to keep its NUL.
func copyCString(dst []C.char, s string) {
	n := min(len(s), len(dst)-1)
	for i := range n {
		dst[i] = C.char(s[i])
	}
	dst[n] = 0
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
