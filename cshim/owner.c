/*
 * owner.c: pybuf.Owner, one handle on memory somebody else owns.
 *
 * An Owner is referenced by each of its Buffers, and each export holds its
 * Buffer, so the Owner outlives every view. Its release runs exactly once
 * (release.c): when it is closed and its last Buffer dies, when its last
 * reference goes, or, in a garbage cycle, once every finalizer of the cycle has
 * run and nothing can reach it any more (collector.c).
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
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
    /* held: a str subclass's __repr__ is Python code */
    PyObject *name = Py_NewRef(o->name);
    PyObject *label = PyUnicode_FromFormat("owner %R", name);
    Py_DECREF(name);
    return label;
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
    if (owner_core_id(o) == 0 && !(ATOMIC_LOAD(&o->counts.state) & STATE_RELEASED) &&
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
 * The collector found the owner in garbage (collector.c). CPython marks an
 * object finalized before the collector calls its finalizer, and after a
 * deallocation (or an explicit __del__() call) does: so this arms only in the
 * collector. A deallocated owner is released by Owner_dealloc.
 */
static void Owner_finalize(OwnerObject *self)
{
    if (!PyObject_GC_IsFinalized((PyObject *)self))
        return;
    /* super().__del__() inside a subclass's own __del__: the wrapper below
     * arms (or releases) once that body has returned. */
    if (self->in_class_finalizer)
        return;
    int64_t before = owner_arm(self);
    if (before & (STATE_ARMED | STATE_RELEASED))
        return;
    /* At exit (of the process or of a subinterpreter), once pybuf's atexit
     * callback has collected the garbage of the run, the collections between
     * teardown steps clear module dicts: a release waiting for the next one
     * would find its modules gone. So it runs now, while the cycle is intact
     * (collector.c). */
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
 * (once per class, at its first instance): the class's own, then arm.
 *
 * The class's own body runs first because at exit Owner_finalize releases at
 * once (see above): a body that reads a view of its own buffers must see the
 * memory still there. Its super().__del__() does nothing (in_class_finalizer);
 * the release, or the arming, follows the whole body.
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
    destructor own = class_finalizer(Py_TYPE(self));
    if (own != NULL) {
        int outer = self->in_class_finalizer; /* a __del__ calling __del__ again */
        self->in_class_finalizer = 1;
        own((PyObject *)self);
        self->in_class_finalizer = outer;
    }
    Owner_finalize(self);
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

/* At the first instance of a class: wraps a subclass's own finalizer. */
void owner_class_prepare(PyTypeObject *type)
{
    if (type->tp_finalize == (destructor)Owner_finalize)
        return;
    pthread_mutex_lock(&class_finalizers_lock);
    wrap_class_finalizer_locked(type);
    pthread_mutex_unlock(&class_finalizers_lock);
}

/* The traced holders of one owner's memory ("" when none is traced). */
PyObject *owner_holders_text(OwnerObject *o)
{
    const core_api *core = core_if_usable();
    uint64_t id = owner_core_id(o); /* read once: another thread may unregister it */
    if (core == NULL || id == 0 || registry_flush() < 0)
        return PyUnicode_FromString("");
    char *holders = core->holders(id);
    PyObject *text = PyUnicode_FromString(holders != NULL ? holders : "");
    core->free(holders);
    return text;
}

/* Why `self` cannot be released now (`verb`: "close", "invalidate"): its own
 * buffers and exports, then its children that hold memory; NULL with an
 * exception on failure. */
static PyObject *holders_message(OwnerObject *self, const char *verb, const char *advice)
{
    int64_t buffers = ATOMIC_LOAD(&self->counts.buffers);
    int64_t exports = ATOMIC_LOAD(&self->counts.exports);
    int tree_err = 0;
    PyObject *children = tree_holders(self, &tree_err); /* Python code: before the counts */
    if (tree_err)
        return NULL;
    PyObject *label = owner_label(self);
    PyObject *text = label ? owner_holders_text(self) : NULL;
    PyObject *msg = NULL;
    if (text != NULL && buffers > 0)
        msg = PyUnicode_FromFormat("cannot %s %U now: %lld buffer(s) and %lld export(s) still "
                                   "hold its memory; %s%s%U",
                                   verb, label, (long long)buffers, (long long)exports, advice,
                                   PyUnicode_GET_LENGTH(text) ? ":\n" : "", text);
    else if (text != NULL)
        msg = PyUnicode_FromFormat("cannot %s %U now; %s", verb, label, advice);
    if (msg != NULL && children != NULL)
        Py_SETREF(msg, PyUnicode_FromFormat("%U\n%U", msg, children));
    if (msg != NULL && !trace_on() && (buffers > 0 || children != NULL))
        Py_SETREF(msg, PyUnicode_FromFormat(
                           "%U\n(pybuf.trace(True) records where they were created)", msg));
    Py_XDECREF(label);
    Py_XDECREF(text);
    Py_XDECREF(children);
    return msg;
}

/* close(strict=True) and invalidate(): release now, the children first, or
 * raise BufferError naming what holds the memory. */
static PyObject *close_now(OwnerObject *self, const char *verb, const char *advice)
{
    pending_run_mine(0);
    if (ATOMIC_LOAD(&self->counts.state) & STATE_RELEASED) {
        owner_mark_closed(self);
        owner_wait_released(self); /* another thread may be running it */
        Py_RETURN_NONE;
    }
    if (owner_is_foreign(self)) {
        PyErr_Format(self->st->fork_error ? self->st->fork_error : PyExc_RuntimeError,
                     "%s cannot release an owner created before "
                     "this process was forked: the parent process releases it. "
                     "Use the 'spawn' or 'forkserver' start method to own "
                     "memory in workers", verb[0] == 'c' ? "close(strict=True)" : "invalidate()");
        return NULL;
    }
    if (self->rel.thread != NULL && self->rel.thread != creator_thread_current(0) &&
        self->rel.kind != RELEASE_NONE) {
        PyErr_Format(PyExc_BufferError,
                     "%s releases now, but this owner's release "
                     "must run on the thread that created it "
                     "(release_thread=\"creator\"): call it there, or call "
                     "close() here and pybuf.run_pending() there",
                     verb[0] == 'c' ? "close(strict=True)" : "invalidate()");
        return NULL;
    }
    /* With a GIL no Buffer can be created or die between this check and the
     * release below; without one, owner_close_one rechecks under the owner's
     * lock (a Buffer made meanwhile is counted there or refused). */
    int tree_err = 0;
    PyObject *children = (self->first_child != NULL || ATOMIC_LOAD(&self->pending_children) > 0)
                             ? tree_holders(self, &tree_err)
                             : NULL;
    if (tree_err)
        return NULL;
    if (ATOMIC_LOAD(&self->counts.buffers) > 0 || children != NULL) {
        Py_XDECREF(children);
        PyObject *msg = holders_message(self, verb, advice);
        if (msg != NULL) {
            PyErr_SetObject(PyExc_BufferError, msg);
            Py_DECREF(msg);
        }
        return NULL;
    }
    int r = self->first_child != NULL ? tree_close(self) : owner_close_one(self, 1);
    if (r < 0)
        return NULL;
    if (r == 1) { /* a Buffer made meanwhile on another thread: the owner stays open */
        PyObject *msg = holders_message(self, verb, advice);
        if (msg != NULL) {
            PyErr_SetObject(PyExc_BufferError, msg);
            Py_DECREF(msg);
        }
        return NULL;
    }
    owner_wait_released(self);
    Py_RETURN_NONE;
}

static PyObject *Owner_close(OwnerObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"strict", NULL};
    int strict = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|p:close", kwlist, &strict))
        return NULL;
    if (strict)
        return close_now(self, "close",
                         "drop them first, or call close() to release after the last one");
    pending_run_mine(0);
    if (owner_close_release(self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Owner_invalidate(OwnerObject *self, PyObject *unused)
{
    (void)unused;
    return close_now(self, "invalidate",
                     "the library is about to reuse or free it: drop them, or copy what "
                     "you keep (numpy.array(view)) before the call that invalidates it");
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
    Py_VISIT(self->rel.arg);
    Py_VISIT(self->rel.parent);
    Py_VISIT(self->parent);
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
        Py_CLEAR(self->rel.arg);
        Py_CLEAR(self->parent); /* unlinked when it was released */
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
    Py_CLEAR(self->rel.arg);
    Py_CLEAR(self->parent);
    Py_CLEAR(self->name);
    PyObject *module = self->module; /* after everything that may read st */
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
    Py_XDECREF(module);
}

static PyObject *Owner_repr(OwnerObject *self)
{
    PyObject *name = PyObject_Repr(self->name); /* Python code: before the counts */
    if (name == NULL)
        return NULL;
    PyObject *r = PyUnicode_FromFormat("<%s %U %s, %lld buffer(s), %lld export(s)>",
                                       Py_TYPE(self)->tp_name, name, state_word(self),
                                       (long long)ATOMIC_LOAD(&self->counts.buffers),
                                       (long long)ATOMIC_LOAD(&self->counts.exports));
    Py_DECREF(name);
    return r;
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

static PyObject *Owner_get_parent(OwnerObject *self, void *c)
{
    (void)c;
    return Py_NewRef(self->parent ? (PyObject *)self->parent : Py_None);
}

static PyGetSetDef Owner_getset[] = {
    {"parent", (getter)Owner_get_parent, NULL,
     "The owner this one was made a child of (its memory belongs to it), until this\n"
     "one is released; else None.", NULL},
    {"name", (getter)Owner_get_name, NULL, "The name given at creation, or None.", NULL},
    {"closed", (getter)Owner_get_closed, NULL, "True once close() was called.", NULL},
    {"released", (getter)Owner_get_released, NULL, "True once the release has run (or, with release_thread=\"creator\",\n"
     "was queued for the creator thread).", NULL},
    {"exports", (getter)Owner_get_exports, NULL,
     "Live buffer-protocol and DLPack exports over all buffers of this owner.", NULL},
    {"buffers", (getter)Owner_get_buffers, NULL, "Live Buffer objects of this owner.", NULL},
    {NULL}};

static PyMethodDef Owner_methods[] = {
    {"buffer", (PyCFunction)(void (*)(void))owner_buffer_method, METH_FASTCALL | METH_KEYWORDS,
     "buffer(address, shape, dtype='B', *, strides=None, readonly=False)\n--\n\n"
     "A Buffer over memory at `address` that this owner answers for."},
    {"close", (PyCFunction)(void (*)(void))Owner_close, METH_VARARGS | METH_KEYWORDS,
     "close(strict=False)\n--\n\n"
     "Refuse new buffers and exports; release after the last buffer dies.\n"
     "strict=True releases now, or raises BufferError if a buffer is alive."},
    {"child", (PyCFunction)(void (*)(void))owner_child_method, METH_FASTCALL | METH_KEYWORDS,
     "child(release=None, *, arg=None, name=None, release_thread=None)\n--\n\n"
     "A new Owner whose memory belongs to this one's: this owner's release runs\n"
     "only after the child's. Owner(..., parent=self) makes a subclass's."},
    {"invalidate", (PyCFunction)Owner_invalidate, METH_NOARGS,
     "invalidate()\n--\n\n"
     "The library is about to reuse or free this memory: release now (children\n"
     "first), or raise BufferError naming the buffers that still hold it."},
    {"__enter__", Owner_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Owner_exit, METH_VARARGS, NULL},
    {NULL}};

static PyMemberDef Owner_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(OwnerObject, weakreflist), READONLY, NULL},
    {NULL}};

static PyType_Slot Owner_slots[] = {
    {Py_tp_doc, "Owner(release=None, *, arg=None, name=None, release_thread=None, parent=None)\n--\n\n"
                "Stands for memory somebody else owns; runs `release` exactly once,\n"
                "after the last view of any of its buffers is gone."},
    {Py_tp_new, owner_tp_new},
    {Py_tp_init, owner_tp_init},
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
