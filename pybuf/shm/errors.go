package shm

import "github.com/pybuf-go/pybuf/pybuf/status"

// Kind and Error are pybuf's common status types (see package status). Msg
// always starts with Arg ("name", "size" or "mode").
type (
	Kind  = status.Kind
	Error = status.Error
)

const (
	KindValue    = status.KindValue
	KindOverflow = status.KindOverflow
	KindNotFound = status.KindNotFound
)

var errorf = status.Errorf
