/*
 * collector.c: when a garbage owner is released, timed against CPython's
 * cyclic garbage collector.
 *
 * The problem. An owner in a garbage cycle is found by the collector together
 * with the rest of the cycle: its wrapper, the release that closes over that
 * wrapper, views of its buffers. The collector runs, in this order:
 * (1) weakref callbacks, (2) every finalizer (PEP 442: once per object),
 * (3) a resurrection check: what a finalizer made reachable again, and all it
 * reaches, survives, (4) tp_clear of the rest. During (2) a __del__ may still
 * use a buffer (or keep it, e.g. in np.ndarray(buffer=), which takes no
 * export), so the release cannot run there; during (4) the closure of a
 * Python release, a functools.partial or a ctypes callback may already be
 * cleared, so it cannot run there either.
 *
 * The design, in three steps:
 *
 *   arm      The owner's finalizer (step 2 of collection k) only arms: it
 *            keeps the owner alive from a hidden strong reference (`armed`).
 *            So the owner and everything it reaches (its release and what
 *            that closes over) survive collection k, intact; whatever a
 *            __del__ kept survives too.
 *   watch    After collection k (its gc.callbacks "stop", or, where the
 *            collector runs no callbacks, as at interpreter exit, a weakref
 *            callback of a sentinel that the next collection finds dead), the
 *            hidden reference becomes a weakref whose callback releases.
 *            If that was the owner's last reference, it dies at once and its
 *            dealloc releases (nothing cleared it).
 *   release  Collection k+1 that finds the owner unreachable again runs the
 *            weakref callback in its step 1: every finalizer of the cycle has
 *            run (once), nothing is cleared yet, and no code can reach the
 *            owner, its buffers or their exports any more (anything that
 *            could is not garbage). A cycle that a __del__ resurrected is
 *            simply not found until it dies for real.
 *
 * The callback cannot use its weakref (the collector cleared it before
 * calling), so it carries the owner's address; the owner's memory is intact
 * until step 4 of that same collection, and the callback runs before.
 *
 * At interpreter exit (the process's, or a subinterpreter's) pybuf's own
 * atexit callback first collects until no collection finds a new garbage
 * owner (collector_collect_at_exit): every cycle that is garbage when exit
 * starts takes the path above, while gc.callbacks run and module dicts are
 * whole. From then on the collector runs between steps that clear module
 * dicts, so a release waiting for a later collection would find the modules
 * it uses emptied: there the owner's finalizer releases at once (step 2), the
 * cycle still intact. An Owner subclass's own __del__ body runs before that
 * (owner.c).
 *
 * Outside the promise: a finalizer that was attached to the cycle after it
 * survived collection k (so it first runs in collection k+1, after step 1)
 * sees a released owner; its buffers refuse new views, and a view it kept
 * from before reads released memory. Nothing pybuf can see at step 1 tells
 * such a cycle from any other. At exit, a cycle that only becomes garbage
 * after pybuf's atexit callback (one that module globals kept alive until
 * finalization empties them, or one an atexit callback registered before
 * pybuf was imported drops) is released in the owner's finalizer: another
 * object's __del__ of that cycle that runs after it reads released memory
 * through a view it kept.
 *
 * State: per interpreter (module_state: gc_armed, gc_watched, gc_tick), touched
 * with that interpreter's GIL held; owners are armed, watched and released in
 * the interpreter that created them. Free-threaded, the finalizers and
 * callbacks of a collection run while other threads run: the slots are
 * swapped and appended to under st->lock (never held across Python code).
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "shim.h"

static PyObject *release_when_unreachable(PyObject *key, PyObject *weakref);
static PyObject *tick_fired(PyObject *module, PyObject *weakref);

static PyMethodDef release_def = {"_release_when_unreachable", release_when_unreachable, METH_O,
                                  NULL};
static PyMethodDef tick_def = {"_collector_tick", tick_fired, METH_O, NULL};
/* The sentinel only has to exist (and be a cycle): it is never called. */
static PyObject *sentinel_never_called(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_NONE;
}
static PyMethodDef sentinel_def = {"_collector_sentinel", sentinel_never_called, METH_NOARGS,
                                   NULL};

