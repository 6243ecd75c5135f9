/*
 * release.c: how an owner's memory is given back, and when; the owner state
 * machine, written once.
 *
 * The release runs exactly once. The RELEASED bit is set, the owner
 * unregistered and the release moved out of the owner before it is called:
 * the call may release the GIL (C functions) or run arbitrary Python code, and
 * anything that happens meanwhile (another thread, a __del__ that resurrects a
 * Buffer of this owner) must already see a released owner that refuses new
 * exports.
 *
 * States: bits of counts.state (the Go registry reads CLOSED and RELEASED).
 * Every transition below goes through state_add(), which asserts the
 * invariants (compiled in the test build, out of wheels: NDEBUG).
 *
 *   bit       set by                                  when
 *   CLOSED    owner_close_release (close, __exit__),  the owner gives out no new
 *             owner_release_at_interp_end, disarm     buffers or exports
 *   ARMED     Owner_finalize (collector, once)        garbage; collector.c releases
 *                                                     it after the next collection
 *   ENDING    owner_release_at_interp_end             its interpreter ends: release
 *                                                     at the last export
 *   RELEASED  run_release, owner_disarm (once)        the release is taken out of
 *                                                     the owner: no new views
 *   DONE      run_release, owner_disarm               the release has returned (or
 *                                                     was queued for its creator
 *                                                     thread, or is the parent's)
 *   DUE       run_release, while children's jobs      its own release is due; the
 *             have not run (owner_tree.c)             last child's job runs it
 *
 *   open --close()--> CLOSED --last Buffer dies--> RELEASED --returns--> DONE
 *   open --garbage--> ARMED --next collection (collector.c)--> RELEASED --> DONE
 *   any --interpreter ends--> CLOSED|ENDING --last export--> RELEASED --> DONE
 *   any of the above, with children's releases pending --> DUE --last child's
 *         release job has run (or was forgotten)--> RELEASED --> DONE
 *   fresh --constructor fails--> CLOSED|RELEASED|DONE at once (owner_disarm:
 *         what pybuf itself took goes back, the caller's release never runs)
 *
 * Invariants (state_check): DONE implies RELEASED; ENDING implies CLOSED;
 * RELEASED implies no release left in the owner and no registry entry;
 * RELEASED is set once. A release from close() or after the last Buffer finds
 * no Buffer and no export; one at interpreter end or after the last export
 * finds no export. (A garbage owner may still be counted by a view in its own
 * dead cycle: nothing can run on it.)
 *
 * Two words for "released" on purpose: the `released` attribute reads DONE
 * (close(strict=True) and tests wait for the release to have returned); the
 * repr and error messages say "released" from RELEASED on (no new views).
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "shim.h"

#include <assert.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

/* Asserts of the state machine: off in the fault builds, whose point is to
 * show that the tests (not these asserts) catch a broken machine. */
#if PYBUF_FAULT == 0
#define STATE_ASSERT(cond) assert(cond)
#else
#define STATE_ASSERT(cond) ((void)0)
#endif

static void state_check(const OwnerObject *o)
{
    int64_t s = ATOMIC_LOAD(&o->counts.state);
    (void)s;
    STATE_ASSERT(!(s & STATE_DONE) || (s & STATE_RELEASED));
    STATE_ASSERT(!(s & STATE_ENDING) || (s & STATE_CLOSED));
    /* not "RELEASED implies unregistered": with no GIL, another thread may
     * look between the releasing thread's RELEASED and its unregister */
    STATE_ASSERT(!(s & STATE_DONE) || owner_core_id(o) == 0);
    STATE_ASSERT(!(s & STATE_DONE) || (o->rel.kind == RELEASE_NONE && o->rel.callable == NULL &&
                                       o->rel.keepalive == NULL && o->rel.arg == NULL &&
                                       o->rel.source == NULL));
    STATE_ASSERT(ATOMIC_LOAD(&o->counts.buffers) >= 0 && ATOMIC_LOAD(&o->counts.exports) >= 0);
    /* a parent releases after every child's release (owner_tree.c) */
    STATE_ASSERT(!(s & STATE_RELEASED) || (ATOMIC_LOAD(&o->pending_children) == 0 &&
                                           o->first_child == NULL));
}

