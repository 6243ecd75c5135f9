/*
 * module.c: the extension module pybuf._pybuf.
 *
 * Importing it loads no Go and starts no thread (core_loader.c loads the Go
 * core at first need). Multi-phase init (PEP 489): every interpreter that
 * imports it gets its own module, types, exceptions and hooks (module_state);
 * what is per process (the Go core, the registry and its queue, fork
 * state) lives in the other files, behind locks or atomics, because own-GIL
 * interpreters run in parallel (docs/INTERPRETERS.md).
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "shim.h"

#include <pthread.h>
#include <string.h>

static module_state *state_of(PyObject *m) { return (module_state *)PyModule_GetState(m); }

module_state *state_of_type(PyTypeObject *type, PyObject **module_out)
{
    PyObject *m = PyType_GetModuleByDef(type, &pybuf_module_def);
    if (m == NULL)
        return NULL;
    if (module_out != NULL)
        *module_out = m; /* borrowed */
    return state_of(m);
}

int64_t current_interp(void) { return PyInterpreterState_GetID(PyInterpreterState_Get()); }

PyObject *state_get(module_state *st, PyObject **slot)
{
    SHIM_LOCK(&st->lock);
    PyObject *v = Py_XNewRef(*slot);
    SHIM_UNLOCK(&st->lock);
    return v;
}

PyObject *state_lazy_dict(module_state *st, PyObject **slot)
{
    PyObject *d = state_get(st, slot);
    if (d != NULL)
        return d;
    PyObject *made = PyDict_New();
    if (made == NULL)
        return NULL;
    SHIM_LOCK(&st->lock);
    if (*slot == NULL)
        *slot = Py_NewRef(made);
    d = Py_NewRef(*slot); /* another thread's, if it came first */
    SHIM_UNLOCK(&st->lock);
    Py_DECREF(made);
    return d;
}

/* The hook `name`, a new reference; NULL, no exception, when not installed.
 * held: the call is Python code, which may replace the hooks dict, and a
 * free-threaded build may do so from another thread at any moment. */
static PyObject *hook_get(module_state *st, const char *name)
{
    PyObject *hooks = state_get(st, &st->hooks);
    if (hooks == NULL)
        return NULL;
    PyObject *fn;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyDict_GetItemStringRef(hooks, name, &fn) < 0)
        PyErr_Clear();
#else
    fn = Py_XNewRef(PyDict_GetItemString(hooks, name));
#endif
    Py_DECREF(hooks);
    return fn;
}

PyObject *hook_call(module_state *st, const char *name, PyObject *arg)
{
    PyObject *fn = hook_get(st, name);
    if (fn == NULL) {
        PyErr_Format(PyExc_RuntimeError, "pybuf: hook %s is not installed "
                     "(import pybuf, not pybuf._pybuf)", name);
        return NULL;
    }
    PyObject *r = PyObject_CallOneArg(fn, arg);
    Py_DECREF(fn);
    return r;
}

static PyObject *set_hooks(PyObject *m, PyObject *args)
{
    PyObject *dict, *dir;
    if (!PyArg_ParseTuple(args, "O!U", &PyDict_Type, &dict, &dir))
        return NULL;
    if (site_set_package_dir(dir) < 0)
        return NULL;
    module_state *st = state_of(m);
    SHIM_LOCK(&st->lock);
    PyObject *old = st->hooks;
    st->hooks = Py_NewRef(dict);
    SHIM_UNLOCK(&st->lock);
    Py_XDECREF(old); /* after the lock: a decref may run Python code */
    Py_RETURN_NONE;
}

/* The registered owners of the calling interpreter, as JSON. */
static PyObject *live_json(PyObject *m, PyObject *unused)
{
    (void)unused;
    pending_run_mine(0);
    const core_api *core = core_require(state_of(m));
    if (core == NULL || registry_flush() < 0)
        return NULL;
    char *json = core->live_json(current_interp());
    if (json == NULL)
        return PyErr_NoMemory();
    PyObject *s = PyUnicode_FromString(json);
    core->free(json);
    return s;
}

static PyObject *trace(PyObject *m, PyObject *args)
{
    int on = 1;
    if (!PyArg_ParseTuple(args, "|p:trace", &on))
        return NULL;
    pending_run_mine(0);
    const core_api *core = core_require(state_of(m));
    if (core == NULL)
        return NULL;
    return PyBool_FromLong(trace_switch(core, on));
}

