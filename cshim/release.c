/*
 * release.c: how an owner's memory is given back, and when.
 *
 * The release runs exactly once. The RELEASED bit is set, and the owner
 * unregistered, before the release is called: the call may release the GIL
 * (C functions) or run arbitrary Python code, and anything that happens
 * meanwhile (another thread, a __del__ that resurrects a Buffer of this owner)
 * must already see a released owner that refuses new exports.
 */
#include "shim.h"

#include <sys/mman.h>

int owner_is_foreign(OwnerObject *o)
{
    return o->fork_generation != fork_generation();
}

/* Drops what the release kept alive. Only after the release has run. */
static void forget_release(OwnerObject *o)
{
    if (PYBUF_FAULT == FAULT_DOUBLE_RELEASE)
        return; /* keep everything, so that a second release can run */
    o->kind = RELEASE_NONE;
    o->cfunc = NULL;
    o->carg = NULL;
    o->block = NULL;
    o->source = NULL;
    Py_CLEAR(o->callable);
    Py_CLEAR(o->keepalive);
}

static void unregister(OwnerObject *o)
{
    if (o->core_id == 0)
        return;
    const core_api *core = core_if_usable();
    if (core != NULL)
        core->unreg(o->core_id);
    o->core_id = 0;
}

/*
 * Runs the release if it has not run yet. `from_user` says that the caller is
 * the user's own close(): a Python release that raises then propagates (-1);
 * from deallocation or the garbage collector it goes to sys.unraisablehook.
 */
static int run_release(OwnerObject *o, int from_user)
{
    int64_t before = ATOMIC_FETCH_OR(&o->counts.state, STATE_RELEASED);
    if ((before & STATE_RELEASED) && PYBUF_FAULT != FAULT_DOUBLE_RELEASE)
        return 0;
    unregister(o);
    if (owner_is_foreign(o)) {
        /* The parent process owns this memory and releases it there. */
        forget_release(o);
        return 0;
    }

    int status = 0;
    switch (o->kind) {
    case RELEASE_NONE:
        break;
    case RELEASE_CFUNC: {
        void (*f)(void *) = o->cfunc;
        void *arg = o->carg;
        Py_BEGIN_ALLOW_THREADS
        f(arg);
        Py_END_ALLOW_THREADS
        break;
    }
    case RELEASE_PYCALL: {
        PyObject *callable = Py_NewRef(o->callable);
        PyObject *saved = from_user ? NULL : shim_err_take();
        PyObject *res = PyObject_CallNoArgs(callable);
        if (res != NULL) {
            Py_DECREF(res);
        } else if (from_user) {
            status = -1;
        } else {
            PyErr_WriteUnraisable(callable);
        }
        if (!from_user)
            shim_err_restore(saved);
        Py_DECREF(callable);
        break;
    }
    case RELEASE_PYBUFFER:
        PyBuffer_Release(o->source);
        PyMem_Free(o->source);
        break;
    case RELEASE_ALIGNED:
        PyMem_RawFree(o->block);
        break;
    case RELEASE_MUNMAP: {
        void *addr = o->block;
        size_t len = (size_t)o->fixed_nbytes;
        Py_BEGIN_ALLOW_THREADS
        munmap(addr, len);
        Py_END_ALLOW_THREADS
        break;
    }
    }
    forget_release(o);
    return status;
}

void owner_disarm(OwnerObject *o)
{
    ATOMIC_OR(&o->counts.state, STATE_RELEASED | STATE_CLOSED);
    unregister(o);
    if (o->kind == RELEASE_PYBUFFER && o->source != NULL) {
        /* the export was ours, not the caller's: give it back */
        PyBuffer_Release(o->source);
        PyMem_Free(o->source);
    }
    if (o->kind == RELEASE_ALIGNED)
        PyMem_RawFree(o->block);
    if (o->kind == RELEASE_MUNMAP)
        munmap(o->block, (size_t)o->fixed_nbytes);
    forget_release(o);
}

void owner_maybe_release_after_buffer(OwnerObject *o)
{
    int64_t state = ATOMIC_LOAD(&o->counts.state);
    if (state & STATE_RELEASED)
        return;
    if (((state & STATE_CLOSED) && ATOMIC_LOAD(&o->counts.buffers) == 0) ||
        ((state & STATE_DOOMED) && ATOMIC_LOAD(&o->counts.exports) == 0))
        run_release(o, 0);
}

void owner_maybe_release_after_export(OwnerObject *o)
{
    int64_t state = ATOMIC_LOAD(&o->counts.state);
    if ((state & (STATE_DOOMED | STATE_RELEASED)) == STATE_DOOMED &&
        ATOMIC_LOAD(&o->counts.exports) == 0)
        run_release(o, 0);
}

/* Called when the owner is garbage (PEP 442: the cycle it may belong to is
 * still intact) or when its last reference goes. */
void owner_finalize_release(OwnerObject *o)
{
    if ((ATOMIC_LOAD(&o->counts.state) & STATE_RELEASED) &&
        PYBUF_FAULT != FAULT_DOUBLE_RELEASE)
        return;
    if (ATOMIC_LOAD(&o->counts.exports) == 0)
        run_release(o, 0);
    else
        ATOMIC_OR(&o->counts.state, STATE_DOOMED);
}

/* close(): returns -1 with an exception when the release raised. */
int owner_close_release(OwnerObject *o)
{
    ATOMIC_OR(&o->counts.state, STATE_CLOSED);
    if (ATOMIC_LOAD(&o->counts.buffers) == 0 || PYBUF_FAULT == FAULT_EARLY_RELEASE)
        return run_release(o, 1);
    return 0;
}
