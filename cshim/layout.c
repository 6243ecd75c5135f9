/*
 * layout.c: from Python arguments to a layout the Go core has validated.
 *
 * C only unpacks ints and strings here; every rule about formats, shapes,
 * strides and extents lives in Go (pybuf/layout). Arguments C cannot read
 * (ctypes/cffi addresses, NumPy dtypes) go through the package's Python hooks.
 */
#include "shim.h"

#include <string.h>

PyObject *raise_for_status(module_state *st, int32_t status, const char *msg)
{
    PyObject *type;
    switch (status) {
    case PYBUF_ERR_OVERFLOW: type = PyExc_OverflowError; break;
    case PYBUF_ERR_TYPE: type = PyExc_TypeError; break;
    case PYBUF_ERR_BUFFER: type = PyExc_BufferError; break;
    case PYBUF_ERR_KEY: type = PyExc_KeyError; break;       /* Go module errors */
    case PYBUF_ERR_INDEX: type = PyExc_IndexError; break;
    case PYBUF_ERR_RUNTIME: type = PyExc_RuntimeError; break;
    case PYBUF_ERR_NOT_FOUND: /* NULL only while the module is torn down */
        type = st->not_found_error ? st->not_found_error : PyExc_ValueError;
        break;
    default: type = PyExc_ValueError; break;
    }
    PyErr_SetString(type, msg);
    return NULL;
}

int address_from_object(module_state *st, PyObject *obj, const char *argname, uint64_t *out)
{
    PyObject *num;
    /* ctypes returns None for a NULL c_void_p (an empty result, say) */
    if (obj == Py_None && (strcmp(argname, "address") == 0 || strcmp(argname, "arg") == 0)) {
        *out = 0;
        return 0;
    }
    if (PyLong_Check(obj) && !PyBool_Check(obj)) {
        num = Py_NewRef(obj);
    } else {
        PyObject *args = Py_BuildValue("(Os)", obj, argname);
        num = args ? hook_call(st, "address", args) : NULL;
        Py_XDECREF(args);
        if (num == NULL)
            return -1;
        if (!PyLong_Check(num)) {
            Py_DECREF(num);
            PyErr_Format(PyExc_TypeError, "%s must be an int, a ctypes pointer or "
                         "array, or a cffi pointer, not %.100s",
                         argname, Py_TYPE(obj)->tp_name);
            return -1;
        }
    }
    int overflow = 0;
    long long signed_v = PyLong_AsLongLongAndOverflow(num, &overflow);
    if (signed_v == -1 && PyErr_Occurred()) {
        Py_DECREF(num);
        return -1;
    }
    if (overflow < 0 || (overflow == 0 && signed_v < 0)) {
        Py_DECREF(num);
        PyErr_Format(PyExc_ValueError, "%s must be >= 0", argname);
        return -1;
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(num);
    Py_DECREF(num);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_OverflowError, "%s does not fit in 64 bits", argname);
        }
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* Appends the ints of `seq` (an int or a sequence of ints) to dims[*n]. */
static int read_dims(PyObject *seq, const char *argname, int64_t *dims, int32_t *n)
{
    PyObject *fast;
    if (PyIndex_Check(seq)) {
        fast = PyTuple_Pack(1, seq);
    } else if (PyTuple_Check(seq) || PyList_Check(seq)) {
        fast = Py_NewRef(seq);
    } else {
        PyErr_Format(PyExc_TypeError, "%s must be an int or a tuple of ints, not %.100s",
                     argname, Py_TYPE(seq)->tp_name);
        return -1;
    }
    if (fast == NULL)
        return -1;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(fast);
    /* the bound of the fixed arrays in pybuf_layout, not a layout rule */
    if (*n + len > PYBUF_MAXDIM) {
        Py_DECREF(fast);
        PyErr_Format(PyExc_ValueError, "%s: at most %d dimensions are supported",
                     argname, PYBUF_MAXDIM);
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyIndex_Check(item) || PyBool_Check(item)) {
            PyErr_Format(PyExc_TypeError, "%s[%zd] must be an int, not %.100s",
                         argname, i, Py_TYPE(item)->tp_name);
            Py_DECREF(fast);
            return -1;
        }
        PyObject *idx = PyNumber_Index(item);
        if (idx == NULL) {
            Py_DECREF(fast);
            return -1;
        }
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(idx, &overflow);
        Py_DECREF(idx);
        if (overflow) {
            PyErr_Format(PyExc_OverflowError, "%s[%zd] does not fit in 64 bits", argname, i);
            Py_DECREF(fast);
            return -1;
        }
        dims[(*n)++] = v;
    }
    Py_DECREF(fast);
    return 0;
}