static PyObject *gc_callback(PyObject *m, PyObject *args)
{
    PyObject *phase, *info;
    if (!PyArg_ParseTuple(args, "OO", &phase, &info))
        return NULL;
    collector_phase_changed(m, phase);
    Py_RETURN_NONE;
}

/* atexit: the garbage of the run is released the ordinary way; from here on
 * the interpreter tears itself down (collector.c). */
static PyObject *interpreter_ending(PyObject *m, PyObject *unused)
{
    (void)unused;
    module_state *st = PyModule_GetState(m);
    if (st != NULL) {
        collector_collect_at_exit(st);
        st->ending = 1;
    }
    Py_RETURN_NONE;
}

static PyObject *run_pending(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    /* counted as they run: the releases are Python code, which may queue
     * others, and other threads queue theirs meanwhile */
    int64_t ran = pending_run_mine(1);
    return ran < 0 ? NULL : PyLong_FromLongLong(ran);
}

static PyObject *load_core(PyObject *m, PyObject *path)
{
    return core_set_path(state_of(m), path);
}

static PyObject *core_info(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    PyObject *info = Py_BuildValue("{s:O,s:s,s:O,s:K,s:O}", "loaded",
                                   core_is_loaded() ? Py_True : Py_False, "version",
                                   core_version(), "forked_after_load",
                                   core_forked_after_load() ? Py_True : Py_False,
                                   "fork_generation", (unsigned long long)fork_generation(),
                                   "asserts", SHIM_ASSERTS ? Py_True : Py_False);
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
    {"wrap", (PyCFunction)(void (*)(void))wrap, METH_FASTCALL | METH_KEYWORDS,
     "wrap(address, shape, dtype='B', *, release=None, arg=None, strides=None, "
     "readonly=False, name=None, release_thread=None)\n--\n\nAn Owner with one Buffer."},
    {"alloc", (PyCFunction)(void (*)(void))alloc, METH_FASTCALL | METH_KEYWORDS,
     "alloc(shape, dtype='B', *, name=None)\n--\n\n"
     "Zero-filled, 64-byte aligned memory owned by pybuf, freed after the last view."},
    {"from_buffer", (PyCFunction)(void (*)(void))from_buffer, METH_FASTCALL | METH_KEYWORDS,
     "from_buffer(obj, *, readonly=None, name=None)\n--\n\n"
     "A Buffer over obj's export, released when the owner's release runs."},
    {"adopt", (PyCFunction)(void (*)(void))adopt, METH_FASTCALL | METH_KEYWORDS,
     "adopt(descriptor, *, name=None)\n--\n\n"
     "An Owner with one Buffer from a pybuf_export descriptor (pybuf_core.h) made by\n"
     "a Go extension. The descriptor is consumed; if adopt raises, its release has run."},
    {"_shm_open", shm_open_owner, METH_VARARGS, NULL},
    {"_shm_unlink", shm_unlink_name, METH_O, NULL},
    {"_check_stream_format", check_stream_format, METH_O, NULL},
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
    {"_interpreter_ending", interpreter_ending, METH_NOARGS, NULL},
    {NULL}};

static int module_traverse(PyObject *m, visitproc visit, void *arg)
{
    module_state *st = state_of(m);
    if (st == NULL)
        return 0;
    Py_VISIT(st->owner_type);
    Py_VISIT(st->buffer_type);
    Py_VISIT(st->gofunc_type);
    Py_VISIT(st->fork_error);
    Py_VISIT(st->not_found_error);
    Py_VISIT(st->hooks);
    Py_VISIT(st->cfuncptr_type);
    Py_VISIT(st->dtype_specs);
    Py_VISIT(st->cffi_checked);
    Py_VISIT(st->cffi_functions);
    Py_VISIT(st->dtype_last);
    Py_VISIT(st->dtype_last_spec);
    Py_VISIT(st->bytes_format);
    Py_VISIT(st->dlpack_kwnames_seen);
    Py_VISIT(st->gc_armed);
    Py_VISIT(st->gc_watched);
    Py_VISIT(st->gc_tick);
    return 0;
}

/* Owners hold their module, so this runs only once the last owner made from
 * this module is gone (or in the collection that frees them all together). */
