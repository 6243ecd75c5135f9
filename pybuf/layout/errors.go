// Package layout validates the memory layouts pybuf exports: PEP 3118 format
// strings, shapes and strides, and the byte extent they cover. It is pure Go
// and every size computation is overflow-checked, because its inputs come
// straight from Python callers and a wrong extent means reading foreign memory
// out of bounds.
package layout

import "fmt"

// Kind selects the Python exception the C shim raises for an Error.
type Kind int

const (
	KindValue      Kind = 1 // ValueError
	KindOverflow   Kind = 2 // OverflowError
	KindType       Kind = 3 // TypeError
	KindBuffer     Kind = 4 // BufferError
	KindNotPEP3118 Kind = 5 // not a PEP 3118 format; the caller may still try numpy.dtype()
)

// Error is the only error type this package returns. Msg always contains Arg,
// so the Python message names the offending argument on its own.
type Error struct {
	Kind Kind
	Arg  string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errorf(k Kind, arg, format string, a ...any) *Error {
	return &Error{Kind: k, Arg: arg, Msg: fmt.Sprintf(format, a...)}
}