/* The weakref callback: the owner is unreachable and every finalizer of its
 * cycle has run. `key` is the owner's address. */
static PyObject *release_when_unreachable(PyObject *key, PyObject *weakref)
{
    OwnerObject *o = (OwnerObject *)PyLong_AsVoidPtr(key);
    if (o == NULL)
        return NULL;
    /* The release may free the owner (its cycle's last reference goes with
     * what the release held), and with it the owner's reference to the
     * module whose state `st` is: the module is held here instead. */
    PyObject *module = Py_NewRef(o->module);
    module_state *st = o->st;
    owner_release_garbage(o); /* `o` may be gone from here on */
    /* the weakref may die with its entry: not before it is no longer used */
    Py_INCREF(weakref);
    PyObject *watched = state_get(st, &st->gc_watched);
    if (watched != NULL && PyDict_DelItem(watched, key) < 0)
        PyErr_Clear();
    Py_XDECREF(watched);
    Py_DECREF(weakref);
    Py_DECREF(module);
    Py_RETURN_NONE;
}

/* Keeps `o` alive in st->gc_armed; -1 (no exception) when it cannot. The
 * list is swapped out whole by watch_armed: an append and the swap are
 * under st->lock (free-threaded), so no owner goes into a batch that was
 * already watched. */
static int keep_armed(module_state *st, PyObject *o)
{
    PyObject *fresh = NULL;
    SHIM_LOCK(&st->lock);
    int have = st->gc_armed != NULL;
    SHIM_UNLOCK(&st->lock);
    if (!have && (fresh = PyList_New(0)) == NULL) {
        PyErr_Clear();
        return -1;
    }
    SHIM_LOCK(&st->lock);
    if (st->gc_armed == NULL && fresh != NULL) {
        st->gc_armed = fresh;
        fresh = NULL;
    }
    int r = st->gc_armed != NULL ? PyList_Append(st->gc_armed, o) : -1;
    SHIM_UNLOCK(&st->lock);
    Py_XDECREF(fresh); /* an empty list: frees nothing else */
    if (r < 0)
        PyErr_Clear();
    return r;
}

/* Turns hidden strong references into watching weakrefs. Dropping the
 * reference may deallocate an owner, which then releases in its dealloc. */
static void watch_armed(module_state *st)
{
    SHIM_LOCK(&st->lock);
    PyObject *batch = st->gc_armed;
    if (batch != NULL && PyList_GET_SIZE(batch) > 0)
        st->gc_armed = NULL;
    else
        batch = NULL;
    SHIM_UNLOCK(&st->lock);
    if (batch == NULL)
        return;
    PyObject *watched = state_lazy_dict(st, &st->gc_watched);
    if (watched == NULL) {
        PyErr_Clear();
        /* try again at the next collection */
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(batch); i++)
            keep_armed(st, PyList_GET_ITEM(batch, i));
        Py_DECREF(batch);
        return;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(batch); i++) {
        PyObject *o = PyList_GET_ITEM(batch, i); /* the batch is this thread's alone */
        if (ATOMIC_LOAD(&((OwnerObject *)o)->counts.state) & STATE_RELEASED)
            continue; /* closed and released meanwhile */
        PyObject *key = PyLong_FromVoidPtr(o);
        PyObject *cb = key ? PyCFunction_New(&release_def, key) : NULL;
        PyObject *wr = cb ? PyWeakref_NewRef(o, cb) : NULL;
        if (wr == NULL || PyDict_SetItem(watched, key, wr) < 0) {
            /* cannot watch: keep it armed (alive) rather than risk a release
             * after the collector cleared what it needs */
            PyErr_Clear();
            keep_armed(st, o);
        }
        Py_XDECREF(wr);
        Py_XDECREF(cb);
        Py_XDECREF(key);
    }
    Py_DECREF(watched);
    Py_DECREF(batch); /* owners whose last reference this was die here */
}

