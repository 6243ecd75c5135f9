package pymod

/*
#include "pybuf_core.h"
#include <stdlib.h>
#include <string.h>

static pybuf_go_callback_fn pymod_callback;

static void pymod_set_callback(pybuf_go_callback_fn fn) { pymod_callback = fn; }
void pymod_set_callback_for_test(pybuf_go_callback_fn fn) { pymod_callback = fn; }

static int32_t pymod_call_back(pybuf_go_callable *c, const pybuf_go_value *args, int32_t nargs,
                               pybuf_go_value *results, int32_t nresults, char **msg)
{
    if (pymod_callback == NULL) {
        *msg = strdup("this pybuf shim calls no Python callbacks");
        return PYBUF_ERR_RUNTIME;
    }
    return pymod_callback(c, args, nargs, results, nresults, msg);
}
*/
import "C"

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/gomem"
	"github.com/pybuf-go/pybuf/pybuf/status"
)

// A parameter of a func type (func(float64) float64, func(x []float64)
// float64, func(grad, x []float64), ...) takes a Python callable. The Go
// function gets a Go func that calls it: each call takes the GIL, passes
// scalars as Python numbers and slices as writable NumPy arrays (copies,
// copied back after the callable returns, so it can fill them), and
// converts what it returns. A Python exception raised by the callable
// becomes the Go call's failure and is raised, itself with its traceback,
// when the Go function returns: the func returns that error when its last
// result is an error (return it); otherwise the func panics on the call's
// own goroutine (recovered by the call), and on any other goroutine returns
// zeros (NaN for floats) without calling Python again. The Go func is valid
// during the call only: called afterwards, it panics and never touches the
// Python object.

// SetCallback is how the shim hands over its callback function
// (pybuf_core_go_set_callback).
func SetCallback(fn unsafe.Pointer) { C.pymod_set_callback(C.pybuf_go_callback_fn(fn)) }

// funcSig is what registration learns about a func parameter.
type funcSig struct {
	in, out []cbValue
	hasErr  bool
}

type cbValue struct {
	kind     int32
	bits     int32
	t        reflect.Type
	format   *C.char // arrays: static, never freed
	itemsize int64
}

var cformats sync.Map // format -> *C.char, one each for the life of the process

func cformat(f string) *C.char {
	if p, ok := cformats.Load(f); ok {
		return p.(*C.char)
	}
	p, _ := cformats.LoadOrStore(f, C.CString(f))
	return p.(*C.char)
}

func funcSlot(t reflect.Type) (slot, error) {
	s := slot{t: t, kind: kindFunc, fsig: &funcSig{}}
	if t.IsVariadic() {
		return s, fmt.Errorf("type %v: a func parameter cannot be variadic", t)
	}
	if t.NumIn() > maxArgs || t.NumOut() > maxArgs {
		return s, fmt.Errorf("type %v: at most %d parameters and results", t, maxArgs)
	}
	for i := range t.NumIn() {
		v, err := cbValueOf(t.In(i), true)
		if err != nil {
			return s, fmt.Errorf("type %v: parameter %d: %w", t, i+1, err)
		}
		s.fsig.in = append(s.fsig.in, v)
	}
	n := t.NumOut()
	if n > 0 && t.Out(n-1) == errorType {
		s.fsig.hasErr = true
		n--
	}
	for j := range n {
		v, err := cbValueOf(t.Out(j), false)
		if err != nil {
			return s, fmt.Errorf("type %v: result %d: %w", t, j+1, err)
		}
		s.fsig.out = append(s.fsig.out, v)
	}
	return s, nil
}

func cbValueOf(t reflect.Type, slices bool) (cbValue, error) {
	if sc, ok := scalarSlot(t); ok && sc.kind != kindString && sc.kind != kindComplex {
		return cbValue{kind: sc.kind, bits: sc.bits, t: t}, nil
	}
	if slices && t.Kind() == reflect.Slice {
		if sc, ok := scalarSlot(t.Elem()); ok && sc.kind != kindString {
			f, err := gomem.ElementFormat(t.Elem())
			if err == nil {
				return cbValue{kind: kindArray, t: t, format: cformat(f), itemsize: int64(t.Elem().Size())}, nil
			}
		}
	}
	if slices {
		return cbValue{}, fmt.Errorf("%v is not a bool, integer, float or slice of numbers", t)
	}
	return cbValue{}, fmt.Errorf("%v is not a bool, integer or float (a callback returns scalars; "+
		"it fills slices it is given)", t)
}

// callState is one call's callbacks: whether they may still run, and
// whether one raised.
type callState struct {
	qual string
	gid  uint64 // the call's goroutine
	// inflight is held (read) by every callback while it runs: the call
	// closes it (write) before returning, so no callback can reach the
	// shim's callable, which lives on the call's C stack, afterwards.
	inflight sync.RWMutex
	closed   atomic.Bool
	failed   atomic.Bool
	once     sync.Once
	message  string
}

// callbackPanic unwinds the call's own goroutine from a callback that
// raised, through Go code that has no error to return.
type callbackPanic struct{}

