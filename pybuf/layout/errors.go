// Package layout validates the memory layouts pybuf exports: PEP 3118 format
// strings, shapes and strides, and the byte extent they cover. It is pure Go
// and every size computation is overflow-checked, because its inputs come
// straight from Python callers and a wrong extent means reading foreign memory
// out of bounds.
package layout

import "github.com/pybuf-go/pybuf/pybuf/status"

// Kind and Error are pybuf's common status types (see package status).
type (
	Kind  = status.Kind
	Error = status.Error
)

const (
	KindValue      = status.KindValue
	KindOverflow   = status.KindOverflow
	KindType       = status.KindType
	KindBuffer     = status.KindBuffer
	KindNotPEP3118 = status.KindNotPEP3118
)

var errorf = status.Errorf
