/*
 * registry_queue.c: the owners the Go registry should know about, sent in
 * batches, and the list of every registered owner of every interpreter.
 *
 * pybuf.live() and the diagnostics read the registry rarely; owners come and
 * go all the time. So registrations wait here, however many, until something
 * reads the registry (registry_flush), and then cross into Go together, in
 * calls of up to BATCH; an owner that lives and dies between two reads never
 * crosses at all, and a program that holds 10^6 owners and never asks
 * live() never grows Go's map. Removals of owners already in Go wait for the
 * next read too, up to BATCH of them.
 *
 * The queue and the list are per process, and own-GIL interpreters register
 * owners in parallel: everything here is behind `queue_lock`. The lock is
 * held across the crossing into Go (which never calls back into Python) and
 * never while waiting for a GIL.
 */
#include "shim.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#define BATCH 256

/* A spin lock, not a mutex: taken twice in every owner's life and held for a
 * few stores, except across a flush into Go, during which a waiter yields
 * the CPU. No locked operation but the exchange that takes it. */
static int queue_lock;

static void queue_lock_take(void)
{
    while (__atomic_exchange_n(&queue_lock, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&queue_lock, __ATOMIC_RELAXED))
            sched_yield();
}

static void queue_lock_give(void) { __atomic_store_n(&queue_lock, 0, __ATOMIC_RELEASE); }

static OwnerObject **unsent;            /* registered here, not yet in Go */
static int nunsent, cap_unsent;
static uint64_t gone[BATCH];            /* in Go, to be forgotten there */
static int ngone;
static uint64_t last_id;
/* Every registered owner, newest first: how an ending interpreter finds its
 * own (interp_end.c). */
static OwnerObject *live_head;

/* A forked child has one thread: whoever held the lock in the parent is gone. */
static void reset_lock_in_child(void) { queue_lock = 0; }
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void) { pthread_atfork(NULL, NULL, reset_lock_in_child); }

static int flush_locked(void)
{
    if (nunsent == 0 && ngone == 0)
        return 0;
    const core_api *core = core_if_usable();
    if (core == NULL)
        return -1;
    pybuf_registration regs[BATCH];
    int first = 1;
    for (int start = 0; start < nunsent || first; start += BATCH, first = 0) {
        int n = nunsent - start < BATCH ? nunsent - start : BATCH;
        for (int i = 0; i < n; i++) {
            OwnerObject *o = unsent[start + i];
            /* a child is registered while its parent is (the parent's
             * release, which unregisters it, waits for the child's) */
            regs[i] = (pybuf_registration){o->core_id, o->name_utf8, o->fixed_nbytes, o->site,
                                           &o->counts, o->interp,
                                           o->parent ? o->parent->core_id : 0};
        }
        core->registry_apply(regs, n, first ? gone : NULL, first ? ngone : 0);
        for (int i = 0; i < n; i++) {
            OwnerObject *o = unsent[start + i];
            o->queue_slot = 0;
            free(o->site); /* Go keeps its own copy */
            o->site = NULL;
        }
    }
    nunsent = ngone = 0;
    return 0;
}

int registry_flush(void)
{
    queue_lock_take();
    int r = flush_locked();
    queue_lock_give();
    return r;
}

uint64_t registry_new_id(void)
{
    queue_lock_take();
    uint64_t id = ++last_id;
    queue_lock_give();
    return id;
}

int registry_add(OwnerObject *o, char *site)
{
    pthread_once(&atfork_once, install_atfork);
    queue_lock_take();
    ATOMIC_STORE(&o->core_id, ++last_id);
    o->site = site;
    if (nunsent == cap_unsent) {
        int cap = cap_unsent ? 2 * cap_unsent : BATCH;
        OwnerObject **grown = PyMem_RawRealloc(unsent, sizeof *grown * (size_t)cap);
        if (grown != NULL) {
            unsent = grown;
            cap_unsent = cap;
        } else {
            flush_locked(); /* no room to wait: send what waits now */
        }
    }
    if (nunsent == cap_unsent) { /* still full: no memory to queue it */
        ATOMIC_STORE(&o->core_id, (uint64_t)0);
        o->site = NULL;
        queue_lock_give();
        free(site);
        PyErr_NoMemory();
        return -1;
    }
    unsent[nunsent++] = o;
    o->queue_slot = nunsent;
    o->live_prev = NULL;
    o->live_next = live_head;
    if (live_head != NULL)
        live_head->live_prev = o;
    live_head = o;
    if (trace_on())
        flush_locked(); /* its buffers and exports are traced against it */
    queue_lock_give();
    return 0;
}

void registry_remove(OwnerObject *o)
{
    queue_lock_take();
    if (o->core_id == 0) {
        queue_lock_give();
        return;
    }
    if (o->queue_slot != 0) {
        int i = o->queue_slot - 1;
        unsent[i] = unsent[--nunsent];
        unsent[i]->queue_slot = i + 1;
        o->queue_slot = 0;
    } else if (core_if_usable() != NULL) {
        if (ngone == BATCH)
            flush_locked();
        gone[ngone++] = o->core_id;
    }
    if (o->live_prev != NULL)
        o->live_prev->live_next = o->live_next;
    else
        live_head = o->live_next;
    if (o->live_next != NULL)
        o->live_next->live_prev = o->live_prev;
    o->live_prev = o->live_next = NULL;
    free(o->site);
    o->site = NULL;
    ATOMIC_STORE(&o->core_id, (uint64_t)0);
    queue_lock_give();
}

/* GIL (of `interp`): none of its owners can be deallocated meanwhile, so the
 * references taken under the lock are to live objects. */
OwnerObject **registry_owners_of(int64_t interp, Py_ssize_t *n)
{
    *n = 0;
    queue_lock_take();
    Py_ssize_t count = 0;
    for (OwnerObject *o = live_head; o != NULL; o = o->live_next)
        count += o->interp == interp;
    OwnerObject **out = count ? PyMem_RawMalloc(sizeof *out * (size_t)count) : NULL;
    if (out != NULL) {
        for (OwnerObject *o = live_head; o != NULL; o = o->live_next)
            if (o->interp == interp)
                out[(*n)++] = (OwnerObject *)Py_NewRef(o);
    }
    queue_lock_give();
    if (count && out == NULL)
        PyErr_NoMemory();
    return out;
}

/* Whether `interp` has an owner not yet released (collector_collect_at_exit). */
int registry_has_owners_of(int64_t interp)
{
    queue_lock_take();
    OwnerObject *o = live_head;
    while (o != NULL && o->interp != interp)
        o = o->live_next;
    queue_lock_give();
    return o != NULL;
}