/* The one way a state bit is set: returns the state before. */
static int64_t state_add(OwnerObject *o, int64_t bits)
{
    state_check(o);
    int64_t before = gil_fetch_or(&o->counts.state, bits);
    STATE_ASSERT(!(bits & STATE_DONE) || (before & STATE_RELEASED) || (bits & STATE_RELEASED));
    STATE_ASSERT(!(bits & STATE_ENDING) || (bits & STATE_CLOSED) || (before & STATE_CLOSED));
    return before;
}

int64_t owner_arm(OwnerObject *o) { return state_add(o, STATE_ARMED); }

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
        Py_XINCREF(job.arg);
        creator_thread_incref(job.thread);
        if (job.parent != NULL) {
            Py_INCREF(job.parent);
            gil_counter_add(&job.parent->pending_children, 1);
        }
        return job;
    }
    memset(&o->rel, 0, sizeof o->rel);
    return job;
}

/* Drops what the job held, the pending exception kept. Each decref may run
 * any code (a cffi `arg` made by ffi.gc runs its destructor; an `arg` or a
 * callable that closes over a wrapper frees that wrapper, and with it maybe
 * the owner the job came from): so it comes after every use of the owner. */
static void child_job_done(OwnerObject *parent);

void release_job_forget(release_job *job)
{
    PyObject *exc = shim_err_take();
    Py_CLEAR(job->callable);
    Py_CLEAR(job->keepalive);
    Py_CLEAR(job->arg);
    creator_thread_decref(job->thread);
    job->thread = NULL;
    OwnerObject *parent = job->parent;
    job->parent = NULL;
    if (parent != NULL) {
        child_job_done(parent); /* after the child's release: the parent's may run */
        Py_DECREF(parent);
    }
    shim_err_restore(exc);
}

/*
 * Calls a release; what the job holds stays held (release_job_forget drops it).
 * `from_user`: the caller is the user's own call (close(), run_pending()), so
 * a Python release that raises propagates (-1); from deallocation or the
 * garbage collector it goes to sys.unraisablehook.
 */
static int job_call(release_job *job, int from_user)
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
    return status;
}

/* Calls a release, then drops what it held. */
static int job_run(release_job *job, int from_user)
{
    int status = job_call(job, from_user);
    release_job_forget(job);
    return status;
}

/*
 * Releases waiting for the thread that created their owner. Each is bound to
 * one thread of one interpreter, but the list is per process: own-GIL
 * interpreters reach it in parallel, so it is behind `pending_lock`, never
 * held while a release runs. A child forked while another thread held it
 * gets a fresh one (the parent's queued releases never run in a child).
 */
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static release_job *pending_releases; /* queued for their creator threads */
int64_t pending_count;

static void reset_pending_in_child(void)
{
    pthread_mutex_init(&pending_lock, NULL);
    pending_releases = NULL; /* leaked on purpose: their objects belong to the parent */
    pending_count = 0;
}
static pthread_once_t pending_atfork_once = PTHREAD_ONCE_INIT;
static void pending_install_atfork(void) { pthread_atfork(NULL, NULL, reset_pending_in_child); }

/* 0: queued (the queue holds what the job holds); -1: no memory to queue it. */
static int enqueue(release_job job)
{
    release_job *copy = PyMem_RawMalloc(sizeof *copy);
    if (copy == NULL)
        return -1;
    *copy = job;
    pthread_once(&pending_atfork_once, pending_install_atfork);
    pthread_mutex_lock(&pending_lock);
    copy->next = pending_releases;
    pending_releases = copy;
    ATOMIC_ADD(&pending_count, 1);
    pthread_mutex_unlock(&pending_lock);
    return 0;
}

