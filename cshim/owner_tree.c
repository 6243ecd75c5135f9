/*
 * owner_tree.c: memory that belongs to other memory.
 *
 * A child owner (Owner(..., parent=p)) stands for memory inside its parent's:
 * a text node's content inside its document, a column blob inside its
 * statement. The rule: a parent's release runs only after every child's
 * release has run, whatever order the Python objects die in and whoever
 * decides the release (close(), the last Buffer, the collector, exit, the
 * end of an interpreter, the creator thread).
 *
 * How it holds:
 *   - a child holds its parent strongly (`parent`), so no deallocation and no
 *     garbage collection can free the parent while the child lives: if the
 *     child is reachable, so is the parent;
 *   - a child's release job holds the parent too (`rel.parent`), counted in
 *     the parent's `pending_children`; the count drops when that job has run,
 *     here, on the creator thread, or was forgotten (release.c,
 *     release_job_forget);
 *   - run_release (release.c) is the one gate: a parent whose release is due
 *     while the count is not zero is marked DUE instead, and the last child's
 *     job runs it. In a garbage cycle the collector calls the owners'
 *     callbacks in any order: a parent's sets DUE, its last child's releases
 *     it.
 *
 * The list of a parent's children (`first_child`, siblings) holds the
 * children not yet RELEASED, borrowed: a child unlinks itself when it is
 * released, before it can be deallocated. It lets close() close a subtree
 * (children first: their memory is the parent's) and close(strict=True) and
 * invalidate() name the children that still hold memory. A parent and its
 * children belong to one interpreter (tree_adopt checks the type, which is
 * per interpreter), and every change to the list and the count runs with
 * that interpreter's GIL held (creation, release, a creator thread's queue,
 * a DLPack deleter, which takes the GIL first): GIL. A free-threaded build
 * has no GIL and takes `tree_lock`, never across a call into Python.
 *
 * Hostile Python (docs/ARCHITECTURE.md): a subtree is copied into an array
 * that holds its owners before any release (Python code) runs, and every
 * owner of it is CLOSED before the first release, so no release can add a
 * child or a Buffer to the subtree being closed.
 */
#include "shim.h"

#include <pthread.h>

#ifdef Py_GIL_DISABLED
static pthread_mutex_t tree_lock = PTHREAD_MUTEX_INITIALIZER;
#define TREE_LOCK() pthread_mutex_lock(&tree_lock)
#define TREE_UNLOCK() pthread_mutex_unlock(&tree_lock)
#else
#define TREE_LOCK() ((void)0)
#define TREE_UNLOCK() ((void)0)
#endif

int tree_adopt(OwnerObject *child, PyObject *parent_obj)
{
    if (!PyObject_TypeCheck(parent_obj, child->st->owner_type)) {
        PyErr_Format(PyExc_TypeError,
                     "parent must be a pybuf.Owner of this interpreter, not %.100s",
                     Py_TYPE(parent_obj)->tp_name);
        return -1;
    }
    OwnerObject *parent = (OwnerObject *)parent_obj;
    if (owner_check_open(parent) < 0)
        return -1;
    child->parent = (OwnerObject *)Py_NewRef(parent);
    child->rel.parent = (OwnerObject *)Py_NewRef(parent);
    gil_counter_add(&parent->pending_children, 1);
    TREE_LOCK();
    child->prev_sibling = NULL;
    child->next_sibling = parent->first_child;
    if (parent->first_child != NULL)
        parent->first_child->prev_sibling = child;
    parent->first_child = child;
    TREE_UNLOCK();
    return 0;
}

void tree_unlink(OwnerObject *child)
{
    OwnerObject *p = child->parent;
    if (p == NULL)
        return;
    TREE_LOCK();
    if (child->prev_sibling != NULL)
        child->prev_sibling->next_sibling = child->next_sibling;
    else if (p->first_child == child)
        p->first_child = child->next_sibling;
    else
        goto done; /* not linked (unlinked already) */
    if (child->next_sibling != NULL)
        child->next_sibling->prev_sibling = child->prev_sibling;
    child->prev_sibling = child->next_sibling = NULL;
done:
    TREE_UNLOCK();
}

/* Calls visit(d, ctx) for every linked descendant of `root`, parents before
 * their children (pre-order). TREE_LOCK held: no Python code in `visit`. */
static void walk_locked(OwnerObject *root, void (*visit)(OwnerObject *, void *), void *ctx)
{
    OwnerObject *c = root->first_child;
    while (c != NULL) {
        visit(c, ctx);
        if (c->first_child != NULL) {
            c = c->first_child;
            continue;
        }
        while (c != root && c->next_sibling == NULL)
            c = c->parent;
        if (c == root)
            break;
        c = c->next_sibling;
    }
}

typedef struct {
    OwnerObject **items;
    Py_ssize_t n, cap;
} owner_list;

static void count_one(OwnerObject *d, void *ctx)
{
    (void)d;
    ((owner_list *)ctx)->cap++;
}

static void hold_one(OwnerObject *d, void *ctx)
{
    owner_list *l = ctx;
    if (l->n < l->cap)
        l->items[l->n++] = (OwnerObject *)Py_NewRef(d);
}

