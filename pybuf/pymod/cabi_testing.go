package pymod

// Go-typed doors into the call path for the tests (cgo is not available in
// test files): arguments and results are built in C memory, as the shim
// builds them. Nothing in the library calls these.

/*
#include "pybuf_core.h"
#include <stdlib.h>
#include <string.h>

static void pymod_call_release(void (*f)(void *), void *arg) { f(arg); }

// A stand-in for the shim's callback: the callable is an int64 mode. Mode 0
// returns the sum of the scalar arguments and of every array's elements
// (float64), doubling those elements; mode 1 raises.
static int32_t pymod_test_callback(pybuf_go_callable *c, const pybuf_go_value *args, int32_t nargs,
                                   pybuf_go_value *results, int32_t nresults, char **msg)
{
    if (*(const int64_t *)c == 1) {
        *msg = strdup("ValueError: mode 1");
        return PYBUF_ERR_CALLBACK;
    }
    double s = 0;
    for (int i = 0; i < nargs; i++) {
        if (args[i].kind == PYBUF_GO_FLOAT)
            s += args[i].v.f;
        else if (args[i].kind == PYBUF_GO_INT)
            s += (double)args[i].v.i;
        else if (args[i].kind == PYBUF_GO_ARRAY)
            for (int64_t k = 0; k < args[i].len; k++) {
                s += ((double *)args[i].data)[k];
                ((double *)args[i].data)[k] *= 2;
            }
    }
    for (int j = 0; j < nresults; j++) {
        if (results[j].kind == PYBUF_GO_FLOAT)
            results[j].v.f = s;
        else
            results[j].v.i = (int64_t)s;
    }
    return PYBUF_OK;
}

void pymod_set_callback_for_test(pybuf_go_callback_fn fn);
static void pymod_test_use_callback(void) { pymod_set_callback_for_test(pymod_test_callback); }
*/
import "C"

import (
	"unsafe"
)

// testArg is a pybuf_go_arg in Go types. Floats and Ints are C copies of
// the array argument's elements.
type testArg struct {
	I        int64
	U        uint64
	F, Imag  float64
	Str      *string
	Floats   []float64
	Ints     []int64
	Format   *string // nil: NULL ("B")
	Shape    []int64
	Strides  []int64
	Ndim     int32
	Readonly bool
	Offset   int64  // bytes from the copied elements to the view's data pointer
	Callable *int64 // a func parameter: the test callback's mode
}

// useTestCallback makes callbacks go to pymod_test_callback.
func useTestCallback() { C.pymod_test_use_callback() }

type testArray struct {
	Address         uint64
	ptr             unsafe.Pointer // Address, read as a pointer
	Shape, Strides  []int64
	Format          string
	Itemsize        int64
	Nbytes          int64
	CContig         bool
	Readonly        bool
	DLCode, DLBits  int32
	release, relArg unsafe.Pointer
}

// Floats reads the array's first n float64 (a C-contiguous result).
func (a testArray) Floats(n int) []float64 {
	return append([]float64(nil), unsafe.Slice((*float64)(a.ptr), n)...)
}

// At reads the float64 at element index idx of a strided result.
func (a testArray) At(idx ...int64) float64 {
	off := int64(0)
	for i, v := range idx {
		off += v * a.Strides[i]
	}
	return *(*float64)(unsafe.Add(a.ptr, off))
}

// Release runs the release as the shim does after the last view.
func (a testArray) Release() {
	if a.release != nil {
		C.pymod_call_release((*[0]byte)(a.release), a.relArg)
	}
}

type testResult struct {
	I     int64
	U     uint64
	F     float64
	Imag  float64
	Bytes []byte
	Array *testArray
}

// callForTest calls function id as the shim would; arrays[j] says result j
// is an array.
func callForTest(id uint64, args []testArg, arrays []bool) ([]testResult, int32, string) {
	var frees []unsafe.Pointer
	defer func() {
		for _, p := range frees {
			C.free(p)
		}
	}()
	ca, cr := buildCall(args, arrays, &frees)
	return runCall(id, ca, cr, arrays)
}

// benchCall builds the C arguments once and returns a call of Call alone
// (scalar results only), and what frees them.
func benchCall(id uint64, args []testArg, nresults int) (call func() int32, free func()) {
	var frees []unsafe.Pointer
	ca, cr := buildCall(args, make([]bool, nresults), &frees)
	var msg *C.char
	call = func() int32 {
		st := Call(id, unsafe.Pointer(&ca[0]), unsafe.Pointer(&cr[0]), unsafe.Pointer(&msg))
		freeStrings(cr) // as the shim does once it has made Python objects of them
		return st
	}
	free = func() {
		for _, p := range frees {
			C.free(p)
		}
	}
	return call, free
}

