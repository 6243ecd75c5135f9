/*
 * module.c: the extension module pybuf._pybuf.
 *
 * Importing it loads no Go and starts no thread (core_loader.c loads the Go
 * core at first need). Module state is global: the Go core is per process,
 * and so is everything that points into it.
 */
#include "shim.h"

#include <string.h>

PyObject *PybufForkError;
PyObject *PybufNotFoundError;
PyTypeObject *OwnerType;
PyTypeObject *BufferType;


static PyObject *hooks; /* name -> callable, from python/pybuf/_convert.py */

PyObject *hook_call(const char *name, PyObject *arg)
{
    PyObject *fn = hooks ? PyDict_GetItemString(hooks, name) : NULL;
    if (fn == NULL) {
        PyErr_Format(PyExc_RuntimeError, "pybuf: hook %s is not installed "
                     "(import pybuf, not pybuf._pybuf)", name);
        return NULL;
    }
    return PyObject_CallOneArg(fn, arg);
}

static PyObject *set_hooks(PyObject *m, PyObject *args)
{
    (void)m;
    PyObject *dict, *dir;
    if (!PyArg_ParseTuple(args, "O!U", &PyDict_Type, &dict, &dir))
        return NULL;
    Py_XSETREF(hooks, Py_NewRef(dict));
    Py_XSETREF(package_dir, Py_NewRef(dir));
    Py_RETURN_NONE;
}

static PyObject *alloc(PyObject *m, PyObject *args, PyObject *kwds)
{
    (void)m;
    static char *kwlist[] = {"shape", "dtype", "name", NULL};
    PyObject *shape, *dtype = NULL, *name = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O$O:alloc", kwlist, &shape, &dtype, &name))
        return NULL;
    pending_run_mine(0);
    OwnerObject *o = owner_new_internal(name);
    if (o == NULL)
        return NULL;
    pybuf_layout l;
    memset(&l, 0, sizeof l);
    l.address = 64; /* stands for the aligned block until it exists */
    PyObject *format = NULL;
    int r = layout_from_args(&l, shape, dtype, Py_None, &format);
    if (r < 0) {
        Py_DECREF(o);
        return NULL;
    }
    if (l.nbytes > PY_SSIZE_T_MAX - 64) {
        PyErr_SetString(PyExc_OverflowError, "shape: the allocation is too large");
        goto fail;
    }
    /* The raw domain is traced by tracemalloc and may be freed without the GIL. */
    void *block = PyMem_RawCalloc(1, (size_t)l.nbytes + 64);
    if (block == NULL) {
        PyErr_Format(PyExc_MemoryError, "shape: cannot allocate %lld bytes", (long long)l.nbytes);
        goto fail;
    }
    o->rel.kind = RELEASE_ALIGNED;
    o->rel.block = block;
    o->fixed_nbytes = l.nbytes;
    l.address = ((uint64_t)(uintptr_t)block + 63) & ~(uint64_t)63;
    if (owner_register(o) < 0) {
        owner_disarm(o);
        goto fail;
    }
    PyObject *b = (PyObject *)buffer_new(o, &l, format, 0);
    if (b == NULL)
        owner_disarm(o);
    Py_DECREF(format);
    Py_DECREF(o);
    return b;
fail:
    Py_DECREF(format);
    Py_DECREF(o);
    return NULL;
}

