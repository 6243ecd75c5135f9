/*
 * construct.c: the one way an owner is made.
 *
 * Every constructor (Owner(), wrap, alloc, from_buffer, adopt, the shared
 * memory Segment) goes through the same three steps, in this order, as
 * CPython's memoryobject.c makes every view through mbuf_add_view:
 *
 *   owner_begin    a fresh owner (name checked, Go core usable: no owner
 *                  where Go cannot run); it owns nothing and is not
 *                  registered, so dropping it does nothing;
 *   (the caller)   takes its memory: sets owner->rel (a release, an export,
 *                  an allocation, a mapping) and computes the layout,
 *                  which may run Python code (the dtype hook);
 *   owner_commit   registers the owner and makes its first Buffer.
 *
 * Every constructor ends in owner_end (an owner that Python allocated, in
 * owner_disarm on failure): what pybuf itself took goes back, the
 * caller's release never runs (ownership was never taken), and the owner is
 * RELEASED without ever having been seen.
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before a
 * call into Python is used after it, and every step above may run Python code
 * (a hook, an __index__, a thread's name while tracing). An owner
 * from owner_begin is not tracked by the collector until owner_commit, so no
 * such code can reach it (gc.get_objects() included); an owner Python made
 * itself (Owner(), a Segment) is checked again after the last call into
 * Python, in owner_commit.
 *
 * Every entry point starts with entry_parse (convert.c): its arguments, then
 * the releases queued for this thread.
 */
#include "shim.h"

#include <string.h>

static int check_name(PyObject *name)
{
    if (name != Py_None && !PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "name must be a str or None, not %.100s",
                     Py_TYPE(name)->tp_name);
        return -1;
    }
    return 0;
}

/* The only allocation of an owner: of `type` (Owner or a subclass) whose
 * module's state is st. */
static OwnerObject *owner_alloc(PyTypeObject *type, PyObject *module, module_state *st)
{
    OwnerObject *o = (OwnerObject *)type->tp_alloc(type, 0);
    if (o == NULL)
        return NULL;
    o->module = Py_NewRef(module);
    o->st = st;
    o->interp = st->interp;
    o->fixed_nbytes = -1;
    o->fork_generation = fork_generation();
    o->name = Py_NewRef(Py_None);
    return o;
}

/* tp_new of Owner and its subclasses. */
PyObject *owner_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    PyObject *module;
    module_state *st = state_of_type(type, &module);
    if (st == NULL)
        return NULL;
    owner_class_prepare(type);
    return (PyObject *)owner_alloc(type, module, st);
}

OwnerObject *owner_begin(module_state *st, PyObject *name)
{
    if (name == NULL)
        name = Py_None;
    if (check_name(name) < 0)
        return NULL;
    if (st->owner_type == NULL) { /* module_clear ran: the module is being freed */
        PyErr_SetString(PyExc_RuntimeError, "pybuf: the module is being torn down");
        return NULL;
    }
    if (core_require(st) == NULL)
        return NULL;
    /* pybuf's own Owner type: its finalizer needs no wrapping */
    OwnerObject *o = owner_alloc(st->owner_type, st->module, st);
    if (o == NULL)
        return NULL;
    /* Out of the collector's sight until owner_commit: nothing the
     * constructor's Python calls run can find it and close or re-init it. */
    PyObject_GC_UnTrack(o);
    Py_SETREF(o->name, Py_NewRef(name));
    return o;
}

/* An owner fresh from tp_new that a Python subclass (or Segment) made: not
 * yet taken, not yet registered, holding nothing. */
static int owner_is_fresh(OwnerObject *o)
{
    return owner_core_id(o) == 0 && o->rel.kind == RELEASE_NONE && o->rel.thread == NULL &&
           o->rel.keepalive == NULL && o->parent == NULL && ATOMIC_LOAD(&o->counts.state) == 0;
}

/* Every caller has asked core_require already (owner_begin, or the owner's
 * own __init__ or _shm_open): no owner where Go cannot run (rule 7). */
static int owner_register(OwnerObject *o, char *site)
{
    if (o->name != Py_None && (o->name_utf8 = PyUnicode_AsUTF8(o->name)) == NULL) {
        free(site);
        return -1;
    }
    return registry_add(o, site);
}