// callbackError is what a func with an error result returns when the
// callable raised.
type callbackError struct{ msg string }

func (e *callbackError) Error() string { return e.msg }

func newCallState(qual string) *callState { return &callState{qual: qual, gid: goid()} }

// close refuses every later callback, after waiting for those running.
func (cs *callState) close() {
	cs.inflight.Lock()
	cs.closed.Store(true)
	cs.inflight.Unlock()
}

func (cs *callState) fail(msg string) {
	cs.once.Do(func() { cs.message = msg })
	cs.failed.Store(true)
}

func (cs *callState) failure() *status.Error {
	cs.once.Do(func() {})
	return &status.Error{Kind: status.KindCallback, Msg: fmt.Sprintf("%s: %s", cs.qual, cs.message)}
}

// makeCallback is the Go func for func parameter i, calling the callable
// the shim passed in a.
func (f *function) makeCallback(i int, a *C.pybuf_go_arg, cs *callState) reflect.Value {
	p := &f.sig.params[i]
	sig := p.fsig
	callable := (*C.pybuf_go_callable)(unsafe.Pointer(a.data))
	name := p.name
	return reflect.MakeFunc(p.t, func(in []reflect.Value) []reflect.Value {
		cs.inflight.RLock()
		defer cs.inflight.RUnlock()
		if cs.closed.Load() {
			panic(fmt.Sprintf("%s: the func given for argument '%s' was called after that call returned: "+
				"a Python callable is lent for its call only", cs.qual, name))
		}
		if cs.failed.Load() {
			return cbZeros(p.t, sig, &callbackError{msg: cs.message})
		}
		var args, results [maxArgs]C.pybuf_go_value
		var pins runtime.Pinner
		defer pins.Unpin()
		for k, v := range sig.in {
			c := &args[k]
			c.kind = C.int32_t(v.kind)
			switch v.kind {
			case kindBool:
				*(*int64)(unsafe.Pointer(&c.v)) = int64(btoi(in[k].Bool()))
			case kindInt:
				*(*int64)(unsafe.Pointer(&c.v)) = in[k].Int()
			case kindUint:
				*(*uint64)(unsafe.Pointer(&c.v)) = in[k].Uint()
			case kindFloat:
				*(*float64)(unsafe.Pointer(&c.v)) = in[k].Float()
			case kindArray:
				c.len = C.int64_t(in[k].Len())
				c.itemsize = C.int64_t(v.itemsize)
				c.format = v.format
				if in[k].Len() > 0 {
					data := in[k].UnsafePointer()
					pins.Pin(data)
					c.data = data
				}
			}
		}
		for j, v := range sig.out {
			results[j].kind = C.int32_t(v.kind)
			results[j].bits = C.int32_t(v.bits)
		}
		var msg *C.char
		st := C.pymod_call_back(callable, &args[0], C.int32_t(len(sig.in)), &results[0], C.int32_t(len(sig.out)), &msg)
		if st != C.PYBUF_OK {
			text := "callback failed"
			if msg != nil {
				text = C.GoString(msg)
				C.free(unsafe.Pointer(msg))
			}
			cs.fail(fmt.Sprintf("the callable given for argument '%s' raised %s", name, text))
			if sig.hasErr {
				return cbZeros(p.t, sig, &callbackError{msg: cs.message})
			}
			if goid() == cs.gid {
				panic(callbackPanic{})
			}
			return cbZeros(p.t, sig, nil)
		}
		out := make([]reflect.Value, p.t.NumOut())
		for j, v := range sig.out {
			r := reflect.New(v.t).Elem()
			c := &results[j]
			switch v.kind {
			case kindBool:
				r.SetBool(*(*int64)(unsafe.Pointer(&c.v)) != 0)
			case kindInt:
				r.SetInt(*(*int64)(unsafe.Pointer(&c.v)))
			case kindUint:
				r.SetUint(*(*uint64)(unsafe.Pointer(&c.v)))
			case kindFloat:
				r.SetFloat(*(*float64)(unsafe.Pointer(&c.v)))
			}
			out[j] = r
		}
		if sig.hasErr {
			out[len(out)-1] = reflect.Zero(errorType)
		}
		return out
	})
}

// cbZeros are a callback's results when it cannot call Python: zeros, NaN
// for floats, and err for a last error result.
func cbZeros(t reflect.Type, sig *funcSig, err error) []reflect.Value {
	out := make([]reflect.Value, t.NumOut())
	for j, v := range sig.out {
		out[j] = reflect.New(v.t).Elem()
		if v.kind == kindFloat {
			out[j].SetFloat(math.NaN())
		}
	}
	if sig.hasErr {
		out[len(out)-1] = reflect.Zero(errorType)
		if err != nil {
			out[len(out)-1] = reflect.ValueOf(err)
		}
	}
	return out
}

// goid is the current goroutine's id, read from its stack header
// ("goroutine 18 [running]:"): once per call with a func parameter, and
// when a callback fails.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		id, _ := strconv.ParseUint(string(b[:i]), 10, 64)
		return id
	}
	return 0
}
