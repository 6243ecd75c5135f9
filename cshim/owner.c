/*
 * owner.c: pybuf.Owner, one handle on memory somebody else owns.
 *
 * An Owner is referenced by each of its Buffers, and each export holds its
 * Buffer, so the Owner outlives every view. Its release runs exactly once
 * (release.c): when it is closed and its last Buffer dies, when its last
 * reference goes, or, in a garbage cycle, once every finalizer of the cycle has
 * run and nothing can reach it any more (collector.c).
 */
#include "shim.h"

#include <pthread.h>
#include <string.h>
#include <structmember.h>

/* "owner 'name'" or "an unnamed owner", for messages. */
PyObject *owner_label(OwnerObject *o)
{
    if (o->name == Py_None)
        return PyUnicode_FromString("an unnamed owner");
    return PyUnicode_FromFormat("owner %R", o->name);
}

static const char *state_word(OwnerObject *o)
{
    int64_t state = ATOMIC_LOAD(&o->counts.state);
    if (state & STATE_RELEASED)
        return "released";
    return (state & STATE_CLOSED) ? "closed" : "open";
}

int owner_check_open(OwnerObject *o)
{
    if (o->core_id == 0 && !(ATOMIC_LOAD(&o->counts.state) & STATE_RELEASED) &&
        !owner_is_foreign(o)) {
        PyErr_SetString(PyExc_TypeError,
                        "Owner.__init__() was not called (a subclass must call "
                        "super().__init__())");
        return -1;
    }
    if (ATOMIC_LOAD(&o->counts.state) & (STATE_CLOSED | STATE_RELEASED)) {
        PyObject *label = owner_label(o);
        if (label != NULL) {
            PyErr_Format(PyExc_BufferError, "%U is %s: it gives out no new buffers", label,
                         state_word(o));
            Py_DECREF(label);
        }
        return -1;
    }
    return 0;
}

/*
 * The C function inside a ctypes function object (a CDLL attribute or a
 * CFUNCTYPE instance): ctypes exports the pointer itself through the buffer
 * protocol. Read here because it is the common case and going through
 * ctypes.cast costs more than the rest of wrap(). Returns 1 and sets *fn for
 * a ctypes function, 0 for anything else, -1 on error.
 */
static int ctypes_function_pointer(module_state *st, PyObject *obj, uint64_t *fn)
{
    if (st->cfuncptr_type == NULL) { /* this interpreter's _ctypes */
        PyObject *mod = PyImport_ImportModule("_ctypes");
        if (mod == NULL) {
            PyErr_Clear();
            return 0;
        }
        st->cfuncptr_type = PyObject_GetAttrString(mod, "CFuncPtr");
        Py_DECREF(mod);
        if (st->cfuncptr_type == NULL) {
            PyErr_Clear();
            return 0;
        }
    }
    int is = PyObject_IsInstance(obj, st->cfuncptr_type);
    if (is <= 0)
        return is;
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0)
        return -1;
    int ok = view.len == (Py_ssize_t)sizeof(void *);
    if (ok) {
        void *p;
        memcpy(&p, view.buf, sizeof p);
        *fn = (uint64_t)(uintptr_t)p;
    }
    PyBuffer_Release(&view);
    return ok;
}

