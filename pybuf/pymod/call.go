package pymod

/*
#cgo CFLAGS: -I${SRCDIR}/../capi
#include "pybuf_core.h"
#include <stdlib.h>
#include <string.h>
*/
import "C"

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/gomem"
	"github.com/pybuf-go/pybuf/pybuf/status"
)

const maxArgs = C.PYBUF_GO_MAXARGS

// invoker calls a function of a known Go type without reflection, reading
// its arguments from and writing its results to the shim's slots; an
// argument it refuses is the error.
type invoker func(f *function, args *C.pybuf_go_arg, results *C.pybuf_go_result) *status.Error

// Call runs registered function id for the shim (pybuf_core_go_call): args
// and results point at pybuf_go_arg and pybuf_go_result arrays, msg at a
// char * that receives the message of a failure. It never panics.
func Call(id uint64, args, results, msg unsafe.Pointer) (st int32) {
	f := funcByID(id)
	if f == nil {
		return fail(msg, status.KindValue, fmt.Sprintf("pymod: no Go function has id %d", id))
	}
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(callbackPanic); ok {
				st = fail(msg, status.KindCallback, f.qual+": a Python callback raised")
				return
			}
			st = fail(msg, status.KindRuntime, fmt.Sprintf("%s: Go panic: %v", f.qual, p))
		}
	}()
	a := (*C.pybuf_go_arg)(args)
	r := (*C.pybuf_go_result)(results)
	if checked {
		return f.runChecked(a, msg, func() int32 { return f.run(a, r, msg) })
	}
	if f.invoke != nil { // the common path, without a call to run
		if err := f.invoke(f, a, r); err != nil {
			return fail(msg, err.Kind, err.Msg)
		}
		return C.PYBUF_OK
	}
	return f.call(a, r, msg)
}

// run calls the function: its typed invoker, or reflection.
func (f *function) run(a *C.pybuf_go_arg, r *C.pybuf_go_result, msg unsafe.Pointer) int32 {
	if f.invoke != nil {
		if err := f.invoke(f, a, r); err != nil {
			return fail(msg, err.Kind, err.Msg)
		}
		return C.PYBUF_OK
	}
	return f.call(a, r, msg)
}

func fail(msg unsafe.Pointer, k status.Kind, text string) int32 {
	if msg != nil {
		*(**C.char)(msg) = C.CString(text)
	}
	return int32(k)
}

// call is the general path: reflection.
func (f *function) call(a *C.pybuf_go_arg, r *C.pybuf_go_result, msg unsafe.Pointer) int32 {
	var in [maxArgs]reflect.Value
	args := unsafe.Slice(a, len(f.sig.params))
	var cs *callState
	if f.sig.hasFuncs {
		cs = newCallState(f.qual)
		defer cs.close() // a func kept after the call is refused
	}
	for i := range f.sig.params {
		if f.sig.params[i].kind == kindFunc {
			in[i] = f.makeCallback(i, &args[i], cs)
			continue
		}
		v, err := f.sig.params[i].read(&args[i], f.qual)
		if err != nil {
			return fail(msg, err.Kind, err.Msg)
		}
		in[i] = v
	}
	out := f.fn.Call(in[:len(f.sig.params)])
	if cs != nil && cs.failed.Load() {
		e := cs.failure() // the callable's exception, whatever the function made of it
		return fail(msg, e.Kind, e.Msg)
	}
	if f.sig.hasErr {
		if err, _ := out[len(out)-1].Interface().(error); err != nil {
			e := f.failure(err)
			return fail(msg, e.Kind, e.Msg)
		}
	}
	if f.sig.borrows {
		for j := range f.sig.results {
			if f.sig.results[j].kind != kindArray {
				continue
			}
			if err := f.checkBorrowedResult(j, out[j], args); err != nil {
				return fail(msg, err.Kind, err.Msg)
			}
		}
	}
	results := unsafe.Slice(r, len(f.sig.results))
	var exported []*gomem.Descriptor
	for i := range f.sig.results {
		d, err := f.sig.results[i].write(&results[i], out[i])
		if err != nil {
			for _, e := range exported {
				e.Discard()
			}
			freeStrings(results[:i])
			return fail(msg, status.KindValue, fmt.Sprintf("%s: result %d: %v", f.qual, i+1, err))
		}
		if d != nil {
			exported = append(exported, d)
		}
	}
	for _, d := range exported {
		d.Moved() // the shim holds a copy and owns the release from now on
	}
	return C.PYBUF_OK
}

func freeStrings(rs []C.pybuf_go_result) {
	for i := range rs {
		if rs[i].data != nil {
			C.free(unsafe.Pointer(rs[i].data))
			rs[i].data = nil
		}
	}
}