/* Takes the first queued release of creator `c` off the list, or NULL. */
static release_job *dequeue_for(creator_thread *c)
{
    pthread_mutex_lock(&pending_lock);
    release_job *job = NULL;
    for (release_job **link = &pending_releases; *link != NULL; link = &(*link)->next)
        if ((*link)->thread == c) {
            job = *link;
            *link = job->next;
            ATOMIC_ADD(&pending_count, -1);
            break;
        }
    pthread_mutex_unlock(&pending_lock);
    return job;
}

/* Runs the queued releases of creator `c`, one at a time, outside the lock
 * (a release may queue or run others); returns how many ran, or -1. The
 * record is held across the releases, which are Python code. */
static int64_t pending_run(creator_thread *c, int raise_errors)
{
    PyObject *first_error = NULL;
    release_job *job;
    int64_t ran = 0;
    creator_thread_incref(c);
    while ((job = dequeue_for(c)) != NULL) {
        if (job_run(job, raise_errors) < 0) {
            if (first_error == NULL)
                first_error = shim_err_take();
            else
                PyErr_WriteUnraisable(NULL);
        }
        PyMem_RawFree(job);
        ran++;
    }
    creator_thread_decref(c);
    if (first_error != NULL) {
        shim_err_restore(first_error);
        return -1;
    }
    return ran;
}

int64_t pending_run_mine(int raise_errors)
{
    if (ATOMIC_LOAD(&pending_count) == 0)
        return 0;
    creator_thread *me = creator_thread_current(0);
    return me == NULL ? 0 : pending_run(me, raise_errors);
}

void pending_run_for(creator_thread *c)
{
    if (ATOMIC_LOAD(&pending_count) != 0)
        pending_run(c, 0);
}

/*
 * A release whose creator thread has ended can never run where it must. It is
 * kept, not run and not dropped: still listed by pybuf.live() (under a new
 * registry entry, since the owner object goes away) and named by
 * PYBUF_REPORT_LEAKS at exit, with a ResourceWarning now.
 */
typedef struct stranded {
    pybuf_counts counts;      /* what live() reads: closed, no buffer left */
    char *name;
    release_job job;          /* kept, never run */
    struct stranded *next;
} stranded;
static stranded *stranded_jobs; /* behind pending_lock: any interpreter strands */

static void strand(OwnerObject *o, release_job job)
{
    PyObject *exc = shim_err_take();
    if (PyErr_WarnFormat(PyExc_ResourceWarning, 1,
                         "pybuf: owner %R must be released on the thread that created it "
                         "(release_thread=\"creator\"), which has ended: its release will "
                         "not run (pybuf.live() lists it)", o->name ? o->name : Py_None) < 0)
        PyErr_WriteUnraisable(NULL);
    shim_err_restore(exc);
    stranded *s = PyMem_RawCalloc(1, sizeof *s);
    const core_api *core = core_if_usable();
    if (s == NULL || core == NULL || registry_flush() < 0) {
        PyMem_RawFree(s);
        creator_thread_decref(job.thread); /* the objects stay referenced: never freed */
        return;
    }
    s->counts.state = PYBUF_STATE_CLOSED;
    s->counts.nbytes = o->fixed_nbytes > 0 ? o->fixed_nbytes : 0;
    s->name = o->name_utf8 ? strdup(o->name_utf8) : NULL;
    s->job = job;
    pthread_mutex_lock(&pending_lock);
    s->next = stranded_jobs;
    stranded_jobs = s;
    pthread_mutex_unlock(&pending_lock);
    pybuf_registration reg = {registry_new_id(), s->name, o->fixed_nbytes, NULL, &s->counts,
                              o->interp, 0};
    core->registry_apply(&reg, 1, NULL, 0);
}

/* Where a release bound to its creator thread runs: 1 here, 0 queued for
 * its thread, -1 nowhere (the thread has ended). */
