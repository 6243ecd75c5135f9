/*
 * adopt.c: pybuf.adopt(), owners over memory a Go extension (or any C code)
 * described in a pybuf_export descriptor (pybuf_core.h).
 *
 * The descriptor is consumed whatever happens: copied and freed by the core.
 * If adopt raises, the descriptor's release has run (ownership
 * was handed over with the descriptor).
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "shim.h"

#include <string.h>

static const char *const adopt_names[] = {"descriptor", "name"};
static const entry_params adopt_params = {"adopt", adopt_names, 2, 1, 1};

/* Copies the descriptor at `addr` into *d, through the core: it frees it,
 * but only if gomem handed it over and nobody took it yet, so adopting twice
 * or a wrong address (a ctypes restype that truncated it) reads nothing. */
static int take_descriptor(module_state *st, PyObject *ptr, pybuf_export *d)
{
    uint64_t addr;
    if (ptr == Py_None) { /* what ctypes makes of a NULL pointer result */
        PyErr_SetString(PyExc_TypeError, "descriptor is None: the Go function returned NULL "
                        "(its error return), so there is nothing to adopt");
        return -1;
    }
    if (address_from_object(st, ptr, "descriptor", &addr) < 0)
        return -1;
    if (addr == 0) {
        PyErr_SetString(PyExc_ValueError, "descriptor is NULL");
        return -1;
    }
    const core_api *core = core_require(st);
    if (core == NULL)
        return -1;
    char err[PYBUF_ERRLEN] = "";
    int32_t status = core->take_export(addr, d, err);
    if (status != PYBUF_OK) {
        raise_for_status(st, status, err);
        return -1;
    }
    d->format[PYBUF_FORMATLEN - 1] = '\0';
    d->name[PYBUF_NAMELEN - 1] = '\0';
    return 0;
}

static PyObject *adopt_described(module_state *st, const pybuf_export *d, PyObject *name)
{
    PyObject *own_name = name;
    if (name == NULL || (name == Py_None && d->name[0] != '\0'))
        own_name = d->name[0] != '\0' ? PyUnicode_FromString(d->name) : Py_NewRef(Py_None);
    else
        Py_INCREF(own_name);
    OwnerObject *o = own_name ? owner_begin(st, own_name) : NULL;
    Py_XDECREF(own_name);
    if (o == NULL)
        return NULL;
    pybuf_layout l;
    layout_init(&l);
    l.address = d->address;
    l.format = d->format;
    l.ndim = d->ndim; /* Go checks it before reading the arrays */
    l.has_strides = d->has_strides != 0;
    l.nstrides = l.has_strides ? d->ndim : 0;
    memcpy(l.shape, d->shape, sizeof l.shape);
    memcpy(l.strides, d->strides, sizeof l.strides);
    if (d->release != NULL) {
        o->rel.kind = RELEASE_CFUNC;
        o->rel.cfunc = d->release;
        o->rel.carg = d->release_arg;
    }
    PyObject *format = NULL, *b = NULL;
    if (layout_finish(st, &l) == 0 && (format = PyUnicode_FromString(d->format)) != NULL)
        b = owner_commit(o, &l, format, d->readonly);
    Py_XDECREF(format);
    return owner_end(o, b);
}

PyObject *adopt(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[2];
    if (entry_parse(&adopt_params, args, nargs, kwnames, a) < 0)
        return NULL;
    module_state *st = PyModule_GetState(module);
    pybuf_export d;
    if (take_descriptor(st, a[0], &d) < 0)
        return NULL;
    PyObject *b = adopt_described(st, &d, a[1]);
    if (b == NULL && d.release != NULL) {
        /* a failed adopt still consumes the descriptor's release (the owner
         * was disarmed: it never runs it) */
        PyObject *exc = shim_err_take();
        Py_BEGIN_ALLOW_THREADS
        d.release(d.release_arg);
        Py_END_ALLOW_THREADS
        shim_err_restore(exc);
    }
    return b;
}