static PyObject *from_buffer(PyObject *m, PyObject *args, PyObject *kwds)
{
    (void)m;
    static char *kwlist[] = {"obj", "readonly", "name", NULL};
    PyObject *obj, *ro = Py_None, *name = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$OO:from_buffer", kwlist, &obj, &ro, &name))
        return NULL;
    pending_run_mine(0);
    int readonly = -1;
    if (ro != Py_None && (readonly = PyObject_IsTrue(ro)) < 0)
        return NULL;
    OwnerObject *o = owner_new_internal(name);
    if (o == NULL)
        return NULL;
    if (core_require() == NULL) {
        Py_DECREF(o);
        return NULL;
    }
    Py_buffer *view = PyMem_Calloc(1, sizeof *view);
    if (view == NULL) {
        Py_DECREF(o);
        return PyErr_NoMemory();
    }
    int flags = readonly == 0 ? PyBUF_RECORDS : PyBUF_RECORDS_RO;
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        PyMem_Free(view);
        Py_DECREF(o);
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "obj must support the buffer protocol, not %.100s",
                         Py_TYPE(obj)->tp_name);
        }
        return NULL;
    }
    o->rel.kind = RELEASE_PYBUFFER;
    o->rel.source = view;
    if (readonly < 0)
        readonly = view->readonly;
    pybuf_layout l;
    memset(&l, 0, sizeof l);
    l.address = (uint64_t)(uintptr_t)view->buf;
    l.format = view->format ? view->format : "B";
    l.ndim = view->ndim;
    for (int i = 0; i < view->ndim; i++)
        l.shape[i] = view->shape[i];
    if (view->strides != NULL) {
        l.has_strides = 1;
        l.nstrides = view->ndim;
        for (int i = 0; i < view->ndim; i++)
            l.strides[i] = view->strides[i];
    }
    PyObject *format = NULL;
    PyObject *b = NULL;
    if (layout_finish(&l) == 0 && owner_register(o) == 0 &&
        (format = PyUnicode_FromString(l.format)) != NULL)
        b = (PyObject *)buffer_new(o, &l, format, readonly);
    Py_XDECREF(format);
    if (b == NULL)
        owner_disarm(o);
    Py_DECREF(o);
    return b;
}

static PyObject *live_json(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    pending_run_mine(0);
    const core_api *core = core_require();
    if (core == NULL || registry_flush() < 0)
        return NULL;
    char *json = core->live_json();
    if (json == NULL)
        return PyErr_NoMemory();
    PyObject *s = PyUnicode_FromString(json);
    core->free(json);
    return s;
}

static PyObject *trace(PyObject *m, PyObject *args)
{
    (void)m;
    int on = 1;
    if (!PyArg_ParseTuple(args, "|p:trace", &on))
        return NULL;
    const core_api *core = core_require();
    if (core == NULL)
        return NULL;
    int was = trace_enabled;
    registry_flush(); /* owners made before are traced against from now on */
    trace_enabled = on;
    core->set_trace(on);
    return PyBool_FromLong(was);
}

static PyObject *gc_callback(PyObject *m, PyObject *args)
{
    (void)m;
    (void)args;
    release_gc_phase_changed();
    Py_RETURN_NONE;
}

static PyObject *run_pending(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    int64_t before = ATOMIC_LOAD(&pending_count);
    if (pending_run_mine(1) < 0)
        return NULL;
    return PyLong_FromLongLong(before - ATOMIC_LOAD(&pending_count));
}

static PyObject *load_core(PyObject *m, PyObject *path)
{
    (void)m;
    return core_set_path(path);
}

static PyObject *core_info(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    PyObject *info = Py_BuildValue("{s:O,s:s,s:O,s:K}", "loaded",
                                   core_is_loaded() ? Py_True : Py_False, "version",
                                   core_version(), "forked_after_load",
                                   core_forked_after_load() ? Py_True : Py_False,
                                   "fork_generation", (unsigned long long)fork_generation());
    PyObject *uses = PyLong_FromUnsignedLongLong(core_use_count());
    PyObject *hits = PyLong_FromUnsignedLongLong(layout_cache_hits());
    if (info == NULL || uses == NULL || hits == NULL ||
        PyDict_SetItemString(info, "uses", uses) < 0 ||
        PyDict_SetItemString(info, "layout_cache_hits", hits) < 0)
        Py_CLEAR(info);
    Py_XDECREF(uses);
    Py_XDECREF(hits);
    return info;
}

/* After finalization: owners nobody deallocated were never released. */
static void report_leaks_at_exit(void)
{
    const char *env = getenv("PYBUF_REPORT_LEAKS");
    const core_api *core = core_if_usable();
    if (core != NULL && env != NULL && strcmp(env, "1") == 0 && registry_flush() == 0)
        core->report_leaks(2);
}

