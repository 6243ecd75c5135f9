/*
 * gocallback.c: a Python callable called from Go (a parameter of a Go func
 * type, pybuf/pymod). The core calls gocallback_call with the GIL released,
 * from whatever thread the Go code runs on: it takes the GIL, passes
 * scalars as Python numbers and each Go slice as a writable array over a
 * bytearray copy (copied back into the slice afterwards, so the callable can
 * fill it), and converts the results by the kinds Go asks for. An exception
 * is kept (the call's first) for gocall.c to raise when the Go call returns.
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it; the Go slices are Go's, pinned for
 * the callback, and each copy's length is measured again before it is
 * copied back.
 */
#include "gocall.h"

#include <stdlib.h>
#include <string.h>

/* numpy.frombuffer(data, format), or a memoryview cast where NumPy is not
 * installed (pybuf.gomodule._callback_array). */
static PyObject *callback_array(PyObject *data, const char *format)
{
    PyObject *mod = PyImport_ImportModule("pybuf.gomodule");
    if (mod == NULL)
        return NULL;
    PyObject *a = PyObject_CallMethod(mod, "_callback_array", "Os", data, format ? format : "B");
    Py_DECREF(mod);
    return a;
}

static PyObject *to_python(const pybuf_go_value *v, PyObject **copy)
{
    switch (v->kind) {
    case PYBUF_GO_BOOL: return PyBool_FromLong(v->v.i != 0);
    case PYBUF_GO_INT: return PyLong_FromLongLong(v->v.i);
    case PYBUF_GO_UINT: return PyLong_FromUnsignedLongLong(v->v.u);
    case PYBUF_GO_FLOAT: return PyFloat_FromDouble(v->v.f);
    case PYBUF_GO_ARRAY:
        *copy = PyByteArray_FromStringAndSize(v->data ? (const char *)v->data : "", v->len * v->itemsize);
        return *copy ? callback_array(*copy, v->format) : NULL;
    }
    PyErr_Format(PyExc_SystemError, "callback value kind %d is unknown", (int)v->kind);
    return NULL;
}

/* Result j of the callable, by the kind Go asks for; -1 with an exception. */
static int from_python(const pybuf_go_callable *c, PyObject *o, pybuf_go_value *r, int j)
{
    switch (r->kind) {
    case PYBUF_GO_FLOAT: {
        double d = PyFloat_AsDouble(o);
        if (d == -1.0 && PyErr_Occurred())
            break;
        r->v.f = d;
        return 0;
    }
    case PYBUF_GO_BOOL: {
        int t = PyObject_IsTrue(o);
        if (t < 0)
            break;
        r->v.i = t;
        return 0;
    }
    case PYBUF_GO_INT:
    case PYBUF_GO_UINT: {
        PyObject *num = PyNumber_Index(o);
        if (num == NULL)
            break;
        int bits = r->bits > 0 && r->bits < 64 ? r->bits : 64, bad = 0;
        if (r->kind == PYBUF_GO_INT) {
            long long v = PyLong_AsLongLong(num);
            bad = v == -1 && PyErr_Occurred();
            if (!bad && bits < 64 && (v < -(1LL << (bits - 1)) || v >= (1LL << (bits - 1))))
                bad = 2;
            r->v.i = v;
        } else {
            unsigned long long v = PyLong_AsUnsignedLongLong(num);
            bad = v == (unsigned long long)-1 && PyErr_Occurred();
            if (!bad && bits < 64 && v >= (1ULL << bits))
                bad = 2;
            r->v.u = v;
        }
        if (bad == 2)
            PyErr_Format(PyExc_OverflowError, "the callable given for %U() argument '%U' returned %S "
                         "(result %d), out of range for a Go %sint%d", c->g->qualname,
                         c->g->names[c->index], num, j + 1, r->kind == PYBUF_GO_UINT ? "u" : "", bits);
        Py_DECREF(num);
        if (bad == 2)
            return -1;
        if (bad)
            break;
        return 0;
    }
    default:
        PyErr_Format(PyExc_SystemError, "callback result kind %d is unknown", (int)r->kind);
        return -1;
    }
    /* name the callable's parameter, keep the conversion's error as the cause */
    PyObject *cause = shim_err_take();
    PyErr_Format(PyExc_TypeError, "the callable given for %U() argument '%U' must return %s, not %.100s",
                 c->g->qualname, c->g->names[c->index],
                 r->kind == PYBUF_GO_FLOAT ? "a float" : r->kind == PYBUF_GO_BOOL ? "a bool" : "an int",
                 Py_TYPE(o)->tp_name);
    PyObject *exc = shim_err_take();
    if (exc != NULL && cause != NULL)
        PyException_SetCause(exc, cause);
    else
        Py_XDECREF(cause);
    shim_err_restore(exc);
    return -1;
}

