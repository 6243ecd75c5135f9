/*
 * cgo_const.h: the one way capi's //export functions match pybuf_core.h's
 * const pointers. cgo writes the C prototype of an //export from its Go
 * parameter types, and a *C.char comes out as char *, which C rejects as
 * conflicting with the header's const char *. A pointer to one of these
 * typedefs comes out const, matching the header; the ABI is the same.
 * Every cgo file of package capi includes this instead of pybuf_core.h.
 */
#ifndef PYBUF_CGO_CONST_H
#define PYBUF_CGO_CONST_H

#include "pybuf_core.h"

typedef const char pybuf_cchar;
typedef const pybuf_registration pybuf_cregistration;
typedef const uint64_t pybuf_cuint64;
typedef const pybuf_go_module pybuf_cgo_module;
typedef const pybuf_go_arg pybuf_cgo_arg;

#endif /* PYBUF_CGO_CONST_H */