static PyMethodDef module_methods[] = {
    {"wrap", (PyCFunction)(void (*)(void))owner_wrap, METH_VARARGS | METH_KEYWORDS,
     "wrap(address, shape, dtype='B', *, release=None, arg=None, strides=None, "
     "readonly=False, name=None, release_thread=None)\n--\n\nAn Owner with one Buffer."},
    {"alloc", (PyCFunction)(void (*)(void))alloc, METH_VARARGS | METH_KEYWORDS,
     "alloc(shape, dtype='B', *, name=None)\n--\n\n"
     "Zero-filled, 64-byte aligned memory owned by pybuf, freed after the last view."},
    {"from_buffer", (PyCFunction)(void (*)(void))from_buffer, METH_VARARGS | METH_KEYWORDS,
     "from_buffer(obj, *, readonly=None, name=None)\n--\n\n"
     "A Buffer over obj's export, released when the owner's release runs."},
    {"adopt", (PyCFunction)(void (*)(void))adopt, METH_VARARGS | METH_KEYWORDS,
     "adopt(descriptor, *, name=None)\n--\n\n"
     "An Owner with one Buffer from a pybuf_export descriptor (pybuf_core.h) made by\n"
     "a Go extension. The descriptor is consumed; if adopt raises, its release has run."},
    {"_shm_open", shm_open_owner, METH_VARARGS, NULL},
    {"_shm_unlink", shm_unlink_name, METH_O, NULL},
    {"_live_json", live_json, METH_NOARGS, NULL},
    {"run_pending", run_pending, METH_NOARGS,
     "run_pending()\n--\n\nRuns the releases queued for this thread (owners made with\n"
     "release_thread=\"creator\"); returns how many ran."},
    {"trace", trace, METH_VARARGS,
     "trace(on=True)\n--\n\nRecord where owners, buffers and exports are created."},
    {"load_core", load_core, METH_O,
     "load_core(path)\n--\n\nUse the Go library at `path` as pybuf's core (before first use)."},
    {"_core_info", core_info, METH_NOARGS, NULL},
    {"_go_module", go_module_functions, METH_VARARGS, NULL},
    {"_core_abi", go_core_abi, METH_NOARGS, NULL},
    {"_set_hooks", set_hooks, METH_VARARGS, NULL},
    {"_gc_callback", gc_callback, METH_VARARGS, NULL},
    {NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "pybuf._pybuf",
    "The C part of pybuf: Owner and Buffer types and the Go core loader.", -1,
    module_methods};

PyMODINIT_FUNC PyInit__pybuf(void)
{
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    PybufForkError = PyErr_NewExceptionWithDoc(
        "pybuf.ForkError",
        "Raised in a process forked after pybuf's Go core was loaded, for "
        "anything that needs Go. Use the 'spawn' or 'forkserver' start method.",
        PyExc_RuntimeError, NULL);
    if (PybufForkError == NULL || PyModule_AddObjectRef(m, "ForkError", PybufForkError) < 0)
        goto fail;
    /* A FileNotFoundError, as for SharedMemory, that is also the ValueError
     * of the other bad-name errors. */
    PyObject *bases = PyTuple_Pack(2, PyExc_FileNotFoundError, PyExc_ValueError);
    PybufNotFoundError = bases ? PyErr_NewExceptionWithDoc(
        "pybuf.shm.SegmentNotFoundError",
        "No shared-memory segment has that name (a FileNotFoundError and a ValueError).",
        bases, NULL) : NULL;
    Py_XDECREF(bases);
    if (PybufNotFoundError == NULL ||
        PyModule_AddObjectRef(m, "SegmentNotFoundError", PybufNotFoundError) < 0)
        goto fail;
    OwnerType = owner_type_init(m);
    if (OwnerType == NULL || PyModule_AddObjectRef(m, "Owner", (PyObject *)OwnerType) < 0)
        goto fail;
    BufferType = buffer_type_init(m);
    if (BufferType == NULL || PyModule_AddObjectRef(m, "Buffer", (PyObject *)BufferType) < 0)
        goto fail;
    if (core_loader_init(m) < 0 || Py_AtExit(report_leaks_at_exit) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