/* The descendants of `root`, pre-order, held: 0 (l->n may be 0), or -1 with
 * MemoryError. */
static int subtree_hold(OwnerObject *root, owner_list *l)
{
    l->items = NULL;
    l->n = l->cap = 0;
    TREE_LOCK();
    walk_locked(root, count_one, l);
    if (l->cap > 0 && (l->items = PyMem_RawMalloc(sizeof *l->items * (size_t)l->cap)) != NULL)
        walk_locked(root, hold_one, l);
    TREE_UNLOCK();
    if (l->cap > 0 && l->items == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Drops the holds (each decref may run any code). */
static void subtree_drop(owner_list *l)
{
    for (Py_ssize_t i = 0; i < l->n; i++)
        Py_DECREF(l->items[i]);
    PyMem_RawFree(l->items);
    l->items = NULL;
    l->n = 0;
}

int tree_close(OwnerObject *o)
{
    owner_list l;
    if (subtree_hold(o, &l) < 0)
        return -1;
    /* No new buffer and no new child anywhere in the subtree before the
     * first release (Python code) runs. */
    owner_mark_closed(o);
    for (Py_ssize_t i = 0; i < l.n; i++)
        owner_mark_closed(l.items[i]);
    PyObject *first_error = NULL;
    /* Reverse pre-order: every owner after all of its descendants. */
    for (Py_ssize_t i = l.n - 1; i >= 0; i--) {
        OwnerObject *d = l.items[i];
        if (owner_close_one(d, 0) < 0) {
            if (first_error == NULL)
                first_error = shim_err_take();
            else
                PyErr_WriteUnraisable((PyObject *)d);
        }
    }
    if (owner_close_one(o, 0) < 0) {
        if (first_error == NULL)
            first_error = shim_err_take();
        else
            PyErr_WriteUnraisable((PyObject *)o);
    }
    subtree_drop(&l);
    if (first_error != NULL) {
        shim_err_restore(first_error);
        return -1;
    }
    return 0;
}

static Py_ssize_t linked_children(OwnerObject *o)
{
    Py_ssize_t n = 0;
    TREE_LOCK();
    for (OwnerObject *c = o->first_child; c != NULL; c = c->next_sibling)
        n++;
    TREE_UNLOCK();
    return n;
}

int64_t tree_children_in_flight(OwnerObject *o)
{
    return ATOMIC_LOAD(&o->pending_children) - linked_children(o);
}

/* One line (and its holders) for a descendant that holds memory, appended. */
static int append_holder(PyObject **msg, OwnerObject *d)
{
    PyObject *label = owner_label(d);
    PyObject *parent = label ? owner_label(d->parent) : NULL;
    PyObject *text = parent ? owner_holders_text(d) : NULL;
    PyObject *line = NULL;
    if (text != NULL)
        line = PyUnicode_FromFormat(
            "%U\n  %U (child of %U): %lld buffer(s) and %lld export(s)%s%U", *msg, label,
            parent, (long long)ATOMIC_LOAD(&d->counts.buffers),
            (long long)ATOMIC_LOAD(&d->counts.exports), PyUnicode_GET_LENGTH(text) ? ":\n" : "",
            text);
    Py_XDECREF(label);
    Py_XDECREF(parent);
    Py_XDECREF(text);
    if (line == NULL)
        return -1;
    Py_SETREF(*msg, line);
    return 0;
}

/* Whether a descendant keeps the subtree from being released now. */
static int holds_memory(OwnerObject *d)
{
    int64_t s = ATOMIC_LOAD(&d->counts.state);
    if (s & STATE_RELEASED)
        return 0;
    return ATOMIC_LOAD(&d->counts.buffers) > 0;
}

PyObject *tree_holders(OwnerObject *o, int *err)
{
    *err = 0;
    owner_list l;
    if (subtree_hold(o, &l) < 0) {
        *err = 1;
        return NULL;
    }
    PyObject *msg = NULL;
    int64_t in_flight = 0;
    for (Py_ssize_t i = 0; i < l.n; i++) {
        OwnerObject *d = l.items[i];
        in_flight += tree_children_in_flight(d);
        int bound = d->rel.thread != NULL && d->rel.kind != RELEASE_NONE &&
                    d->rel.thread != creator_thread_current(0);
        if (!holds_memory(d) && !bound)
            continue;
        if (msg == NULL && (msg = PyUnicode_FromString("its children still hold its memory:")) == NULL)
            break;
        if (append_holder(&msg, d) < 0) {
            Py_CLEAR(msg);
            break;
        }
        if (bound) {
            PyObject *full = PyUnicode_FromFormat(
                "%U (its release must run on the thread that created it)", msg);
            Py_SETREF(msg, full);
            if (msg == NULL)
                break;
        }
    }
    in_flight += tree_children_in_flight(o);
    if (msg == NULL && !PyErr_Occurred() && in_flight > 0)
        msg = PyUnicode_FromFormat("%lld of its children's releases have not returned yet "
                                   "(queued for their creator threads, or running on "
                                   "another thread)", (long long)in_flight);
    if (msg == NULL && PyErr_Occurred())
        *err = 1;
    subtree_drop(&l);
    if (*err)
        Py_CLEAR(msg);
    return msg;
}