static int run_here(const release_job *job)
{
    if (job->thread == NULL || job->kind == RELEASE_NONE ||
        job->thread == creator_thread_current(0))
        return 1;
    return creator_thread_running(job->thread) ? 0 : -1;
}

/* Runs the release if it has not run yet (see job_call for from_user).
 * The owner may be gone when this returns: what the job held (`arg`, the
 * callable), then the owner's own hold, are dropped last, and the first may
 * have held the owner's last reference through a cycle (arg -> wrapper ->
 * owner). */
static int run_release(OwnerObject *o, int from_user)
{
    /* The one gate of trees: a parent's memory holds its children's, so its
     * release waits (DUE) until every child's release job has run; the last
     * one to finish runs it (child_job_done). Re-read after DUE is set: on a
     * free-threaded build the last child may finish in between. */
    if (ATOMIC_LOAD(&o->pending_children) > 0 && PYBUF_FAULT != FAULT_PARENT_FIRST &&
        !(ATOMIC_LOAD(&o->counts.state) & STATE_RELEASED)) {
        state_add(o, STATE_DUE);
        if (ATOMIC_LOAD(&o->pending_children) > 0)
            return 0;
    }
    int64_t before = state_add(o, STATE_RELEASED);
    if ((before & STATE_RELEASED) && PYBUF_FAULT != FAULT_DOUBLE_RELEASE)
        return 0;
    /* The release is Python code, and so is dropping what it held: in a
     * garbage cycle the owner's last reference (its wrapper's) may go while
     * it runs. Held until DONE is set; not while it is being deallocated (its
     * count is 0 then, and nothing else can free it). */
    int owner_held = Py_REFCNT(o) > 0;
    if (owner_held)
        Py_INCREF(o);
    unregister(o);
    tree_unlink(o); /* gives out nothing more: no longer a child to close or name */
    release_job job = take_job(o);
    state_check(o);
    int status = 0, where, held = 1;
    if (owner_is_foreign(o)) {
        /* The parent process owns this memory and releases it there. */
    } else if ((where = run_here(&job)) < 0) {
        strand(o, job); /* the stranded list takes what the job holds */
        held = 0;
    } else if (where == 0 && enqueue(job) == 0) {
        held = 0;       /* the queue does */
    } else {
        /* here, or (no memory to queue it) on the wrong thread: that beats leaking */
        ATOMIC_STORE(&o->releasing_thread, PyThread_get_thread_ident());
        status = job_call(&job, from_user);
        ATOMIC_STORE(&o->releasing_thread, 0UL);
    }
    state_add(o, STATE_DONE);
    state_check(o);
    if (held)
        release_job_forget(&job);
    /* Released: no longer part of a tree, and no longer keeping its parent
     * object alive (its job held the parent until it ran). */
    Py_CLEAR(o->parent);
    if (owner_held)
        Py_DECREF(o); /* may deallocate it now: its dealloc finds it released */
    return status;
}

/* A child's release job has run (or was forgotten): if it was the last one
 * and the parent's own release is due, it runs now. */
static void child_job_done(OwnerObject *parent)
{
    if (gil_counter_add(&parent->pending_children, -1) == 0 &&
        (ATOMIC_LOAD(&parent->counts.state) & (STATE_DUE | STATE_RELEASED)) == STATE_DUE)
        run_release(parent, 0);
}

void owner_wait_released(OwnerObject *o)
{
    /* Another thread may be inside a C release, without the GIL: give it the
     * GIL and the CPU until it is done. Rare, and short: no condition
     * variable is worth its setup on every owner. */
    unsigned long me = PyThread_get_thread_ident();
    while ((ATOMIC_LOAD(&o->counts.state) & (STATE_RELEASED | STATE_DONE)) == STATE_RELEASED &&
           ATOMIC_LOAD(&o->releasing_thread) != me) {
        Py_BEGIN_ALLOW_THREADS
        sched_yield();
        Py_END_ALLOW_THREADS
    }
}