/* Decides what `release` (and `arg`) mean; sets nothing on failure. */
int owner_setup_release(OwnerObject *o, PyObject *release, PyObject *arg)
{
    if (release == Py_None) {
        if (arg != Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "arg is passed to a C function release; there is no release");
            return -1;
        }
        return 0;
    }
    module_state *st = o->st;
    uint64_t fn = 0, carg = 0;
    PyObject *keep = NULL;
    int is_ctypes = 0;
    if (PyLong_Check(release) && !PyBool_Check(release)) {
        if (address_from_object(st, release, "release", &fn) < 0)
            return -1;
    } else if ((is_ctypes = ctypes_function_pointer(st, release, &fn)) != 0) {
        if (is_ctypes < 0)
            return -1;
        keep = Py_NewRef(release);
    } else if (PyCallable_Check(release) &&
               strncmp(Py_TYPE(release)->tp_name, "_cffi_backend.", 14) != 0) {
        /* a Python callable: ctypes functions were taken above, and a cffi
         * object (callable too) goes to the hook below */
        if (arg != Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "arg is only for a C function release; a Python "
                            "callable release takes no argument (use a closure)");
            return -1;
        }
        o->rel.kind = RELEASE_PYCALL;
        o->rel.callable = Py_NewRef(release);
        return 0;
    } else {
        /* cffi function pointers: the hook gives (address, object to keep),
         * or None for anything that is no C function. */
        PyObject *spec = hook_call(st, "release", release);
        if (spec == NULL)
            return -1;
        if (spec == Py_None) {
            Py_DECREF(spec);
            if (!PyCallable_Check(release)) {
                PyErr_Format(PyExc_TypeError,
                             "release must be None, a callable, or a C function "
                             "(ctypes function, cffi function pointer or int "
                             "address), not %.100s", Py_TYPE(release)->tp_name);
                return -1;
            }
            PyErr_SetString(PyExc_TypeError, "release: this cffi object is not a function pointer");
            return -1;
        }
        PyObject *addr;
        if (!PyArg_ParseTuple(spec, "OO", &addr, &keep) ||
            address_from_object(st, addr, "release", &fn) < 0) {
            Py_DECREF(spec);
            return -1;
        }
        Py_INCREF(keep);
        Py_DECREF(spec);
    }
    if (fn == 0) {
        Py_XDECREF(keep);
        PyErr_SetString(PyExc_ValueError, "release is a NULL function pointer");
        return -1;
    }
    if (arg != Py_None && address_from_object(st, arg, "arg", &carg) < 0) {
        Py_XDECREF(keep);
        return -1;
    }
    owner_configure_cfunc(o, (void (*)(void *))(uintptr_t)fn, (void *)(uintptr_t)carg);
    o->rel.keepalive = keep;
    return 0;
}

void owner_configure_cfunc(OwnerObject *o, void (*f)(void *), void *arg)
{
    o->rel.kind = RELEASE_CFUNC;
    o->rel.cfunc = f;
    o->rel.carg = arg;
}

/* release_thread: None (whoever drops the last reference) or "creator". */
static int set_release_thread(OwnerObject *o, PyObject *which)
{
    if (which == Py_None)
        return 0;
    if (PyUnicode_Check(which) && PyUnicode_CompareWithASCIIString(which, "creator") == 0) {
        creator_thread *c = creator_thread_current(1);
        if (c == NULL)
            return -1;
        creator_thread_incref(c);
        o->rel.thread = c;
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "release_thread must be None or \"creator\", not %R", which);
    return -1;
}

int owner_register(OwnerObject *o)
{
    if (core_require(o->st) == NULL) /* no owner where Go cannot run (rule 7) */
        return -1;
    if (o->name != Py_None && (o->name_utf8 = PyUnicode_AsUTF8(o->name)) == NULL)
        return -1;
    registry_add(o, trace_on() ? site_capture() : NULL);
    return 0;
}

/*
 * The collector found the owner in garbage (collector.c). CPython marks an
 * object finalized before the collector calls its finalizer, and after a
 * deallocation (or an explicit __del__() call) does: so this arms only in the
 * collector. A deallocated owner is released by Owner_dealloc.
 */
static void Owner_finalize(OwnerObject *self)
{
    if (!PyObject_GC_IsFinalized((PyObject *)self))
        return;
    int64_t before = ATOMIC_FETCH_OR(&self->counts.state, STATE_ARMED);
    if (before & (STATE_ARMED | STATE_RELEASED))
        return;
    /* At exit (of the process or of a subinterpreter: from its atexit on)
     * the collections between teardown steps clear module dicts: a release
     * waiting for the next one would find its modules gone. So it runs now,
     * while the cycle is intact (collector.c). */
    if (SHIM_IS_FINALIZING() || self->st->ending ||
        (PYBUF_FAULT == FAULT_EAGER_GC && ATOMIC_LOAD(&self->counts.exports) == 0))
        owner_release_garbage(self);
    else
        collector_arm(self);
}