PyObject *owner_commit(OwnerObject *o, const pybuf_layout *l, PyObject *format, int readonly)
{
    /* The creation site first: capturing it asks Python for the thread's
     * name. After it, no Python code runs until the owner is registered. */
    char *site = trace_on() ? site_capture() : NULL;
    if (owner_core_id(o) != 0 || (ATOMIC_LOAD(&o->counts.state) & (STATE_CLOSED | STATE_RELEASED))) {
        /* Python code reached this owner (one Python made) while it was
         * being made, and registered, closed or released it: it is that
         * code's now, not ours to finish or to disarm. */
        free(site);
        PyErr_SetString(PyExc_RuntimeError, "pybuf: the owner was initialized, closed or "
                        "released by other code while it was being made");
        return NULL;
    }
    if (owner_register(o, site) < 0) {
        owner_disarm(o);
        return NULL;
    }
    PyObject *result = l == NULL ? Py_NewRef(o) : (PyObject *)buffer_new(o, l, format, readonly);
    if (result == NULL) {
        if (!(ATOMIC_LOAD(&o->counts.state) & STATE_RELEASED))
            owner_disarm(o);
        return NULL;
    }
    if (!PyObject_GC_IsTracked((PyObject *)o)) /* made by owner_begin: done, now visible */
        PyObject_GC_Track(o);
    return result;
}

PyObject *owner_end(OwnerObject *o, PyObject *result)
{
    if (result == NULL && !(ATOMIC_LOAD(&o->counts.state) & STATE_RELEASED))
        owner_disarm(o); /* not ours to release: the constructor raised */
    Py_DECREF(o);
    return result;
}

/* The caller's release (release=, arg=, release_thread=) into `job`: all of
 * it, or nothing. May run Python code (hooks, __index__). */
static int release_job_from_args(module_state *st, PyObject *release, PyObject *arg,
                                 PyObject *thread, release_job *job)
{
    if (release_from_args(st, release ? release : Py_None, arg ? arg : Py_None, job) < 0)
        return -1;
    if (release_thread_from_arg(thread ? thread : Py_None, &job->thread) < 0) {
        release_job_forget(job);
        return -1;
    }
    return 0;
}

/* Takes the caller's release into an owner from owner_begin (that no Python
 * code can reach). */
static int owner_take_release(OwnerObject *o, PyObject *release, PyObject *arg, PyObject *thread)
{
    return release_job_from_args(o->st, release, arg, thread, &o->rel);
}

/* ---- Owner(release=None, *, arg=None, name=None, release_thread=None, parent=None) ---- */

static const char *const owner_init_names[] = {"release", "arg", "name", "release_thread",
                                               "parent"};
#define OWNER_INIT_NARGS 5
static const entry_params owner_init_params = {"Owner", owner_init_names, OWNER_INIT_NARGS, 1, 0};

static int init_called_twice(void)
{
    PyErr_SetString(PyExc_TypeError, "Owner.__init__() may be called only once");
    return -1;
}

/* `self` is reachable from Python code all along (it is a subclass's
 * `self`): the release is built aside and put in only after the last call
 * into Python, once `self` is seen to be fresh still. */
