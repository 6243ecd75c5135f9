/*
 * foreign.c: owners over memory described by someone else: a pybuf_export
 * descriptor from a Go extension (pybuf.adopt), or a shared-memory mapping the
 * Go core made (pybuf.shm).
 */
#include "shim.h"

#include <string.h>
#include <sys/mman.h>

PyObject *adopt(PyObject *module, PyObject *args, PyObject *kwds)
{
    module_state *st = PyModule_GetState(module);
    static char *kwlist[] = {"descriptor", "name", NULL};
    PyObject *ptr, *name = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$O:adopt", kwlist, &ptr, &name))
        return NULL;
    uint64_t addr;
    if (ptr == Py_None) { /* what ctypes makes of a NULL pointer result */
        PyErr_SetString(PyExc_TypeError, "descriptor is None: the Go function returned NULL "
                        "(its error return), so there is nothing to adopt");
        return NULL;
    }
    if (address_from_object(st, ptr, "descriptor", &addr) < 0)
        return NULL;
    if (addr == 0) {
        PyErr_SetString(PyExc_ValueError, "descriptor is NULL");
        return NULL;
    }
    const core_api *core = core_require(st);
    if (core == NULL)
        return NULL;
    /* The descriptor is consumed whatever happens: the core copies and
     * frees it, but only if gomem handed it over and nobody took it yet, so
     * adopting twice or a wrong address reads nothing. */
    pybuf_export d;
    char err[PYBUF_ERRLEN] = "";
    int32_t status = core->take_export(addr, &d, err);
    if (status != PYBUF_OK)
        return raise_for_status(st, status, err);
    d.format[PYBUF_FORMATLEN - 1] = '\0';
    d.name[PYBUF_NAMELEN - 1] = '\0';

    PyObject *own_name = name;
    if (name == Py_None && d.name[0] != '\0')
        own_name = PyUnicode_FromString(d.name);
    else
        Py_INCREF(own_name);
    OwnerObject *o = own_name ? owner_new_internal(st, own_name) : NULL;
    Py_XDECREF(own_name);
    PyObject *b = NULL, *format = NULL;
    pybuf_layout l;
    memset(&l, 0, sizeof l);
    l.address = d.address;
    l.format = d.format;
    l.ndim = d.ndim;
    l.has_strides = d.has_strides != 0;
    l.nstrides = l.has_strides ? d.ndim : 0;
    if (o != NULL && (d.ndim < 0 || d.ndim > PYBUF_MAXDIM)) {
        PyErr_Format(PyExc_ValueError, "descriptor: ndim %d is out of range", (int)d.ndim);
    } else if (o != NULL) {
        memcpy(l.shape, d.shape, sizeof l.shape);
        memcpy(l.strides, d.strides, sizeof l.strides);
        if (layout_finish(st, &l) == 0 && owner_register(o) == 0 &&
            (format = PyUnicode_FromString(d.format)) != NULL) {
            if (d.release != NULL)
                owner_configure_cfunc(o, d.release, d.release_arg);
            b = (PyObject *)buffer_new(o, &l, format, d.readonly);
        }
    }
    Py_XDECREF(format);
    if (b == NULL) {
        if (o != NULL) {
            /* a failed adopt still consumes the descriptor's release */
            owner_disarm(o);
            Py_DECREF(o);
        }
        if (d.release != NULL) {
            PyObject *exc = shim_err_take();
            Py_BEGIN_ALLOW_THREADS
            d.release(d.release_arg);
            Py_END_ALLOW_THREADS
            shim_err_restore(exc);
        }
        return NULL;
    }
    Py_DECREF(o);
    return b;
}

/* _shm_open(owner, name, size, mode, create, readonly) -> (name, address, size):
 * maps a segment and makes `owner` (a fresh Segment) answer for the mapping. */
PyObject *shm_open_owner(PyObject *module, PyObject *args)
{
    module_state *st = PyModule_GetState(module);
    OwnerObject *o;
    PyObject *name;
    unsigned long long size;
    unsigned int mode;
    int create, readonly;
    if (!PyArg_ParseTuple(args, "O!OKIpp:_shm_open", st->owner_type, &o, &name, &size, &mode,
                          &create, &readonly))
        return NULL;
    if (o->core_id != 0 || o->rel.kind != RELEASE_NONE) {
        PyErr_SetString(PyExc_TypeError, "_shm_open: the owner is already in use");
        return NULL;
    }
    const char *cname = NULL;
    if (name != Py_None && (cname = PyUnicode_AsUTF8(name)) == NULL)
        return NULL;
    const core_api *core = core_require(st);
    if (core == NULL)
        return NULL;
    pybuf_mapping m;
    memset(&m, 0, sizeof m);
    char err[PYBUF_ERRLEN] = "";
    int32_t status = create ? core->shm_create(cname, size, mode, &m, err)
                            : core->shm_attach(cname, readonly, &m, err);
    if (status != PYBUF_OK)
        return raise_for_status(st, status, err);
    m.name[PYBUF_NAMELEN - 1] = '\0';
    o->rel.kind = RELEASE_MUNMAP;
    o->rel.block = (void *)(uintptr_t)m.address;
    o->rel.nbytes = (int64_t)m.size;
    o->fixed_nbytes = (int64_t)m.size;
    if (o->name == Py_None) {
        PyObject *used = PyUnicode_FromString(m.name);
        if (used == NULL) {
            owner_disarm(o);
            return NULL;
        }
        if (o->name == Py_None)
            Py_SETREF(o->name, Py_NewRef(used));
        Py_DECREF(used);
    }
    if (owner_register(o) < 0) {
        owner_disarm(o);
        return NULL;
    }
    return Py_BuildValue("(sKK)", m.name, (unsigned long long)m.address,
                         (unsigned long long)m.size);
}

PyObject *shm_unlink_name(PyObject *module, PyObject *arg)
{
    module_state *st = PyModule_GetState(module);
    const char *cname = PyUnicode_AsUTF8(arg);
    if (cname == NULL)
        return NULL;
    const core_api *core = core_require(st);
    if (core == NULL)
        return NULL;
    char err[PYBUF_ERRLEN] = "";
    int32_t status = core->shm_unlink(cname, err);
    if (status != PYBUF_OK)
        return raise_for_status(st, status, err);
    Py_RETURN_NONE;
}