/*
 * A subclass with its own __del__ replaces Owner_finalize, and a __del__ that
 * does not call super().__del__() would keep the collector from arming the
 * owner: its release would then run from tp_clear, after the collector may
 * have cleared the release itself. So the subclass's finalizer is wrapped
 * (once per class, at its first instance): arm, then the class's own.
 */
typedef struct {
    PyTypeObject *type;
    destructor finalize;
} class_finalizer_entry;
static class_finalizer_entry *class_finalizers;
static int n_class_finalizers, cap_class_finalizers;

static destructor class_finalizer(PyTypeObject *tp);

static void Owner_subclass_finalize(OwnerObject *self)
{
    Owner_finalize(self);
    destructor own = class_finalizer(Py_TYPE(self));
    if (own != NULL)
        own((PyObject *)self);
}

static void wrap_class_finalizer_locked(PyTypeObject *type)
{
    destructor own = type->tp_finalize;
    if (own == (destructor)Owner_finalize || own == (destructor)Owner_subclass_finalize)
        return;
    int slot = -1;
    for (int i = 0; i < n_class_finalizers; i++)
        if (class_finalizers[i].type == type) /* a class freed and its address reused */
            slot = i;
    if (slot < 0 && n_class_finalizers == cap_class_finalizers) {
        int cap = cap_class_finalizers ? 2 * cap_class_finalizers : 16;
        class_finalizer_entry *grown =
            PyMem_RawRealloc(class_finalizers, sizeof *grown * (size_t)cap);
        if (grown == NULL)
            return; /* unwrapped: this class's owners release from dealloc */
        class_finalizers = grown;
        cap_class_finalizers = cap;
    }
    if (slot < 0)
        slot = n_class_finalizers++;
    class_finalizers[slot].type = type;
    class_finalizers[slot].finalize = own;
    type->tp_finalize = (destructor)Owner_subclass_finalize;
}

/* Classes of every interpreter share the table: behind a lock. */
static pthread_mutex_t class_finalizers_lock = PTHREAD_MUTEX_INITIALIZER;

static destructor class_finalizer(PyTypeObject *tp)
{
    destructor f = NULL;
    pthread_mutex_lock(&class_finalizers_lock);
    for (int i = 0; i < n_class_finalizers; i++)
        if (class_finalizers[i].type == tp)
            f = class_finalizers[i].finalize;
    pthread_mutex_unlock(&class_finalizers_lock);
    return f;
}

static void wrap_class_finalizer(PyTypeObject *type)
{
    pthread_mutex_lock(&class_finalizers_lock);
    wrap_class_finalizer_locked(type);
    pthread_mutex_unlock(&class_finalizers_lock);
}

static PyObject *Owner_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    PyObject *module;
    module_state *st = state_of_type(type, &module);
    if (st == NULL)
        return NULL;
    if (type->tp_finalize != (destructor)Owner_finalize)
        wrap_class_finalizer(type);
    OwnerObject *o = (OwnerObject *)type->tp_alloc(type, 0);
    if (o == NULL)
        return NULL;
    o->module = Py_NewRef(module);
    o->st = st;
    o->interp = st->interp;
    o->fixed_nbytes = -1;
    o->fork_generation = fork_generation();
    o->name = Py_NewRef(Py_None);
    return (PyObject *)o;
}

static int check_name(PyObject *name)
{
    if (name != Py_None && !PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "name must be a str or None, not %.100s",
                     Py_TYPE(name)->tp_name);
        return -1;
    }
    return 0;
}

OwnerObject *owner_new_internal(module_state *st, PyObject *name)
{
    if (check_name(name) < 0)
        return NULL;
    if (st->owner_type == NULL) { /* module_clear ran: the module is being freed */
        PyErr_SetString(PyExc_RuntimeError, "pybuf: the module is being torn down");
        return NULL;
    }
    OwnerObject *o = (OwnerObject *)Owner_new(st->owner_type, NULL, NULL);
    if (o == NULL)
        return NULL;
    Py_SETREF(o->name, Py_NewRef(name));
    return o;
}

