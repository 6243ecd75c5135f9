/*
 * layout.c: from Python arguments to a layout the Go core has validated.
 *
 * Every rule about formats, shapes, strides and extents lives in Go
 * (pybuf/layout); C only fills a pybuf_layout from what convert.c unpacked,
 * asks the cache of Go's verdicts (layout_cache.c), and on a miss asks Go.
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "shim.h"

#include <stddef.h>
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

void layout_init(pybuf_layout *l)
{
    /* Everything but the two arrays (1 KiB): only their first ndim entries
     * are ever read, and whoever sets ndim fills them. */
    memset(l, 0, offsetof(pybuf_layout, shape));
    memset(&l->address, 0, sizeof *l - offsetof(pybuf_layout, address));
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
    if (dims_from_object(shape, "shape", l->shape, &ndim) < 0)
        return -1;
    l->has_strides = strides != Py_None;
    if (l->has_strides && dims_from_object(strides, "strides", l->strides, &nstrides) < 0)
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
    PyObject *spec = dtype_spec(st, dtype, reason);
    Py_DECREF(reason);
    if (spec == NULL)
        return -1;
    PyObject *extra_shape, *extra_strides;
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 3 ||
        !PyUnicode_Check(PyTuple_GET_ITEM(spec, 0))) {
        PyErr_SetString(PyExc_TypeError, "pybuf: the dtype hook returned no (format, shape, strides)");
        Py_DECREF(spec);
        return -1;
    }
    format = PyTuple_GET_ITEM(spec, 0);
    extra_shape = PyTuple_GET_ITEM(spec, 1);
    extra_strides = PyTuple_GET_ITEM(spec, 2);
    int32_t extra_n = ndim;
    int scalar = PyTuple_Check(extra_shape) && PyTuple_GET_SIZE(extra_shape) == 0 &&
                 PyTuple_Check(extra_strides) && PyTuple_GET_SIZE(extra_strides) == 0;
    if (!scalar && (dims_from_object(extra_shape, "dtype", l->shape, &extra_n) < 0 ||
                    (l->has_strides && dims_from_object(extra_strides, "dtype", l->strides, &nstrides) < 0))) {
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
