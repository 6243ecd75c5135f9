/*
 * goargs.c: Python arguments of a Go module function, converted by the kind
 * of each parameter (pybuf_core.h), without calling Go. Array arguments are
 * borrowed through the buffer protocol exactly as the exporter gives them;
 * the Go side checks their element type and layout during the call.
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "gocall.h"

_Static_assert(sizeof(Py_ssize_t) == sizeof(int64_t),
               "views' shapes and strides are passed to Go as int64_t");

/* The exporter's raise for an array argument, replaced by one that names the
 * parameter (the original stays as __cause__). */
static int arg_error(PyObject *type, const gofunc *g, int i, const char *what, PyObject *obj)
{
    PyObject *cause = shim_err_take();
    PyErr_Format(type, "%U() argument '%U' %s, not %.100s", g->qualname, g->names[i], what,
                 Py_TYPE(obj)->tp_name);
    if (cause != NULL) {
        PyObject *exc = shim_err_take();
        PyException_SetCause(exc, cause);
        shim_err_restore(exc);
    }
    return -1;
}

static int convert_int(const gofunc *g, int i, PyObject *o, pybuf_go_arg *a, int is_unsigned, int bits)
{
    PyObject *num;
    if (PyLong_Check(o))
        num = Py_NewRef(o);
    else if (PyIndex_Check(o) && (num = PyNumber_Index(o)) != NULL)
        ;
    else
        return arg_error(PyExc_TypeError, g, i, "must be an int", o);
    int overflow = 0;
    if (is_unsigned) {
        unsigned long long v = PyLong_AsUnsignedLongLong(num);
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            overflow = 1;
        } else if (bits < 64 && v >> bits != 0) {
            overflow = 1;
        }
        a->v.u = v;
    } else {
        long long v = PyLong_AsLongLongAndOverflow(num, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(num);
            return -1;
        }
        if (!overflow && bits < 64) {
            long long lim = 1LL << (bits - 1);
            overflow = v < -lim || v >= lim;
        }
        a->v.i = v;
    }
    Py_DECREF(num);
    if (overflow) {
        PyErr_Format(PyExc_OverflowError, "%U() argument '%U' is out of range for a Go %s%d",
                     g->qualname, g->names[i], is_unsigned ? "uint" : "int", bits);
        return -1;
    }
    return 0;
}

static int convert_array(const gofunc *g, int i, PyObject *o, pybuf_go_arg *a, Py_buffer *view,
                         int writable)
{
    if (PyObject_GetBuffer(o, view, writable ? PyBUF_RECORDS : PyBUF_RECORDS_RO) < 0) {
        view->obj = NULL;
        if (writable && PyObject_CheckBuffer(o)) {
            Py_buffer probe;
            PyObject *why = shim_err_take();
            if (PyObject_GetBuffer(o, &probe, PyBUF_RECORDS_RO) == 0) {
                PyBuffer_Release(&probe);
                Py_XDECREF(why);
                PyErr_Format(PyExc_BufferError, "%U() argument '%U' is read-only, and %U writes into it",
                             g->qualname, g->names[i], g->qualname);
                return -1;
            }
            PyErr_Clear();
            shim_err_restore(why);
        }
        return arg_error(PyExc_TypeError, g, i,
                         "must be an array (any buffer-protocol object: a NumPy array, "
                         "bytes, bytearray, memoryview)", o);
    }
    a->data = view->buf;
    a->len = view->len;
    a->format = view->format;
    a->itemsize = view->itemsize;
    a->ndim = view->ndim;
    a->shape = (const int64_t *)view->shape;
    a->strides = (const int64_t *)view->strides;
    a->readonly = view->readonly;
    return 0;
}

int gocall_convert_arg(const gofunc *g, int i, PyObject *o, pybuf_go_arg *a, Py_buffer *view,
                       pybuf_go_callable *cb)
{
    const pybuf_go_param *p = &g->f->params[i];
    switch (p->kind) {
    case PYBUF_GO_BOOL:
        if (!PyBool_Check(o))
            return arg_error(PyExc_TypeError, g, i, "must be a bool", o);
        a->v.i = o == Py_True;
        return 0;
    case PYBUF_GO_INT:
        return convert_int(g, i, o, a, 0, p->bits);
    case PYBUF_GO_UINT:
        return convert_int(g, i, o, a, 1, p->bits);
    case PYBUF_GO_FLOAT:
        if (PyFloat_CheckExact(o)) {
            a->v.f = PyFloat_AS_DOUBLE(o);
            return 0;
        }
        if (PyUnicode_Check(o) || PyBytes_Check(o) || PyComplex_Check(o))
            return arg_error(PyExc_TypeError, g, i, "must be a float", o);
        a->v.f = PyFloat_AsDouble(o);
        if (a->v.f == -1.0 && PyErr_Occurred())
            return arg_error(PyExc_TypeError, g, i, "must be a float", o);
        return 0;
    case PYBUF_GO_COMPLEX: {
        if (PyUnicode_Check(o) || PyBytes_Check(o))
            return arg_error(PyExc_TypeError, g, i, "must be a complex", o);
        Py_complex c = PyComplex_AsCComplex(o);
        if (c.real == -1.0 && PyErr_Occurred())
            return arg_error(PyExc_TypeError, g, i, "must be a complex", o);
        a->v.f = c.real;
        a->imag = c.imag;
        return 0;
    }
    case PYBUF_GO_STRING: {
        if (!PyUnicode_Check(o))
            return arg_error(PyExc_TypeError, g, i, "must be a str", o);
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(o, &n);
        if (s == NULL)
            return -1;
        a->data = s;
        a->len = n;
        return 0;
    }
    case PYBUF_GO_ARRAY:
        return convert_array(g, i, o, a, view, p->writable);
    case PYBUF_GO_FUNC:
        if (!PyCallable_Check(o))
            return arg_error(PyExc_TypeError, g, i, "must be callable", o);
        cb->callable = o;
        cb->g = g;
        cb->index = i;
        a->data = cb;
        return 0;
    }
    PyErr_Format(PyExc_SystemError, "%U: parameter kind %d is unknown", g->qualname, (int)p->kind);
    return -1;
}

/* Positional arguments, then keywords by name, into bound[]. */
int gocall_bind_args(const gofunc *g, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                     PyObject **bound)
{
    int n = g->f->nparams;
    if (nargs > n) {
        PyErr_Format(PyExc_TypeError, "%U() takes %d positional argument%s but %zd were given",
                     g->qualname, n, n == 1 ? "" : "s", nargs);
        return -1;
    }
    for (int i = 0; i < n; i++)
        bound[i] = i < nargs ? args[i] : NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int found = -1;
        for (int i = 0; i < n && found < 0; i++)
            if (key == g->names[i] || PyUnicode_Compare(key, g->names[i]) == 0)
                found = i;
        if (found < 0) {
            PyErr_Format(PyExc_TypeError, "%U() got an unexpected keyword argument '%U'",
                         g->qualname, key);
            return -1;
        }
        if (bound[found] != NULL) {
            PyErr_Format(PyExc_TypeError, "%U() got multiple values for argument '%U'",
                         g->qualname, key);
            return -1;
        }
        bound[found] = args[nargs + k];
    }
    for (int i = 0; i < n; i++)
        if (bound[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%U() missing required argument '%U' (pos %d)",
                         g->qualname, g->names[i], i + 1);
            return -1;
        }
    return 0;
}
