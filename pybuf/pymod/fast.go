package pymod

// #include "pybuf_core.h"
import "C"

import (
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/status"
)

// floats borrows a []float64 argument after the same check as the general
// path (slot.read).
func floats(fn *function, i int, a *C.pybuf_go_arg) ([]float64, *status.Error) {
	n, err := fn.sig.params[i].checkView(a, fn.qual)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*float64)(a.data), n), nil
}

// fastInvoker returns a typed call for the most common signatures, which
// skips reflect.Value.Call and its allocations (a few hundred nanoseconds,
// as much as the rest of the call). Any other function goes through
// reflection; both read and write the same slots.
func fastInvoker(fn any) invoker {
	if inv := fastSliceInvoker(fn); inv != nil {
		return inv
	}
	scalar := fastScalarInvoker(fn)
	if scalar == nil {
		return nil
	}
	return func(_ *function, a *C.pybuf_go_arg, r *C.pybuf_go_result) *status.Error {
		scalar(a, r)
		return nil
	}
}

func fastSliceInvoker(fn any) invoker {
	switch f := fn.(type) {
	case func([]float64) float64:
		return func(fn *function, a *C.pybuf_go_arg, r *C.pybuf_go_result) *status.Error {
			x, err := floats(fn, 0, a)
			if err == nil {
				setFloat(r, f(x))
			}
			return err
		}
	case func([]float64, float64):
		return func(fn *function, a *C.pybuf_go_arg, r *C.pybuf_go_result) *status.Error {
			args := unsafe.Slice(a, 2)
			x, err := floats(fn, 0, &args[0])
			if err == nil {
				f(x, argFloat(&args[1]))
			}
			return err
		}
	}
	return nil
}

func fastScalarInvoker(fn any) func(a *C.pybuf_go_arg, r *C.pybuf_go_result) {
	switch f := fn.(type) {
	case func(int, int) int:
		return func(a *C.pybuf_go_arg, r *C.pybuf_go_result) {
			args := unsafe.Slice(a, 2)
			setInt(r, int64(f(int(argInt(&args[0])), int(argInt(&args[1])))))
		}
	case func(int64, int64) int64:
		return func(a *C.pybuf_go_arg, r *C.pybuf_go_result) {
			args := unsafe.Slice(a, 2)
			setInt(r, f(argInt(&args[0]), argInt(&args[1])))
		}
	case func(float64, float64) float64:
		return func(a *C.pybuf_go_arg, r *C.pybuf_go_result) {
			args := unsafe.Slice(a, 2)
			setFloat(r, f(argFloat(&args[0]), argFloat(&args[1])))
		}
	case func(float64) float64:
		return func(a *C.pybuf_go_arg, r *C.pybuf_go_result) { setFloat(r, f(argFloat(a))) }
	case func(int) int:
		return func(a *C.pybuf_go_arg, r *C.pybuf_go_result) { setInt(r, int64(f(int(argInt(a))))) }
	case func(int):
		return func(a *C.pybuf_go_arg, r *C.pybuf_go_result) { f(int(argInt(a))) }
	case func() int:
		return func(a *C.pybuf_go_arg, r *C.pybuf_go_result) { setInt(r, int64(f())) }
	case func():
		return func(a *C.pybuf_go_arg, r *C.pybuf_go_result) { f() }
	}
	return nil
}