/* A cycle only the collector can free: a function whose self is a list that
 * holds the function. Its weakref callback runs in the next collection that
 * runs at all, gc.callbacks or not. */
static void tick_arm(PyObject *module, module_state *st)
{
    SHIM_LOCK(&st->lock);
    int armed = st->gc_tick != NULL;
    SHIM_UNLOCK(&st->lock);
    if (armed)
        return;
    PyObject *tick = NULL;
    PyObject *box = PyList_New(0);
    PyObject *sentinel = box ? PyCFunction_New(&sentinel_def, box) : NULL;
    PyObject *cb = sentinel ? PyCFunction_New(&tick_def, module) : NULL;
    if (cb != NULL && PyList_Append(box, sentinel) == 0)
        tick = PyWeakref_NewRef(sentinel, cb);
    if (tick == NULL)
        PyErr_Clear();
    SHIM_LOCK(&st->lock);
    if (st->gc_tick == NULL) {
        st->gc_tick = tick;
        tick = NULL;
    }
    SHIM_UNLOCK(&st->lock);
    Py_XDECREF(tick); /* another thread armed one first */
    Py_XDECREF(cb);
    Py_XDECREF(sentinel);
    Py_XDECREF(box);
}

static PyObject *tick_fired(PyObject *module, PyObject *weakref)
{
    module_state *st = PyModule_GetState(module);
    if (st == NULL)
        return NULL;
    Py_INCREF(weakref); /* `gc_tick` may be its last reference */
    SHIM_LOCK(&st->lock);
    PyObject *old = st->gc_tick;
    st->gc_tick = NULL;
    SHIM_UNLOCK(&st->lock);
    Py_XDECREF(old);
    Py_DECREF(weakref);
    watch_armed(st);
    SHIM_LOCK(&st->lock);
    int more = st->gc_armed != NULL && PyList_GET_SIZE(st->gc_armed) > 0;
    SHIM_UNLOCK(&st->lock);
    if (more)
        tick_arm(module, st);
    Py_RETURN_NONE;
}

void collector_arm(OwnerObject *o)
{
    module_state *st = o->st;
    ATOMIC_ADD(&st->gc_arms, 1);
    if (keep_armed(st, (PyObject *)o) < 0)
        return;
    tick_arm(o->module, st);
}

void collector_phase_changed(PyObject *module, PyObject *phase)
{
    module_state *st = PyModule_GetState(module);
    if (st != NULL && PyUnicode_Check(phase) &&
        PyUnicode_CompareWithASCIIString(phase, "stop") == 0)
        watch_armed(st);
}

/*
 * pybuf's atexit callback, before `ending` is set: collections while the
 * interpreter is whole. The first one that finds a garbage owner arms it, the
 * next releases it (step 1), and a finalizer's new garbage needs one more: so
 * collect until a collection arms nothing. gc.collect() rather than
 * PyGC_Collect(), which does nothing when the program disabled the collector:
 * finalization collects anyway, and then without the two steps. Nothing to
 * do (not even one collection) when the interpreter holds no unreleased owner.
 */
#define EXIT_COLLECTIONS_MAX 8 /* finalizers that make new garbage owners forever */

void collector_collect_at_exit(module_state *st)
{
    if (!registry_has_owners_of(st->interp))
        return;
    PyObject *exc = shim_err_take();
    PyObject *gc = PyImport_ImportModule("gc");
    for (int i = 0; gc != NULL && i < EXIT_COLLECTIONS_MAX; i++) {
        uint64_t arms = ATOMIC_LOAD(&st->gc_arms);
        PyObject *r = PyObject_CallMethod(gc, "collect", NULL);
        if (r == NULL)
            break;
        Py_DECREF(r);
        /* a round that armed nothing released what the one before armed */
        if (ATOMIC_LOAD(&st->gc_arms) == arms)
            break;
    }
    Py_XDECREF(gc);
    PyErr_Clear();
    shim_err_restore(exc);
}
