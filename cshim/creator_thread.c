/*
 * creator_thread.c: which thread created an owner made with
 * release_thread="creator", and whether that thread still runs.
 *
 * A thread ident names a thread only while it runs: the OS hands it to the
 * next thread. So each Python thread that creates such an owner gets a
 * creator record, found through a capsule in its thread-state dict. Owners
 * and queued releases hold the record (counted); the capsule holds it for the
 * thread. CPython clears a thread's dict on that thread as it ends: the
 * capsule's destructor marks the record ended and runs the releases queued
 * for it, on the right thread, before it is gone. A release due after its
 * creator ended runs where it is due, with a ResourceWarning: the thread it
 * wanted is gone, and leaking the memory would be worse.
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "shim.h"

#define CAPSULE_NAME "pybuf.creator_thread"

static creator_thread *record_new(void)
{
    creator_thread *c = PyMem_RawCalloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->refs = 1; /* the thread's capsule */
    c->running = 1;
    return c;
}

void creator_thread_incref(creator_thread *c)
{
    if (c != NULL)
        ATOMIC_ADD(&c->refs, 1);
}

void creator_thread_decref(creator_thread *c)
{
    if (c != NULL && ATOMIC_ADD(&c->refs, -1) == 0)
        PyMem_RawFree(c);
}

/* The thread is ending (its dict is being cleared, on that thread). */
static void capsule_destroyed(PyObject *capsule)
{
    creator_thread *c = PyCapsule_GetPointer(capsule, CAPSULE_NAME);
    if (c == NULL) {
        PyErr_Clear();
        return;
    }
    PyObject *exc = shim_err_take();
    pending_run_for(c);
    __atomic_store_n(&c->running, 0, __ATOMIC_RELEASE);
    shim_err_restore(exc);
    creator_thread_decref(c);
}

/* This thread's record; with `create`, made on first use (new reference not
 * taken: borrowed from the thread's capsule). NULL without an error when
 * there is none and `create` is 0. */
creator_thread *creator_thread_current(int create)
{
    PyObject *dict = PyThreadState_GetDict();
    if (dict == NULL) {
        if (create)
            PyErr_SetString(PyExc_RuntimeError, "release_thread: no thread state dict");
        return NULL;
    }
    PyObject *capsule = PyDict_GetItemString(dict, CAPSULE_NAME);
    if (capsule != NULL)
        return PyCapsule_GetPointer(capsule, CAPSULE_NAME);
    if (!create)
        return NULL;
    creator_thread *c = record_new();
    if (c == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    capsule = PyCapsule_New(c, CAPSULE_NAME, capsule_destroyed);
    if (capsule == NULL) {
        PyMem_RawFree(c);
        return NULL;
    }
    int r = PyDict_SetItemString(dict, CAPSULE_NAME, capsule);
    Py_DECREF(capsule);
    return r < 0 ? NULL : c;
}

int creator_thread_running(creator_thread *c)
{
    return __atomic_load_n(&c->running, __ATOMIC_ACQUIRE);
}