static int module_clear(PyObject *m)
{
    module_state *st = state_of(m);
    if (st == NULL)
        return 0;
    Py_CLEAR(st->owner_type);
    Py_CLEAR(st->buffer_type);
    Py_CLEAR(st->gofunc_type);
    Py_CLEAR(st->fork_error);
    Py_CLEAR(st->not_found_error);
    Py_CLEAR(st->hooks);
    Py_CLEAR(st->cfuncptr_type);
    Py_CLEAR(st->dtype_specs);
    Py_CLEAR(st->cffi_checked);
    Py_CLEAR(st->cffi_functions);
    Py_CLEAR(st->dtype_last);
    Py_CLEAR(st->dtype_last_spec);
    Py_CLEAR(st->bytes_format);
    Py_CLEAR(st->dlpack_kwnames_seen);
    Py_CLEAR(st->gc_tick);
    Py_CLEAR(st->gc_watched);
    Py_CLEAR(st->gc_armed); /* owners whose last reference this was release here */
    return 0;
}

/* Once the module is deallocated: no owner of it is left to use the cache. */
static void module_free(void *m)
{
    module_clear((PyObject *)m);
    module_state *st = state_of((PyObject *)m);
    if (st != NULL) {
        layout_cache_free(st->layouts);
        st->layouts = NULL;
    }
}

static int add_exceptions(PyObject *m, module_state *st)
{
    st->fork_error = PyErr_NewExceptionWithDoc(
        "pybuf.ForkError",
        "Raised in a process forked after pybuf's Go core was loaded, for "
        "anything that needs Go. Use the 'spawn' or 'forkserver' start method.",
        PyExc_RuntimeError, NULL);
    if (st->fork_error == NULL || PyModule_AddObjectRef(m, "ForkError", st->fork_error) < 0)
        return -1;
    /* A FileNotFoundError, as for SharedMemory, that is also the ValueError
     * of the other bad-name errors. */
    PyObject *bases = PyTuple_Pack(2, PyExc_FileNotFoundError, PyExc_ValueError);
    st->not_found_error = bases ? PyErr_NewExceptionWithDoc(
        "pybuf.shm.SegmentNotFoundError",
        "No shared-memory segment has that name (a FileNotFoundError and a ValueError).",
        bases, NULL) : NULL;
    Py_XDECREF(bases);
    if (st->not_found_error == NULL ||
        PyModule_AddObjectRef(m, "SegmentNotFoundError", st->not_found_error) < 0)
        return -1;
    return 0;
}

static int intern_constants(module_state *st)
{
    if ((st->bytes_format = PyUnicode_InternFromString("B")) == NULL)
        return -1;
    return 0;
}

static pthread_once_t leak_report_once = PTHREAD_ONCE_INIT;
static int leak_report_status;
static void register_leak_report(void) { leak_report_status = Py_AtExit(report_leaks_at_exit); }

/* Runs once per module object: in every interpreter that imports it. */
static int module_exec(PyObject *m)
{
    module_state *st = state_of(m);
    st->interp = current_interp();
    st->module = m; /* borrowed: the state lives inside it */
    if ((st->layouts = layout_cache_new()) == NULL)
        return -1;
    if (add_exceptions(m, st) < 0 || intern_constants(st) < 0)
        return -1;
    st->owner_type = owner_type_init(m);
    if (st->owner_type == NULL || PyModule_AddObjectRef(m, "Owner", (PyObject *)st->owner_type) < 0)
        return -1;
    st->buffer_type = buffer_type_init(m);
    if (st->buffer_type == NULL ||
        PyModule_AddObjectRef(m, "Buffer", (PyObject *)st->buffer_type) < 0)
        return -1;
    if ((st->gofunc_type = gofunc_type_init(m)) == NULL)
        return -1;
    if (core_loader_init(m) < 0 || interp_end_watch(st) < 0)
        return -1;
    pthread_once(&leak_report_once, register_leak_report);
    if (leak_report_status < 0) {
        PyErr_SetString(PyExc_ImportError, "pybuf: Py_AtExit failed");
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#if PY_VERSION_HEX >= 0x030C0000
    /* Own-GIL interpreters too: process-wide state is locked or atomic, and
     * everything else is per interpreter (docs/INTERPRETERS.md). */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    /* Free-threaded builds (3.13t) keep the GIL off when pybuf is imported:
     * what the GIL serialized is locked instead (shim.h, OWNER_LOCK and
     * shim_mutex; the table in docs/ARCHITECTURE.md). Ignored with a GIL. */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL}};

PyModuleDef pybuf_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pybuf._pybuf",
    .m_doc = "The C part of pybuf: Owner and Buffer types and the Go core loader.",
    .m_size = sizeof(module_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__pybuf(void) { return PyModuleDef_Init(&pybuf_module_def); }
