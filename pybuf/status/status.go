// Package status is the error every part of pybuf's Go core returns to the
// C shim: a Kind that picks the Python exception, and a message that names
// the faulty argument. The Kind values are those of enum pybuf_status in
// pybuf/capi/pybuf_core.h (capi's tests check that they agree).
package status

import "fmt"

// Kind selects the Python exception the C shim raises for an Error.
type Kind int

const (
	KindValue      Kind = 1  // ValueError
	KindOverflow   Kind = 2  // OverflowError
	KindType       Kind = 3  // TypeError
	KindBuffer     Kind = 4  // BufferError
	KindNotPEP3118 Kind = 5  // not a PEP 3118 format; the caller may still try numpy.dtype()
	KindNotFound   Kind = 6  // FileNotFoundError (and ValueError): a named thing does not exist
	KindKey        Kind = 7  // KeyError: chosen by a Go function's error (pybuf/pymod)
	KindIndex      Kind = 8  // IndexError: likewise
	KindRuntime    Kind = 9  // RuntimeError: a Go function's error by default, or its panic
	KindNamed      Kind = 10 // a class the Go function's error names (pybuf/pymod.Class)
	KindCallback   Kind = 11 // a Python callback raised: the shim re-raises its exception
)

// Error carries its Kind and the argument it is about. Msg always contains
// Arg, so the Python message names the offending argument on its own.
type Error struct {
	Kind Kind
	Arg  string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Errorf builds an Error of kind k about argument arg.
func Errorf(k Kind, arg, format string, a ...any) *Error {
	return &Error{Kind: k, Arg: arg, Msg: fmt.Sprintf(format, a...)}
}