static int Owner_init(OwnerObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"release", "arg", "name", "release_thread", NULL};
    PyObject *release = Py_None, *arg = Py_None, *name = Py_None, *thread = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$OOO:Owner", kwlist, &release, &arg, &name,
                                     &thread))
        return -1;
    pending_run_mine(0);
    if (self->core_id != 0 || self->rel.kind != RELEASE_NONE ||
        ATOMIC_LOAD(&self->counts.state) != 0) {
        PyErr_SetString(PyExc_TypeError, "Owner.__init__() may be called only once");
        return -1;
    }
    if (check_name(name) < 0)
        return -1;
    Py_SETREF(self->name, Py_NewRef(name));
    if (core_require(self->st) == NULL || owner_setup_release(self, release, arg) < 0)
        return -1;
    if (set_release_thread(self, thread) < 0) {
        owner_disarm(self);
        return -1;
    }
    if (owner_register(self) < 0) {
        owner_disarm(self);
        return -1;
    }
    return 0;
}

static PyObject *buffer_from_args(OwnerObject *self, PyObject *address, PyObject *shape,
                                  PyObject *dtype, PyObject *strides, int readonly)
{
    if (owner_check_open(self) < 0)
        return NULL;
    pybuf_layout l;
    memset(&l, 0, sizeof l);
    if (address_from_object(self->st, address, "address", &l.address) < 0)
        return NULL;
    PyObject *format = NULL;
    if (layout_from_args(self->st, &l, shape, dtype, strides, &format) < 0)
        return NULL;
    /* the dtype hook ran Python code: the owner may have been closed since */
    if (owner_check_open(self) < 0) {
        Py_DECREF(format);
        return NULL;
    }
    PyObject *b = (PyObject *)buffer_new(self, &l, format, readonly);
    Py_DECREF(format);
    return b;
}

static PyObject *Owner_buffer(OwnerObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"address", "shape", "dtype", "strides", "readonly", NULL};
    PyObject *address, *shape, *dtype = NULL, *strides = Py_None;
    int readonly = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|O$Op:buffer", kwlist, &address, &shape,
                                     &dtype, &strides, &readonly))
        return NULL;
    pending_run_mine(0);
    return buffer_from_args(self, address, shape, dtype, strides, readonly);
}

PyObject *owner_wrap(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"address", "shape", "dtype", "release", "arg",
                             "strides", "readonly", "name", "release_thread", NULL};
    PyObject *address, *shape, *dtype = NULL, *release = Py_None, *arg = Py_None;
    PyObject *strides = Py_None, *name = Py_None, *thread = Py_None;
    int readonly = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|O$OOOpOO:wrap", kwlist, &address, &shape,
                                     &dtype, &release, &arg, &strides, &readonly, &name,
                                     &thread))
        return NULL;
    pending_run_mine(0);
    OwnerObject *o = owner_new_internal(PyModule_GetState(module), name);
    if (o == NULL)
        return NULL;
    if (core_require(o->st) == NULL || owner_register(o) < 0 ||
        owner_setup_release(o, release, arg) < 0 || set_release_thread(o, thread) < 0) {
        owner_disarm(o);
        Py_DECREF(o);
        return NULL;
    }
    PyObject *b = buffer_from_args(o, address, shape, dtype, strides, readonly);
    if (b == NULL)
        owner_disarm(o); /* not ours to release: wrap() raised */
    Py_DECREF(o);
    return b;
}

