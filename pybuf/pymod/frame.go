package pymod

/*
#include "pybuf_core.h"
#include <stdlib.h>
*/
import "C"

import (
	"reflect"
	"strings"
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/gomem"
	"github.com/pybuf-go/pybuf/pybuf/status"
)

// Frame is one call's arguments and results for a typed invoker: the code
// pymodgen writes (go generate) to call a registered function without
// reflection. The invoker reads every argument, returns early if Failed,
// calls the function, and sets every result; a refused argument or result,
// or the function's error, is kept and raised, and nothing it exported
// stays pinned. A Frame is valid only during its call.
type Frame struct {
	f        *function
	args     []C.pybuf_go_arg
	results  []C.pybuf_go_result
	err      *status.Error
	exported []*gomem.Descriptor
}

// Failed reports a refused argument or result, or a Fail: the invoker stops.
func (c *Frame) Failed() bool { return c.err != nil }

// Fail makes the call raise err, as a returned error does.
func (c *Frame) Fail(err error) {
	if err != nil && c.err == nil {
		c.err = c.f.failure(err)
	}
}

func (c *Frame) Int(i int) int64     { return argInt(&c.args[i]) }
func (c *Frame) Uint(i int) uint64   { return argUint(&c.args[i]) }
func (c *Frame) Float(i int) float64 { return argFloat(&c.args[i]) }
func (c *Frame) Bool(i int) bool     { return argInt(&c.args[i]) != 0 }
func (c *Frame) Complex(i int) complex128 {
	return complex(argFloat(&c.args[i]), float64(c.args[i].imag))
}

// String copies argument i (the shim's bytes belong to a Python str).
func (c *Frame) String(i int) string {
	return strings.Clone(unsafe.String((*byte)(c.args[i].data), int(c.args[i].len)))
}

// Slice borrows argument i as a []T after the same checks as reflection's
// path; nil and Failed when refused.
func Slice[T gomem.Element](c *Frame, i int) []T {
	if c.err != nil {
		return nil
	}
	p := &c.f.sig.params[i]
	if p.kind != kindArray || p.nd || p.elem != reflect.TypeFor[T]() {
		c.err = status.Errorf(status.KindRuntime, p.name, "%s: the typed invoker reads argument %d as []%v, "+
			"which is not its registered type %v (run go generate again)", c.f.qual, i+1, reflect.TypeFor[T](), p.t)
		return nil
	}
	n, err := p.checkView(&c.args[i], c.f.qual)
	if err != nil {
		c.err = err
		return nil
	}
	return unsafe.Slice((*T)(c.args[i].data), n)
}

// ArrayArg borrows argument i as an Array[T] (any N-D, strided view) after
// the same checks as reflection's path; the zero Array and Failed when
// refused.
func ArrayArg[T gomem.Element](c *Frame, i int) Array[T] {
	if c.err != nil {
		return Array[T]{}
	}
	p := &c.f.sig.params[i]
	if p.kind != kindArray || !p.nd || p.elem != reflect.TypeFor[T]() {
		c.err = status.Errorf(status.KindRuntime, p.name, "%s: the typed invoker reads argument %d as "+
			"pymod.Array[%v], which is not its registered type %v (run go generate again)",
			c.f.qual, i+1, reflect.TypeFor[T](), p.t)
		return Array[T]{}
	}
	v, err := p.readArray(&c.args[i], c.f.qual)
	if err != nil {
		c.err = err
		return Array[T]{}
	}
	return v.Interface().(Array[T])
}

func (c *Frame) SetInt(j int, v int64)     { setInt(&c.results[j], v) }
func (c *Frame) SetUint(j int, v uint64)   { setUint(&c.results[j], v) }
func (c *Frame) SetFloat(j int, v float64) { setFloat(&c.results[j], v) }
func (c *Frame) SetBool(j int, v bool)     { setInt(&c.results[j], int64(btoi(v))) }
func (c *Frame) SetComplex(j int, v complex128) {
	setFloat(&c.results[j], real(v))
	c.results[j].imag = C.double(imag(v))
}
func (c *Frame) SetString(j int, s string) { setBytes(&c.results[j], unsafe.StringData(s), len(s)) }
func (c *Frame) SetBytes(j int, b []byte)  { setBytes(&c.results[j], unsafe.SliceData(b), len(b)) }

// SetSlice exports result j, a slice of numbers or structs, as reflection's
// path does.
func SetSlice[T any](c *Frame, j int, s []T) { c.setArray(j, reflect.ValueOf(s)) }

// SetArray exports result j, an Array.
func SetArray[T any](c *Frame, j int, a Array[T]) { c.setArray(j, reflect.ValueOf(a)) }

func (c *Frame) setArray(j int, v reflect.Value) {
	if c.err != nil {
		return
	}
	r := &c.f.sig.results[j]
	if r.kind != kindArray || v.Type() != r.t {
		c.err = status.Errorf(status.KindRuntime, "", "%s: the typed invoker sets result %d as %v, which is not "+
			"its registered type %v (run go generate again)", c.f.qual, j+1, v.Type(), r.t)
		return
	}
	if c.f.sig.borrows {
		if err := c.f.checkBorrowedResult(j, v, c.args); err != nil {
			c.err = err
			return
		}
	}
	d, err := r.export(c.results[j].array, v)
	if err != nil {
		c.err = status.Errorf(status.KindValue, "", "%s: result %d: %v", c.f.qual, j+1, err)
		return
	}
	c.exported = append(c.exported, d)
}

// finish hands the exports over, or on failure takes back everything the
// call produced.
func (c *Frame) finish() *status.Error {
	if c.err == nil {
		for _, d := range c.exported {
			d.Moved()
		}
		return nil
	}
	for _, d := range c.exported {
		d.Discard()
	}
	freeStrings(c.results)
	return c.err
}

// typed holds the invokers pymodgen wrote, by the code address of their
// function, until a registration of that function picks them up.
var typed = map[uintptr]func(*Frame){}

// Typed attaches a typed invoker to every registration of fn, a top-level
// function; pymodgen writes the calls (in an init function). Registrations
// made before or after it both pick it up.
func Typed(fn any, invoke func(*Frame)) {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() || invoke == nil {
		return // never a panic in an init function: reflection will serve
	}
	registry.Lock()
	defer registry.Unlock()
	typed[v.Pointer()] = invoke
	if p := byID.Load(); p != nil {
		for _, f := range *p {
			if f.fn.Pointer() == v.Pointer() && !f.builtin {
				f.invoke = frameInvoker(invoke)
			}
		}
	}
}

// typedInvoker is the registered typed invoker of fn, if any (registry locked).
func typedInvoker(fn reflect.Value) invoker {
	if inv, ok := typed[fn.Pointer()]; ok {
		return frameInvoker(inv)
	}
	return nil
}

func frameInvoker(inv func(*Frame)) invoker {
	return func(f *function, a *C.pybuf_go_arg, r *C.pybuf_go_result) *status.Error {
		c := Frame{f: f, args: unsafe.Slice(a, len(f.sig.params)), results: unsafe.Slice(r, len(f.sig.results))}
		inv(&c)
		return c.finish()
	}
}