void owner_disarm(OwnerObject *o)
{
    int64_t before = state_add(o, STATE_RELEASED | STATE_CLOSED | STATE_DONE);
    (void)before;
    STATE_ASSERT(!(before & STATE_RELEASED)); /* only a fresh owner is disarmed */
    unregister(o);
    tree_unlink(o);
    release_job job = take_job(o);
    state_check(o);
    /* What pybuf itself took (an export, an allocation, a mapping) goes back;
     * the caller's release does not run: ownership was never taken. */
    if (job.kind == RELEASE_PYBUFFER || job.kind == RELEASE_ALIGNED || job.kind == RELEASE_MUNMAP)
        job_run(&job, 0);
    else
        release_job_forget(&job);
}

void owner_maybe_release_after_buffer(OwnerObject *o)
{
    int64_t state = ATOMIC_LOAD(&o->counts.state);
    if (state & STATE_RELEASED)
        return;
    if ((state & STATE_CLOSED) && ATOMIC_LOAD(&o->counts.buffers) == 0) {
        /* every export holds a Buffer: none is left either */
        STATE_ASSERT(ATOMIC_LOAD(&o->counts.exports) == 0);
        run_release(o, 0);
    }
}

/* The owner is garbage and no code can reach its buffers or their exports
 * any more (collector.c says when that is), or its last reference is gone. */
void owner_release_garbage(OwnerObject *o)
{
    run_release(o, 0);
}

/* The owner's interpreter is ending and its threads are gone: a release
 * meant for the creator thread runs here or never. Released now when no export
 * is left, else when the last one goes (an export shared with another
 * interpreter may still read the memory). */
void owner_release_at_interp_end(OwnerObject *o)
{
    creator_thread_decref(o->rel.thread);
    o->rel.thread = NULL;
    int now;
    OWNER_LOCK(o); /* against an export taken at once (buffer_export_take) */
    state_add(o, STATE_CLOSED | STATE_ENDING);
    now = ATOMIC_LOAD(&o->counts.exports) == 0;
    OWNER_UNLOCK();
    if (now)
        run_release(o, 0);
}

void owner_maybe_release_after_export(OwnerObject *o)
{
    int64_t state = ATOMIC_LOAD(&o->counts.state);
    if ((state & (STATE_ENDING | STATE_RELEASED)) == STATE_ENDING &&
        ATOMIC_LOAD(&o->counts.exports) == 0)
        run_release(o, 0);
}

void owner_mark_closed(OwnerObject *o) { state_add(o, STATE_CLOSED); }

/* One owner, its children not looked at: returns -1 with an exception when
 * the release raised; with `strict`, 1 (and the owner left open) when a
 * Buffer is alive. The count read and CLOSED set together: a Buffer made
 * meanwhile on another thread (free-threaded) is either counted here or
 * refused (buffer_new). */
int owner_close_one(OwnerObject *o, int strict)
{
    int busy = 0, release = 0;
    OWNER_LOCK(o);
    if (strict && ATOMIC_LOAD(&o->counts.buffers) > 0) {
        busy = 1;
    } else {
        state_add(o, STATE_CLOSED);
        release = ATOMIC_LOAD(&o->counts.buffers) == 0 || PYBUF_FAULT == FAULT_EARLY_RELEASE;
    }
    OWNER_UNLOCK();
    if (busy)
        return 1;
    if (release) {
        STATE_ASSERT(ATOMIC_LOAD(&o->counts.exports) == 0);
        return run_release(o, 1);
    }
    return 0;
}

/* close(): returns -1 with an exception when a release raised. A parent's
 * children close with it (their memory is its memory), children first. */
int owner_close_release(OwnerObject *o)
{
    if (o->first_child != NULL)
        return tree_close(o);
    return owner_close_one(o, 0);
}