func buildCall(args []testArg, arrays []bool, frees *[]unsafe.Pointer) ([]C.pybuf_go_arg, []C.pybuf_go_result) {
	alloc := func(n int) unsafe.Pointer {
		p := C.calloc(C.size_t(max(n, 1)), 1)
		*frees = append(*frees, p)
		return p
	}
	ca := unsafe.Slice((*C.pybuf_go_arg)(alloc(len(args)*C.sizeof_pybuf_go_arg)), max(len(args), 1))
	for i, a := range args {
		c := &ca[i]
		*(*int64)(unsafe.Pointer(&c.v)) = a.I
		if a.U != 0 {
			*(*uint64)(unsafe.Pointer(&c.v)) = a.U
		}
		if a.F != 0 {
			*(*float64)(unsafe.Pointer(&c.v)) = a.F
		}
		c.imag = C.double(a.Imag)
		if a.Str != nil {
			p := alloc(len(*a.Str))
			copy(unsafe.Slice((*byte)(p), len(*a.Str)), *a.Str)
			c.data, c.len = p, C.int64_t(len(*a.Str))
		}
		if a.Floats != nil || a.Ints != nil {
			n := len(a.Floats) + len(a.Ints)
			p := alloc(8 * n)
			copy(unsafe.Slice((*float64)(p), len(a.Floats)), a.Floats)
			copy(unsafe.Slice((*int64)(p), len(a.Ints)), a.Ints)
			c.data, c.len, c.itemsize = unsafe.Add(p, a.Offset), C.int64_t(8*n), 8
			c.ndim = C.int32_t(a.Ndim)
			shape := a.Shape
			if shape == nil {
				shape = []int64{int64(n)}
			}
			sp := alloc(8 * len(shape))
			copy(unsafe.Slice((*int64)(sp), len(shape)), shape)
			c.shape = (*C.int64_t)(sp)
			if a.Strides != nil {
				st := alloc(8 * len(a.Strides))
				copy(unsafe.Slice((*int64)(st), len(a.Strides)), a.Strides)
				c.strides = (*C.int64_t)(st)
			}
		}
		if a.Format != nil {
			f := C.CString(*a.Format)
			*frees = append(*frees, unsafe.Pointer(f))
			c.format = f
		}
		c.readonly = C.int32_t(btoi(a.Readonly))
		if a.Callable != nil {
			p := alloc(8)
			*(*int64)(p) = *a.Callable
			c.data = p
		}
	}
	cr := unsafe.Slice((*C.pybuf_go_result)(alloc(len(arrays)*C.sizeof_pybuf_go_result)), max(len(arrays), 1))
	for j, isArray := range arrays {
		if isArray {
			cr[j].array = (*C.pybuf_go_array)(alloc(C.sizeof_pybuf_go_array))
		}
	}
	return ca, cr
}

func runCall(id uint64, ca []C.pybuf_go_arg, cr []C.pybuf_go_result, arrays []bool) ([]testResult, int32, string) {
	var msg *C.char
	st := Call(id, unsafe.Pointer(&ca[0]), unsafe.Pointer(&cr[0]), unsafe.Pointer(&msg))
	text := ""
	if msg != nil {
		text = C.GoString(msg)
		C.free(unsafe.Pointer(msg))
	}
	if st != 0 {
		return nil, st, text
	}
	out := make([]testResult, len(arrays))
	for j := range arrays {
		r := &cr[j]
		out[j] = testResult{I: *(*int64)(unsafe.Pointer(&r.v)), U: *(*uint64)(unsafe.Pointer(&r.v)),
			F: *(*float64)(unsafe.Pointer(&r.v)), Imag: float64(r.imag)}
		if r.data != nil {
			out[j].Bytes = C.GoBytes(unsafe.Pointer(r.data), C.int(r.len))
			C.free(unsafe.Pointer(r.data))
		}
		if a := r.array; a != nil {
			ta := &testArray{Address: uint64(a.layout.address), ptr: *(*unsafe.Pointer)(unsafe.Pointer(&a.layout.address)), Format: C.GoString(&a.format[0]),
				Itemsize: int64(a.layout.itemsize), Nbytes: int64(a.layout.nbytes),
				CContig: a.layout.c_contiguous != 0, Readonly: a.readonly != 0,
				DLCode: int32(a.layout.dl_code), DLBits: int32(a.layout.dl_bits),
				release: unsafe.Pointer(a.release), relArg: a.release_arg}
			for i := range int(a.layout.ndim) {
				ta.Shape = append(ta.Shape, int64(a.layout.shape[i]))
				ta.Strides = append(ta.Strides, int64(a.layout.strides[i]))
			}
			out[j].Array = ta
		}
	}
	return out, 0, ""
}

// describedForTest reads a module's C description back.
type describedFunc struct {
	ID        uint64
	Name, Doc string
	Params    []describedParam
	Results   []describedParam
}

type describedParam struct {
	Name     string
	Kind     int32
	Bits     int32
	Writable bool
}

func describedForTest(name string) (doc string, funcs []describedFunc, err error) {
	p, err := Describe(name)
	if err != nil {
		return "", nil, err
	}
	m := (*C.pybuf_go_module)(p)
	for _, f := range unsafe.Slice(m.funcs, int(m.nfuncs)) {
		df := describedFunc{ID: uint64(f.id), Name: C.GoString(f.name), Doc: C.GoString(f.doc)}
		for _, q := range unsafe.Slice(f.params, int(f.nparams)) {
			df.Params = append(df.Params, describedParam{C.GoString(q.name), int32(q.kind), int32(q.bits), q.writable != 0})
		}
		for _, q := range unsafe.Slice(f.results, int(f.nresults)) {
			df.Results = append(df.Results, describedParam{C.GoString(q.name), int32(q.kind), int32(q.bits), q.writable != 0})
		}
		funcs = append(funcs, df)
	}
	return C.GoString(m.doc), funcs, nil
}

func headerKinds() []int32 {
	return []int32{C.PYBUF_GO_BOOL, C.PYBUF_GO_INT, C.PYBUF_GO_UINT, C.PYBUF_GO_FLOAT, C.PYBUF_GO_COMPLEX,
		C.PYBUF_GO_STRING, C.PYBUF_GO_BYTES, C.PYBUF_GO_ARRAY}
}
