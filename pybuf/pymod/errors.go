package pymod

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pybuf-go/pybuf/pybuf/status"
)

// Exception is the Python exception class a Go error raises: one of
// Python's built-in classes below, or any importable class named with
// Class.
type Exception struct {
	name     string      // the qualified Python name ("ValueError", "numpy.linalg.LinAlgError")
	kind     status.Kind // a built-in class: its status; a named one: KindNamed
	fallback *Exception  // a named class: raised when it does not import
}

// The built-in classes a Go function can choose; an error that chose none
// raises RuntimeError.
var (
	RuntimeError = &Exception{name: "RuntimeError", kind: status.KindRuntime}
	ValueError   = &Exception{name: "ValueError", kind: status.KindValue}
	TypeError    = &Exception{name: "TypeError", kind: status.KindType}
	KeyError     = &Exception{name: "KeyError", kind: status.KindKey}
	IndexError   = &Exception{name: "IndexError", kind: status.KindIndex}
)

// Class is the Python exception class of qualified name qualname, a module
// path and the class's name in it ("numpy.linalg.LinAlgError",
// "mypkg.errors.Singular"). Python imports it when an error of it is raised;
// when it does not import, or is not an exception class, the error raises
// fallback (one of the built-in classes above; nil means RuntimeError)
// instead, with the same message. A name that is not a dotted Python
// identifier always raises fallback.
//
//	var LinAlgError = pymod.Class("numpy.linalg.LinAlgError", pymod.ValueError)
//	return nil, LinAlgError.Errorf("matrix is singular")
func Class(qualname string, fallback *Exception) *Exception {
	if fallback == nil || fallback.kind == status.KindNamed {
		fallback = RuntimeError
	}
	if !strings.Contains(qualname, ".") || !isModuleName(qualname) {
		return fallback
	}
	return &Exception{name: qualname, kind: status.KindNamed, fallback: fallback}
}

// New returns an error with message msg that raises this class.
func (e *Exception) New(msg string) error { return &pyError{class: e, err: errors.New(msg)} }

// Errorf is fmt.Errorf for an error that raises this class.
func (e *Exception) Errorf(format string, a ...any) error {
	return &pyError{class: e, err: fmt.Errorf(format, a...)}
}

// Wrap makes err raise this class (nil stays nil); errors.Is and errors.As
// still see err.
func (e *Exception) Wrap(err error) error {
	if err == nil {
		return nil
	}
	return &pyError{class: e, err: err}
}

// String is the class's qualified Python name.
func (e *Exception) String() string { return e.name }

type pyError struct {
	class *Exception
	err   error
}

func (p *pyError) Error() string { return p.err.Error() }
func (p *pyError) Unwrap() error { return p.err }

// classOf is the class err raises: that of the outermost pyError in its
// chain, RuntimeError if none.
func classOf(err error) *Exception {
	var p *pyError
	if !errors.As(err, &p) || p.class == nil {
		return RuntimeError
	}
	return p.class
}

// statusOf is the status (the Python class) err raises.
func statusOf(err error) status.Kind { return classOf(err).kind }

// failure is what a function's error raises: its message starts with
// "module.function: ", and a named class travels in front of it as the
// shim reads it (PYBUF_ERR_NAMED: "class\nfallback status\nmessage").
func (f *function) failure(err error) *status.Error {
	msg := err.Error()
	if !strings.HasPrefix(msg, f.qual+":") {
		msg = f.qual + ": " + msg
	}
	c := classOf(err)
	if c.kind == status.KindNamed {
		msg = fmt.Sprintf("%s\n%d\n%s", c.name, c.fallback.kind, msg)
	}
	return &status.Error{Kind: c.kind, Msg: msg}
}
