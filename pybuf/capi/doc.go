// Package capi exports pybuf's Go core as the C ABI of pybuf_core.h. A Go
// library built with -buildmode=c-shared that imports it (cmd/pybufcore, or
// a Go developer's own extension) is a core the C shim can dlopen.
//
// No function here may panic into C: a Go panic crossing a cgo export aborts
// the whole Python process, so every export that runs more than a constant
// or free() recovers and answers with an error status or an empty result
// instead.
package capi
