package pymod

/*
#include "pybuf_core.h"
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// Describe returns module name's C description (pybuf_go_module, for
// pybuf_core_go_module), made once and never freed: the shim keeps pointers
// into it for the life of the process.
func Describe(name string) (unsafe.Pointer, error) {
	m, err := lookup(name)
	if err != nil {
		return nil, err
	}
	registry.Lock()
	defer registry.Unlock()
	if m.cdesc == nil {
		m.cdesc = describe(m)
	}
	return unsafe.Pointer(m.cdesc.(*C.pybuf_go_module)), nil
}

func describe(m *module) *C.pybuf_go_module {
	d := (*C.pybuf_go_module)(calloc(1, C.sizeof_pybuf_go_module))
	d.name = C.CString(m.name)
	d.doc = C.CString(m.doc)
	d.nfuncs = C.int32_t(len(m.funcs))
	funcs := unsafe.Slice((*C.pybuf_go_func)(calloc(max(len(m.funcs), 1), C.sizeof_pybuf_go_func)), max(len(m.funcs), 1))
	d.funcs = &funcs[0]
	for i, f := range m.funcs {
		c := &funcs[i]
		c.id = C.uint64_t(f.id)
		c.name = C.CString(f.name)
		c.doc = C.CString(textSignature(f) + "\n--\n\n" + f.doc)
		c.nparams = C.int32_t(len(f.sig.params))
		c.nresults = C.int32_t(len(f.sig.results))
		c.params = describeSlots(f.sig.params)
		c.results = describeSlots(f.sig.results)
	}
	return d
}

func describeSlots(slots []slot) *C.pybuf_go_param {
	ps := unsafe.Slice((*C.pybuf_go_param)(calloc(max(len(slots), 1), C.sizeof_pybuf_go_param)), max(len(slots), 1))
	for i, s := range slots {
		ps[i].name = C.CString(s.name)
		ps[i].kind = C.int32_t(s.kind)
		ps[i].bits = C.int32_t(s.bits)
		ps[i].writable = C.int32_t(btoi(s.writable))
	}
	return &ps[0]
}

func calloc(n int, size C.size_t) unsafe.Pointer {
	p := C.calloc(C.size_t(n), size)
	if p == nil {
		panic("pymod: out of C memory")
	}
	return p
}

// textSignature is the line CPython reads as __text_signature__.
func textSignature(f *function) string {
	names := make([]string, len(f.sig.params))
	for i, p := range f.sig.params {
		names[i] = p.name
	}
	return fmt.Sprintf("%s(%s)", f.name, strings.Join(names, ", "))
}