static PyObject *holders_message(OwnerObject *self)
{
    int64_t buffers = ATOMIC_LOAD(&self->counts.buffers);
    int64_t exports = ATOMIC_LOAD(&self->counts.exports);
    PyObject *label = owner_label(self);
    if (label == NULL)
        return NULL;
    PyObject *msg = PyUnicode_FromFormat(
        "cannot close %U now: %lld buffer(s) and %lld export(s) still "
        "hold its memory; drop them first, or call close() to release after "
        "the last one", label, (long long)buffers, (long long)exports);
    Py_DECREF(label);
    const core_api *core = core_if_usable();
    if (msg == NULL || core == NULL || self->core_id == 0 || registry_flush() < 0)
        return msg;
    char *holders = core->holders(self->core_id);
    if (holders != NULL && holders[0] != '\0') {
        PyObject *full = PyUnicode_FromFormat("%U:\n%s", msg, holders);
        Py_SETREF(msg, full);
    } else if (!trace_on()) {
        PyObject *full = PyUnicode_FromFormat(
            "%U (pybuf.trace(True) records where they were created)", msg);
        Py_SETREF(msg, full);
    }
    core->free(holders);
    return msg;
}

static PyObject *Owner_close(OwnerObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"strict", NULL};
    int strict = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|p:close", kwlist, &strict))
        return NULL;
    pending_run_mine(0);
    if (strict && !(ATOMIC_LOAD(&self->counts.state) & STATE_RELEASED)) {
        if (owner_is_foreign(self)) {
            PyErr_SetString(self->st->fork_error ? self->st->fork_error : PyExc_RuntimeError,
                            "close(strict=True) cannot release an owner created before "
                            "this process was forked: the parent process releases it. "
                            "Use the 'spawn' or 'forkserver' start method to own "
                            "memory in workers");
            return NULL;
        }
        if (self->rel.thread != NULL && self->rel.thread != creator_thread_current(0) &&
            self->rel.kind != RELEASE_NONE) {
            PyErr_SetString(PyExc_BufferError,
                            "close(strict=True) releases now, but this owner's release "
                            "must run on the thread that created it "
                            "(release_thread=\"creator\"): call it there, or call "
                            "close() here and pybuf.run_pending() there");
            return NULL;
        }
        /* GIL: no Buffer can be created or die between this check and the
         * release below. */
        if (ATOMIC_LOAD(&self->counts.buffers) > 0) {
            PyObject *msg = holders_message(self);
            if (msg != NULL) {
                PyErr_SetObject(PyExc_BufferError, msg);
                Py_DECREF(msg);
            }
            return NULL;
        }
    }
    if (owner_close_release(self) < 0)
        return NULL;
    if (strict)
        owner_wait_released(self);
    Py_RETURN_NONE;
}

static PyObject *Owner_enter(PyObject *self, PyObject *unused)
{
    (void)unused;
    return Py_NewRef(self);
}

static PyObject *Owner_exit(OwnerObject *self, PyObject *args)
{
    (void)args;
    if (owner_close_release(self) < 0)
        return NULL;
    Py_RETURN_FALSE;
}


static int Owner_traverse(OwnerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->module);
    Py_VISIT(self->rel.callable);
    Py_VISIT(self->rel.keepalive);
    if (self->rel.source != NULL)
        Py_VISIT(self->rel.source->obj);
    return 0;
}

/* A pending release keeps what it needs: only a released owner lets go. */
static int Owner_clear(OwnerObject *self)
{
    if (ATOMIC_LOAD(&self->counts.state) & STATE_RELEASED) {
        Py_CLEAR(self->rel.callable);
        Py_CLEAR(self->rel.keepalive);
    }
    return 0;
}

static void Owner_dealloc(OwnerObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    /* A watched owner's weakref callback releases here (collector.c). */
    if (self->weakreflist != NULL)
        PyObject_ClearWeakRefs((PyObject *)self);
    /* Nothing can reach this owner, so no Buffer or export of it is left;
     * and nothing cleared its release (Owner_clear keeps a pending one). */
    if (!(ATOMIC_LOAD(&self->counts.state) & STATE_RELEASED))
        owner_release_garbage(self);
    registry_remove(self);  /* the registry must not keep a pointer into us */
    Py_CLEAR(self->rel.callable);
    Py_CLEAR(self->rel.keepalive);
    Py_CLEAR(self->name);
    PyObject *module = self->module; /* after everything that may read st */
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
    Py_XDECREF(module);
}