int layout_finish(module_state *st, pybuf_layout *l)
{
    const core_api *core = core_require(st);
    if (core == NULL)
        return -1;
    if (st->layouts != NULL && layout_cache_lookup(st->layouts, l))
        return 0;
    int64_t strides_in[PYBUF_MAXDIM];
    memcpy(strides_in, l->strides, sizeof strides_in); /* the core overwrites them */
    char err[PYBUF_ERRLEN];
    err[0] = '\0';
    int32_t status = core->layout(l, err);
    if (status == PYBUF_OK) {
        if (st->layouts != NULL)
            layout_cache_store(st->layouts, l, strides_in);
        return 0;
    }
    raise_for_status(st, status, err);
    return status == PYBUF_ERR_NOT_PEP3118 ? -2 : -1;
}

/*
 * Fills shape, strides and format of `l` (dtype NULL: "B"), validates it with the core, and
 * returns in *format_out the format string the buffer will export.
 * A string dtype is tried as a PEP 3118 format first; anything else, or a
 * string the core does not read, goes to the package's "dtype" hook, which
 * returns (format, extra_shape, extra_strides) from numpy.dtype().
 */
int layout_from_args(module_state *st, pybuf_layout *l, PyObject *shape, PyObject *dtype,
                     PyObject *strides, PyObject **format_out)
{
    if (dtype == NULL && (dtype = st->bytes_format) == NULL) { /* unsigned bytes */
        PyErr_SetString(PyExc_RuntimeError, "pybuf: the module is being torn down");
        return -1;
    }
    int32_t ndim = 0, nstrides = 0;
    if (read_dims(shape, "shape", l->shape, &ndim) < 0)
        return -1;
    l->has_strides = strides != Py_None;
    if (l->has_strides && read_dims(strides, "strides", l->strides, &nstrides) < 0)
        return -1;
    l->ndim = ndim;
    l->nstrides = nstrides;

    PyObject *format = NULL;
    if (PyUnicode_Check(dtype)) {
        l->format = PyUnicode_AsUTF8(dtype);
        if (l->format == NULL)
            return -1;
        int r = layout_finish(st, l);
        if (r == 0) {
            *format_out = Py_NewRef(dtype);
            return 0;
        }
        if (r == -1)
            return -1;
        /* Not PEP 3118: numpy.dtype() may still read it ("float64", "<f8"). */
    }

    PyObject *reason = PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    if (reason == NULL) {
        PyObject *exc = shim_err_take();
        reason = PyObject_Str(exc);
        Py_DECREF(exc);
        if (reason == NULL)
            return -1;
    }
    PyObject *args = PyTuple_Pack(2, dtype, reason);
    Py_DECREF(reason);
    if (args == NULL)
        return -1;
    PyObject *spec = hook_call(st, "dtype", args);
    Py_DECREF(args);
    if (spec == NULL)
        return -1;
    PyObject *extra_shape, *extra_strides;
    if (!PyArg_ParseTuple(spec, "UOO", &format, &extra_shape, &extra_strides)) {
        Py_DECREF(spec);
        return -1;
    }
    int32_t extra_n = ndim;
    if (read_dims(extra_shape, "dtype", l->shape, &extra_n) < 0 ||
        (l->has_strides && read_dims(extra_strides, "dtype", l->strides, &nstrides) < 0)) {
        Py_DECREF(spec);
        return -1;
    }
    l->ndim = extra_n;
    l->nstrides = nstrides;
    l->format = PyUnicode_AsUTF8(format);
    if (l->format == NULL || layout_finish(st, l) != 0) {
        Py_DECREF(spec);
        return -1;
    }
    *format_out = Py_NewRef(format);
    Py_DECREF(spec);
    return 0;
}
