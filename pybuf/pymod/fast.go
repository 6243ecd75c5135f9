package pymod

// #include "pybuf_core.h"
import "C"

import "unsafe"

// fastInvoker returns a typed call for the most common scalar signatures,
// which skips reflect.Value.Call and its allocations (a few hundred
// nanoseconds, as much as the rest of the call). Any other function goes
// through reflection; both read and write the same slots.
func fastInvoker(fn any) invoker {
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