static PyObject *Owner_repr(OwnerObject *self)
{
    return PyUnicode_FromFormat("<%s %R %s, %lld buffer(s), %lld export(s)>",
                                Py_TYPE(self)->tp_name, self->name, state_word(self),
                                (long long)ATOMIC_LOAD(&self->counts.buffers),
                                (long long)ATOMIC_LOAD(&self->counts.exports));
}

static PyObject *Owner_get_name(OwnerObject *self, void *c) { (void)c; return Py_NewRef(self->name); }
static PyObject *Owner_get_closed(OwnerObject *self, void *c)
{
    (void)c;
    return PyBool_FromLong((ATOMIC_LOAD(&self->counts.state) & STATE_CLOSED) != 0);
}
static PyObject *Owner_get_released(OwnerObject *self, void *c)
{
    (void)c;
    return PyBool_FromLong((ATOMIC_LOAD(&self->counts.state) & STATE_DONE) != 0);
}
static PyObject *Owner_get_exports(OwnerObject *self, void *c)
{
    (void)c;
    return PyLong_FromLongLong(ATOMIC_LOAD(&self->counts.exports));
}
static PyObject *Owner_get_buffers(OwnerObject *self, void *c)
{
    (void)c;
    return PyLong_FromLongLong(ATOMIC_LOAD(&self->counts.buffers));
}

static PyGetSetDef Owner_getset[] = {
    {"name", (getter)Owner_get_name, NULL, "The name given at creation, or None.", NULL},
    {"closed", (getter)Owner_get_closed, NULL, "True once close() was called.", NULL},
    {"released", (getter)Owner_get_released, NULL, "True once the release has run (or, with release_thread=\"creator\",\n"
     "was queued for the creator thread).", NULL},
    {"exports", (getter)Owner_get_exports, NULL,
     "Live buffer-protocol and DLPack exports over all buffers of this owner.", NULL},
    {"buffers", (getter)Owner_get_buffers, NULL, "Live Buffer objects of this owner.", NULL},
    {NULL}};

static PyMethodDef Owner_methods[] = {
    {"buffer", (PyCFunction)(void (*)(void))Owner_buffer, METH_VARARGS | METH_KEYWORDS,
     "buffer(address, shape, dtype='B', *, strides=None, readonly=False)\n--\n\n"
     "A Buffer over memory at `address` that this owner answers for."},
    {"close", (PyCFunction)(void (*)(void))Owner_close, METH_VARARGS | METH_KEYWORDS,
     "close(strict=False)\n--\n\n"
     "Refuse new buffers and exports; release after the last buffer dies.\n"
     "strict=True releases now, or raises BufferError if a buffer is alive."},
    {"__enter__", Owner_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Owner_exit, METH_VARARGS, NULL},
    {NULL}};

static PyMemberDef Owner_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(OwnerObject, weakreflist), READONLY, NULL},
    {NULL}};

static PyType_Slot Owner_slots[] = {
    {Py_tp_doc, "Owner(release=None, *, arg=None, name=None, release_thread=None)\n--\n\n"
                "Stands for memory somebody else owns; runs `release` exactly once,\n"
                "after the last view of any of its buffers is gone."},
    {Py_tp_new, Owner_new},
    {Py_tp_init, Owner_init},
    {Py_tp_dealloc, Owner_dealloc},
    {Py_tp_finalize, Owner_finalize},
    {Py_tp_traverse, Owner_traverse},
    {Py_tp_clear, Owner_clear},
    {Py_tp_repr, Owner_repr},
    {Py_tp_methods, Owner_methods},
    {Py_tp_getset, Owner_getset},
    {Py_tp_members, Owner_members},
    {0, NULL}};

static PyType_Spec Owner_spec = {
    .name = "pybuf.Owner",
    .basicsize = sizeof(OwnerObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = Owner_slots,
};

PyTypeObject *owner_type_init(PyObject *module)
{
    return (PyTypeObject *)PyType_FromModuleAndSpec(module, &Owner_spec, NULL);
}