static int results_from(const pybuf_go_callable *c, PyObject *ret, pybuf_go_value *results, int32_t n)
{
    if (n == 0)
        return 0; /* whatever it returned */
    if (n == 1)
        return from_python(c, ret, &results[0], 0);
    if (!PyTuple_Check(ret) || PyTuple_GET_SIZE(ret) != n) {
        PyErr_Format(PyExc_TypeError, "the callable given for %U() argument '%U' must return a tuple of %d "
                     "values, not %.100s", c->g->qualname, c->g->names[c->index], (int)n, Py_TYPE(ret)->tp_name);
        return -1;
    }
    for (int j = 0; j < n; j++)
        if (from_python(c, PyTuple_GET_ITEM(ret, j), &results[j], j) < 0) /* the tuple is immutable */
            return -1;
    return 0;
}

/* The copies back into Go's slices, each measured after the call. */
static int copy_back(const pybuf_go_callable *c, const pybuf_go_value *args, PyObject **copies, int32_t n)
{
    for (int i = 0; i < n; i++) {
        if (copies[i] == NULL)
            continue;
        Py_ssize_t size = (Py_ssize_t)(args[i].len * args[i].itemsize);
        if (PyByteArray_GET_SIZE(copies[i]) != size) {
            PyErr_Format(PyExc_ValueError, "the callable given for %U() argument '%U' resized the array of "
                         "its argument %d", c->g->qualname, c->g->names[c->index], i + 1);
            return -1;
        }
        if (size > 0)
            memcpy(args[i].data, PyByteArray_AS_STRING(copies[i]), (size_t)size);
    }
    return 0;
}

/* What Go's error message says about the exception (the exception itself is
 * what Python sees). */
static char *describe_exception(PyObject *exc)
{
    PyObject *s = exc ? PyUnicode_FromFormat("%s: %S", Py_TYPE(exc)->tp_name, exc) : NULL;
    const char *u = s ? PyUnicode_AsUTF8(s) : NULL;
    char *out = strdup(u ? u : "an exception");
    if (u == NULL)
        PyErr_Clear();
    Py_XDECREF(s);
    return out;
}

int32_t gocallback_call(pybuf_go_callable *c, const pybuf_go_value *args, int32_t nargs,
                        pybuf_go_value *results, int32_t nresults, char **msg)
{
    PyGILState_STATE gs = PyGILState_Ensure();
    PyObject *argv[PYBUF_GO_MAXARGS] = {NULL}, *copies[PYBUF_GO_MAXARGS] = {NULL}, *ret = NULL;
    int32_t st = PYBUF_OK;
    int ok = nargs >= 0 && nargs <= PYBUF_GO_MAXARGS && nresults >= 0 && nresults <= PYBUF_GO_MAXARGS;
    if (!ok)
        PyErr_SetString(PyExc_SystemError, "a Go callback with too many values");
    for (int i = 0; ok && i < nargs; i++)
        ok = (argv[i] = to_python(&args[i], &copies[i])) != NULL;
    if (ok)
        ok = (ret = PyObject_Vectorcall(c->callable, argv, (size_t)nargs, NULL)) != NULL;
    if (ok)
        ok = copy_back(c, args, copies, nargs) == 0 && results_from(c, ret, results, nresults) == 0;
    if (!ok) {
        PyObject *exc = shim_err_take();
        *msg = describe_exception(exc);
        if (*c->first_exc == NULL)
            *c->first_exc = exc;
        else
            Py_XDECREF(exc);
        st = PYBUF_ERR_CALLBACK;
    }
    for (int i = 0; i < PYBUF_GO_MAXARGS; i++) {
        Py_XDECREF(argv[i]);
        Py_XDECREF(copies[i]);
    }
    Py_XDECREF(ret);
    PyGILState_Release(gs);
    return st;
}
