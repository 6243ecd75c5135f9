/*
 * shm_segment.c: owners over shared-memory mappings (pybuf.shm).
 *
 * Mapping and unlinking run in Go (pybuf/shm); the mapping is given back with
 * munmap at release, in C, so it also happens where Go cannot run.
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before a call into Python is used after it.
 */
#include "shim.h"

#include <string.h>

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
    pending_run_mine(0);
    const char *cname = NULL;
    if (name != Py_None && (cname = PyUnicode_AsUTF8(name)) == NULL)
        return NULL;
    const core_api *core = core_require(st);
    if (core == NULL)
        return NULL;
    /* After the last call into Python before the mapping (the queued
     * releases, the core's loader): the owner is still unused. owner_commit
     * checks it once more. */
    if (o->core_id != 0 || o->rel.kind != RELEASE_NONE || ATOMIC_LOAD(&o->counts.state) != 0) {
        PyErr_SetString(PyExc_TypeError, "_shm_open: the owner is already in use");
        return NULL;
    }
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
