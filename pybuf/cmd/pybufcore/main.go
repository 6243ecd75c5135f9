// Command pybufcore is pybuf's Go core library. Built with
//
//	go build -buildmode=c-shared -o libpybufcore.so ./pybuf/cmd/pybufcore
//
// it exports the C ABI of pybuf/capi/pybuf_core.h for the C shim to dlopen. A
// Go program of its own cannot use it: main never runs in a c-shared library.
package main

import _ "github.com/pybuf-go/pybuf/pybuf/capi"

func main() {}
