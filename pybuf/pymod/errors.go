package pymod

import (
	"errors"
	"fmt"

	"github.com/pybuf-go/pybuf/pybuf/status"
)

// Exception is the Python exception class a Go error raises.
type Exception int

// The classes a Go function can choose; an error that chose none raises
// RuntimeError.
const (
	RuntimeError Exception = iota
	ValueError
	TypeError
	KeyError
	IndexError
)

// New returns an error with message msg that raises this class.
func (e Exception) New(msg string) error { return &pyError{class: e, err: errors.New(msg)} }

// Errorf is fmt.Errorf for an error that raises this class.
func (e Exception) Errorf(format string, a ...any) error {
	return &pyError{class: e, err: fmt.Errorf(format, a...)}
}

// Wrap makes err raise this class (nil stays nil); errors.Is and errors.As
// still see err.
func (e Exception) Wrap(err error) error {
	if err == nil {
		return nil
	}
	return &pyError{class: e, err: err}
}

func (e Exception) String() string {
	return [...]string{"RuntimeError", "ValueError", "TypeError", "KeyError", "IndexError"}[e]
}

type pyError struct {
	class Exception
	err   error
}

func (p *pyError) Error() string { return p.err.Error() }
func (p *pyError) Unwrap() error { return p.err }

// statusOf is the status (the Python class) err raises: the class of the
// outermost pyError in its chain, RuntimeError if none.
func statusOf(err error) status.Kind {
	var p *pyError
	if !errors.As(err, &p) {
		return status.KindRuntime
	}
	return map[Exception]status.Kind{
		RuntimeError: status.KindRuntime, ValueError: status.KindValue, TypeError: status.KindType,
		KeyError: status.KindKey, IndexError: status.KindIndex,
	}[p.class]
}