static int owner_init_held(OwnerObject *self, PyObject *const *a)
{
    if (!owner_is_fresh(self))
        return init_called_twice();
    PyObject *name = a[2] ? a[2] : Py_None;
    if (check_name(name) < 0 || core_require(self->st) == NULL)
        return -1;
    release_job job;
    memset(&job, 0, sizeof job);
    if (release_job_from_args(self->st, a[0], a[1], a[3], &job) < 0) {
        if (owner_is_fresh(self))
            owner_disarm(self);
        return -1;
    }
    /* The hooks' Python code may have initialized or closed it, or another
     * thread may be in __init__ of the same owner (free-threaded): the check
     * and the move go together. */
    int fresh;
    PyObject *old_name = NULL;
    OWNER_LOCK(self);
    fresh = owner_is_fresh(self);
    if (fresh) {
        self->rel = job;
        old_name = self->name;
        self->name = Py_NewRef(name);
    }
    OWNER_UNLOCK();
    if (!fresh) {
        release_job_forget(&job);
        return init_called_twice();
    }
    Py_XDECREF(old_name); /* a fresh owner's is None: no __del__ runs */
    /* After the last call into Python: the parent is seen open here, and
     * from now on it waits for this child's release. */
    if (a[4] != NULL && a[4] != Py_None && tree_adopt(self, a[4]) < 0) {
        /* the error's message formats the parent's name: Python code, which
         * may have reached and closed `self` meanwhile */
        if (!(ATOMIC_LOAD(&self->counts.state) & STATE_RELEASED))
            owner_disarm(self);
        return -1;
    }
    PyObject *r = owner_commit(self, NULL, NULL, 0);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

int owner_tp_init(OwnerObject *self, PyObject *args, PyObject *kwds)
{
    PyObject *a[OWNER_INIT_NARGS];
    if (entry_parse_tuple(&owner_init_params, args, kwds, a) < 0)
        return -1;
    /* Held: they are borrowed from `kwds`, a dict that Python code run
     * below (a hook, an __index__) may reach and empty. */
    for (int i = 0; i < OWNER_INIT_NARGS; i++)
        Py_XINCREF(a[i]);
    int r = owner_init_held(self, a);
    for (int i = 0; i < OWNER_INIT_NARGS; i++)
        Py_XDECREF(a[i]);
    return r;
}

/* ---- Owner.child(release=None, *, arg=None, name=None, release_thread=None) ---- */

static const char *const child_names[] = {"release", "arg", "name", "release_thread"};
static const entry_params child_params = {"child", child_names, 4, 1, 0};

/* A child of `self` (owner_tree.c), made the way wrap() makes an owner: no
 * keyword dict, no tp_new/tp_init pair (Owner(..., parent=) does the same for
 * a subclass). */
PyObject *owner_child_method(OwnerObject *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    PyObject *a[4];
    if (entry_parse(&child_params, args, nargs, kwnames, a) < 0)
        return NULL;
    OwnerObject *o = owner_begin(self->st, a[2]);
    if (o == NULL)
        return NULL;
    if (owner_take_release(o, a[0], a[1], a[3]) < 0)
        return owner_end(o, NULL);
    /* after the last call into Python: the parent is seen open here */
    if (tree_adopt(o, (PyObject *)self) < 0)
        return owner_end(o, NULL);
    return owner_end(o, owner_commit(o, NULL, NULL, 0));
}

/* ---- Owner.buffer(address, shape, dtype='B', *, strides=None, readonly=False) ---- */

/* A Buffer of an owner already made (wrap's, or Owner.buffer's). */
static PyObject *buffer_from_args(OwnerObject *self, PyObject *address, PyObject *shape,
                                  PyObject *dtype, PyObject *strides, int readonly,
                                  int committing)
{
    if (!committing && owner_check_open(self) < 0)
        return NULL;
    pybuf_layout l;
    layout_init(&l);
    if (address_from_object(self->st, address, "address", &l.address) < 0)
        return NULL;
    PyObject *format = NULL;
    if (layout_from_args(self->st, &l, shape, dtype, strides ? strides : Py_None, &format) < 0)
        return NULL;
    /* buffer_new checks the owner again: the hooks and __index__ above ran
     * Python code, which may have closed it since */
    PyObject *b = committing ? owner_commit(self, &l, format, readonly)
                             : (PyObject *)buffer_new(self, &l, format, readonly);
    Py_DECREF(format);
    return b;
}

static const char *const buffer_names[] = {"address", "shape", "dtype", "strides", "readonly"};
static const entry_params buffer_params = {"buffer", buffer_names, 5, 3, 2};

PyObject *owner_buffer_method(OwnerObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    PyObject *a[5];
    int readonly = 0;
    if (entry_parse(&buffer_params, args, nargs, kwnames, a) < 0 ||
        flag_from_object(a[4], &readonly) < 0)
        return NULL;
    return buffer_from_args(self, a[0], a[1], a[2], a[3], readonly, 0);
}

/* ---- wrap(address, shape, dtype='B', *, release=None, arg=None, strides=None,
 *          readonly=False, name=None, release_thread=None) ---- */

static const char *const wrap_names[] = {"address", "shape",    "dtype", "release",
                                         "arg",     "strides",  "readonly", "name",
                                         "release_thread"};
static const entry_params wrap_params = {"wrap", wrap_names, 9, 3, 2};

PyObject *wrap(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[9];
    int readonly = 0;
    if (entry_parse(&wrap_params, args, nargs, kwnames, a) < 0 ||
        flag_from_object(a[6], &readonly) < 0)
        return NULL;
    OwnerObject *o = owner_begin(PyModule_GetState(module), a[7]);
    if (o == NULL)
        return NULL;
    if (owner_take_release(o, a[3], a[4], a[8]) < 0)
        return owner_end(o, NULL);
    return owner_end(o, buffer_from_args(o, a[0], a[1], a[2], a[5], readonly, 1));
}

/* ---- alloc(shape, dtype='B', *, name=None) ---- */

static const char *const alloc_names[] = {"shape", "dtype", "name"};
static const entry_params alloc_params = {"alloc", alloc_names, 3, 2, 1};

PyObject *alloc(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[3];
    if (entry_parse(&alloc_params, args, nargs, kwnames, a) < 0)
        return NULL;
    module_state *st = PyModule_GetState(module);
    OwnerObject *o = owner_begin(st, a[2]);
    if (o == NULL)
        return NULL;
    pybuf_layout l;
    layout_init(&l);
    l.address = 64; /* stands for the aligned block until it exists */
    PyObject *format = NULL, *b = NULL;
    if (layout_from_args(st, &l, a[0], a[1], Py_None, &format) < 0)
        goto done;
    if (l.nbytes > PY_SSIZE_T_MAX - 64) {
        PyErr_SetString(PyExc_OverflowError, "shape: the allocation is too large");
        goto done;
    }
    /* The raw domain is traced by tracemalloc and may be freed without the GIL. */
    void *block = PyMem_RawCalloc(1, (size_t)l.nbytes + 64);
    if (block == NULL) {
        PyErr_Format(PyExc_MemoryError, "shape: cannot allocate %lld bytes", (long long)l.nbytes);
        goto done;
    }
    o->rel.kind = RELEASE_ALIGNED;
    o->rel.block = block;
    o->fixed_nbytes = l.nbytes;
    l.address = ((uint64_t)(uintptr_t)block + 63) & ~(uint64_t)63;
    b = owner_commit(o, &l, format, 0);
done:
    Py_XDECREF(format);
    return owner_end(o, b);
}

/* ---- from_buffer(obj, *, readonly=None, name=None) ---- */

static const char *const from_buffer_names[] = {"obj", "readonly", "name"};
static const entry_params from_buffer_params = {"from_buffer", from_buffer_names, 3, 1, 1};

PyObject *from_buffer(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                      PyObject *kwnames)
{
    PyObject *a[3];
    if (entry_parse(&from_buffer_params, args, nargs, kwnames, a) < 0)
        return NULL;
    PyObject *obj = a[0];
    int readonly = -1;
    if (a[1] != NULL && a[1] != Py_None && (readonly = PyObject_IsTrue(a[1])) < 0)
        return NULL;
    module_state *st = PyModule_GetState(module);
    OwnerObject *o = owner_begin(st, a[2]);
    if (o == NULL)
        return NULL;
    Py_buffer *view = PyMem_Calloc(1, sizeof *view);
    if (view == NULL)
        return owner_end(o, PyErr_NoMemory());
    int flags = readonly == 0 ? PyBUF_RECORDS : PyBUF_RECORDS_RO;
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        PyMem_Free(view);
        owner_end(o, NULL);
        if (PyErr_ExceptionMatches(PyExc_TypeError) && !PyObject_CheckBuffer(obj)) {
            /* no exporter at all; an exporter's own TypeError passes through */
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
    layout_init(&l);
    l.address = (uint64_t)(uintptr_t)view->buf;
    l.format = view->format ? view->format : "B";
    l.ndim = view->ndim;
    for (int i = 0; i < view->ndim && i < PYBUF_MAXDIM; i++)
        l.shape[i] = view->shape[i];
    if (view->strides != NULL) {
        l.has_strides = 1;
        l.nstrides = view->ndim;
        for (int i = 0; i < view->ndim && i < PYBUF_MAXDIM; i++)
            l.strides[i] = view->strides[i];
    }
    PyObject *format = NULL, *b = NULL;
    if (layout_finish(st, &l) == 0 && (format = PyUnicode_FromString(l.format)) != NULL)
        b = owner_commit(o, &l, format, readonly);
    Py_XDECREF(format);
    return owner_end(o, b);
}
