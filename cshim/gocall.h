/*
 * gocall.h: what the three files of the Go module call path share (not part
 * of shim.h: nothing else needs it).
 *
 *   goargs.c     Python arguments -> pybuf_go_arg, by kind (no Go)
 *   gocall.c     the call: bind, convert, release the GIL, one crossing into Go
 *   goresults.c  pybuf_go_result -> Python objects; arrays become owners
 */
#ifndef PYBUF_GOCALL_H
#define PYBUF_GOCALL_H

#include "shim.h"

/* Called on every Go call: bound directly, not through the PLT (these are
 * nobody else's symbols). */
#define GOCALL_HIDDEN __attribute__((visibility("hidden")))

/* One Go function as Python sees it: the self of its builtin function. */
typedef struct {
    const pybuf_go_func *f;   /* static in the core */
    PyObject *qualname;       /* "gostats.add": messages and owner names */
    PyObject *names[PYBUF_GO_MAXARGS]; /* interned parameter names */
    int narrays;              /* array results */
    module_state *st;         /* of the importing interpreter's pybuf._pybuf, which the
                                 function's capsule holds */
} gofunc;

/* A Go function as a Python object: what the vectorcall reads. */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    gofunc g;
    PyObject *module_name;  /* __module__ */
    PyObject *pybuf_module; /* pybuf._pybuf, whose state g.st is */
} gofunc_object;

/* A Python callable lent to Go for one call (PYBUF_GO_FUNC): what Go's
 * callbacks get back. */
struct pybuf_go_callable {
    PyObject *callable;     /* borrowed: the caller holds its arguments for the call */
    PyObject **first_exc;   /* the call's first exception a callable raised (owned) */
    const gofunc *g;
    int index;              /* the parameter */
};

/* goargs.c */
/* Positional arguments, then keywords by name, into bound[]; -1 with TypeError. */
GOCALL_HIDDEN int gocall_bind_args(const gofunc *g, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames, PyObject **bound);
/* Argument i into a; an array argument's view goes into *view (release it
 * after the call). -1 with an exception that names the parameter. */
GOCALL_HIDDEN int gocall_convert_arg(const gofunc *g, int i, PyObject *o, pybuf_go_arg *a,
                                     Py_buffer *view, pybuf_go_callable *cb);

/* goresults.c */
/* Raises what a failed pybuf_core_go_call stands for, frees msg; NULL. */
GOCALL_HIDDEN PyObject *gocall_raise_status(const gofunc *g, int32_t status, char *msg);
/* Result j as a Python object; consumes what it holds (string memory, an
 * export: its release runs if the object cannot be made). */
GOCALL_HIDDEN PyObject *gocall_result(const gofunc *g, int j, pybuf_go_result *r);
/* Gives back what results from..nresults-1 hold. */
GOCALL_HIDDEN void gocall_discard_results(const gofunc *g, int from, pybuf_go_result *out);

#endif /* PYBUF_GOCALL_H */
