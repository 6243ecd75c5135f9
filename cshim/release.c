/*
 * release.c: how an owner's memory is given back, and when.
 *
 * The release runs exactly once. The RELEASED bit is set, the owner
 * unregistered and the release moved out of the owner before it is called:
 * the call may release the GIL (C functions) or run arbitrary Python code, and
 * anything that happens meanwhile (another thread, a __del__ that resurrects a
 * Buffer of this owner) must already see a released owner that refuses new
 * exports.
 */
#include "shim.h"

#include <sched.h>
#include <string.h>
#include <sys/mman.h>

int owner_is_foreign(OwnerObject *o)
{
    return o->fork_generation != fork_generation();
}

static void unregister(OwnerObject *o) { registry_remove(o); }

/* Moves the release out of the owner, which then holds nothing of it. */
static release_job take_job(OwnerObject *o)
{
    release_job job = o->rel;
    if (PYBUF_FAULT == FAULT_DOUBLE_RELEASE) {
        /* planted: the owner keeps its release, so it can run again */
        Py_XINCREF(job.callable);
        Py_XINCREF(job.keepalive);
        return job;
    }
    memset(&o->rel, 0, sizeof o->rel);
    return job;
}

static void job_forget(release_job *job)
{
    Py_CLEAR(job->callable);
    Py_CLEAR(job->keepalive);
}

/*
 * Runs a release. `from_user`: the caller is the user's own call (close(),
 * run_pending()), so a Python release that raises propagates (-1); from
 * deallocation or the garbage collector it goes to sys.unraisablehook.
 */
static int job_run(release_job *job, int from_user)
{
    int status = 0;
    switch (job->kind) {
    case RELEASE_NONE:
        break;
    case RELEASE_CFUNC: {
        void (*f)(void *) = job->cfunc;
        void *arg = job->carg;
        Py_BEGIN_ALLOW_THREADS
        f(arg);
        Py_END_ALLOW_THREADS
        break;
    }
    case RELEASE_PYCALL: {
        PyObject *saved = from_user ? NULL : shim_err_take();
        PyObject *res = PyObject_CallNoArgs(job->callable);
        if (res != NULL)
            Py_DECREF(res);
        else if (from_user)
            status = -1;
        else
            PyErr_WriteUnraisable(job->callable);
        if (!from_user)
            shim_err_restore(saved);
        break;
    }
    case RELEASE_PYBUFFER:
        PyBuffer_Release(job->source);
        PyMem_Free(job->source);
        break;
    case RELEASE_ALIGNED:
        PyMem_RawFree(job->block);
        break;
    case RELEASE_MUNMAP: {
        void *addr = job->block;
        size_t len = (size_t)job->nbytes;
        Py_BEGIN_ALLOW_THREADS
        munmap(addr, len);
        Py_END_ALLOW_THREADS
        break;
    }
    }
    if (status < 0) {
        PyObject *exc = shim_err_take();
        job_forget(job);
        shim_err_restore(exc);
    } else {
        job_forget(job);
    }
    return status;
}

/* Releases waiting for the thread that created their owner (GIL: the queue
 * is only touched with the GIL held). */
static release_job *pending;
int64_t pending_count;

static void enqueue(release_job job)
{
    release_job *copy = PyMem_RawMalloc(sizeof *copy);
    if (copy == NULL) {
        /* cannot defer: releasing on the wrong thread beats leaking */
        job_run(&job, 0);
        return;
    }
    *copy = job;
    copy->next = pending;
    pending = copy;
    ATOMIC_ADD(&pending_count, 1);
}

int pending_run_mine(int raise_errors)
{
    if (ATOMIC_LOAD(&pending_count) == 0)
        return 0;
    unsigned long me = PyThread_get_thread_ident();
    PyObject *first_error = NULL;
    release_job **link = &pending;
    while (*link != NULL) {
        release_job *job = *link;
        if (job->thread != me) {
            link = &job->next;
            continue;
        }
        *link = job->next;
        ATOMIC_ADD(&pending_count, -1);
        if (job_run(job, raise_errors) < 0) {
            if (first_error == NULL)
                first_error = shim_err_take();
            else
                PyErr_WriteUnraisable(NULL);
        }
        PyMem_RawFree(job);
        link = &pending; /* a release may have queued or run others */
    }
    if (first_error != NULL) {
        shim_err_restore(first_error);
        return -1;
    }
    return 0;
}

/* Runs the release if it has not run yet (see job_run for from_user). */
static int run_release(OwnerObject *o, int from_user)
{
    int64_t before = ATOMIC_FETCH_OR(&o->counts.state, STATE_RELEASED);
    if ((before & STATE_RELEASED) && PYBUF_FAULT != FAULT_DOUBLE_RELEASE)
        return 0;
    unregister(o);
    release_job job = take_job(o);
    int status = 0;
    if (owner_is_foreign(o)) {
        /* The parent process owns this memory and releases it there. */
        job_forget(&job);
    } else if (job.thread != 0 && job.thread != PyThread_get_thread_ident() &&
               job.kind != RELEASE_NONE) {
        enqueue(job);
    } else {
        o->releasing_thread = PyThread_get_thread_ident();
        status = job_run(&job, from_user);
        o->releasing_thread = 0;
    }
    ATOMIC_OR(&o->counts.state, STATE_DONE);
    return status;
}

void owner_wait_released(OwnerObject *o)
{
    /* Another thread may be inside a C release, without the GIL: give it the
     * GIL and the CPU until it is done. Rare, and short: no condition
     * variable is worth its setup on every owner. */
    unsigned long me = PyThread_get_thread_ident();
    while ((ATOMIC_LOAD(&o->counts.state) & (STATE_RELEASED | STATE_DONE)) == STATE_RELEASED &&
           o->releasing_thread != me) {
        Py_BEGIN_ALLOW_THREADS
        sched_yield();
        Py_END_ALLOW_THREADS
    }
}

void owner_disarm(OwnerObject *o)
{
    ATOMIC_OR(&o->counts.state, STATE_RELEASED | STATE_CLOSED | STATE_DONE);
    unregister(o);
    release_job job = take_job(o);
    /* What pybuf itself took (an export, an allocation, a mapping) goes back;
     * the caller's release does not run: ownership was never taken. */
    if (job.kind == RELEASE_PYBUFFER || job.kind == RELEASE_ALIGNED || job.kind == RELEASE_MUNMAP)
        job_run(&job, 0);
    else
        job_forget(&job);
}

void owner_maybe_release_after_buffer(OwnerObject *o)
{
    int64_t state = ATOMIC_LOAD(&o->counts.state);
    if (state & STATE_RELEASED)
        return;
    if ((state & STATE_CLOSED) && ATOMIC_LOAD(&o->counts.buffers) == 0)
        run_release(o, 0);
}

/* The owner is garbage and no code can reach its buffers or their exports
 * any more (collector.c says when that is), or its last reference is gone. */
void owner_release_garbage(OwnerObject *o)
{
    run_release(o, 0);
}

/* close(): returns -1 with an exception when the release raised. */
int owner_close_release(OwnerObject *o)
{
    ATOMIC_OR(&o->counts.state, STATE_CLOSED);
    if (ATOMIC_LOAD(&o->counts.buffers) == 0 || PYBUF_FAULT == FAULT_EARLY_RELEASE)
        return run_release(o, 1);
    return 0;
}
