/*
 * shm_segment.c: owners over shared-memory mappings (pybuf.shm).
 *
 * Mapping and unlinking run in Go (pybuf/shm); the mapping is given back with
 * munmap at release, in C, so it also happens where Go cannot run. Names and
 * formats go to Go as pointer and length: Go's rules see every byte, a NUL
 * inside included, instead of what a C string would cut them down to.
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "shim.h"

#include <string.h>

/* _shm_open(owner, name, size, mode, create, readonly, allow_foreign) ->
 * (name, address, size): maps a segment and makes `owner` (a fresh Segment)
 * answer for the mapping. */
PyObject *shm_open_owner(PyObject *module, PyObject *args)
{
    module_state *st = PyModule_GetState(module);
    OwnerObject *o;
    PyObject *name;
    unsigned long long size;
    unsigned int mode;
    int create, readonly, allow_foreign;
    if (!PyArg_ParseTuple(args, "O!OKIppp:_shm_open", st->owner_type, &o, &name, &size, &mode,
                          &create, &readonly, &allow_foreign))
        return NULL;
    pending_run_mine(0);
    const core_api *core = core_require(st);
    if (core == NULL)
        return NULL;
    /* After the last call into Python before the mapping (the queued
     * releases, the core's loader): the owner is still unused. owner_commit
     * checks it once more. */
    if (owner_core_id(o) != 0 || o->rel.kind != RELEASE_NONE || ATOMIC_LOAD(&o->counts.state) != 0) {
        PyErr_SetString(PyExc_TypeError, "_shm_open: the owner is already in use");
        return NULL;
    }
    const char *cname = NULL;
    Py_ssize_t namelen = 0;
    if (name != Py_None && (cname = PyUnicode_AsUTF8AndSize(name, &namelen)) == NULL)
        return NULL;
    int32_t flags = (readonly ? PYBUF_SHM_READONLY : 0) | (allow_foreign ? PYBUF_SHM_ALLOW_FOREIGN : 0);
    pybuf_mapping m;
    memset(&m, 0, sizeof m);
    char err[PYBUF_ERRLEN] = "";
    int32_t status = create ? core->shm_create(cname, namelen, size, mode, &m, err)
                            : core->shm_attach(cname, namelen, flags, &m, err);
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
        Py_SETREF(o->name, used);
    }
    PyObject *committed = owner_commit(o, NULL, NULL, 0);
    if (committed == NULL)
        return NULL;
    Py_DECREF(committed);
    return Py_BuildValue("(sKK)", m.name, (unsigned long long)m.address,
                         (unsigned long long)m.size);
}

PyObject *shm_unlink_name(PyObject *module, PyObject *arg)
{
    module_state *st = PyModule_GetState(module);
    const core_api *core = core_require(st);
    if (core == NULL)
        return NULL;
    Py_ssize_t namelen;
    const char *cname = PyUnicode_AsUTF8AndSize(arg, &namelen);
    if (cname == NULL)
        return NULL;
    char err[PYBUF_ERRLEN] = "";
    int32_t status = core->shm_unlink(cname, namelen, err);
    if (status != PYBUF_OK)
        return raise_for_status(st, status, err);
    Py_RETURN_NONE;
}

/* _check_stream_format(format): None, or the error Go's
 * layout.CheckStreamFormat gives a format that arrived from a stream. */
PyObject *check_stream_format(PyObject *module, PyObject *arg)
{
    module_state *st = PyModule_GetState(module);
    if (!PyUnicode_Check(arg))
        return PyErr_Format(PyExc_TypeError, "format must be a str, not %.100s",
                            Py_TYPE(arg)->tp_name);
    const core_api *core = core_require(st);
    if (core == NULL)
        return NULL;
    Py_ssize_t len;
    const char *format = PyUnicode_AsUTF8AndSize(arg, &len);
    if (format == NULL)
        return NULL;
    char err[PYBUF_ERRLEN] = "";
    int32_t status = core->check_stream_format(format, len, err);
    if (status != PYBUF_OK)
        return raise_for_status(st, status, err);
    Py_RETURN_NONE;
}
