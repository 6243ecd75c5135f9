/*
 * shim.h: declarations shared by the C files of pybuf._pybuf.
 *
 * The shim owns everything that must run without Go: the Owner and Buffer
 * types, the buffer-protocol slots, the release call and the loader of the Go
 * core. Decisions about layouts and the registry of owners live in Go
 * (pybuf/); the shim reaches them through core_loader.h.
 */
#ifndef PYBUF_SHIM_H
#define PYBUF_SHIM_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <sys/types.h>

#include "pybuf_core.h"

/*
 * Planted faults, for proving that the tests can fail (tests_py/test_faults.py).
 * Never set in a real build: setup.py defines PYBUF_FAULT only when the
 * environment variable of that name is set at build time.
 */
#define FAULT_EARLY_RELEASE 1   /* close() releases even while buffers live */
#define FAULT_DOUBLE_RELEASE 2  /* the release may run twice */
#define FAULT_SKIP_EXPORT 3     /* every 7th export is not counted */
#define FAULT_EAGER_GC 4        /* a garbage owner without exports releases in its
                                   finalizer (0.1.0's collector timing) */
#define FAULT_ARG_NOT_HELD 5    /* an owner does not hold its `arg` (as before: a
                                   cffi ffi.new arg was freed before its release) */
#define FAULT_OOB_READ 6        /* __dlpack__ reads one int64 past its context's
                                   dims: harmless without a sanitizer, caught by
                                   AddressSanitizer (tests_py/test_sanitize.py) */
#define FAULT_PARENT_FIRST 7    /* a parent's release does not wait for its children's */
#define FAULT_PLAIN_COUNT 8     /* free-threaded: an owner's counts change by a plain
                                   read and write, as if a GIL serialized them; caught
                                   by ThreadSanitizer (tests_py/test_tsan.py) */
#ifndef PYBUF_FAULT
#define PYBUF_FAULT 0
#endif

/*
 * Counters and flags are read and written with these atomics. Own-GIL
 * subinterpreters run in parallel, so every piece of process-wide state is
 * either atomic or behind a pthread mutex (docs/INTERPRETERS.md); per-object
 * state is touched only by the interpreter that created the object, with its
 * GIL held. Where a path relies on that GIL, the comment says "GIL:".
 */
#define ATOMIC_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ATOMIC_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ATOMIC_ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)
/* Diagnostic counters (core uses, cache hits) that tests read: an atomic
 * load and store, no locked read-modify-write on the creation path. Two
 * interpreters counting at once may lose a count; nothing decides on them. */
#define COUNTER_ADD(p) __atomic_store_n((p), __atomic_load_n((p), __ATOMIC_RELAXED) + 1, \
                                        __ATOMIC_RELAXED)

/*
 * An owner's counts (`buffers`, `nbytes`, `exports`, `state`) and a
 * Buffer's `exports` change only on threads that hold the owner's
 * interpreter's GIL: a Buffer is made and deallocated there, the buffer
 * protocol and every state transition run there, and a DLPack deleter on
 * any other thread first takes that interpreter's GIL (dlpack.c,
 * drop_export_in_its_interp), as CPython does when another interpreter lets
 * go of a shared view. Anyone may read them (the Go registry, atomically).
 * With a GIL, a load and a store cannot interleave with another change, so
 * the locked read-modify-write, which costs more than the rest of a
 * Buffer's bookkeeping, is left out; a free-threaded build has no GIL and
 * takes it. gil_counter_add returns the new value, gil_fetch_or the old.
 */
static inline int64_t gil_counter_add(int64_t *p, int64_t v)
{
#if defined(Py_GIL_DISABLED) && PYBUF_FAULT == FAULT_PLAIN_COUNT
    return *p += v; /* planted: a data race between two threads of one interpreter */
#elif defined(Py_GIL_DISABLED)
    /* sequentially consistent: a count changed, then the state read (a Buffer
     * dies), against the state changed, then the count read (close()) */
    return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST);
#else
    int64_t n = __atomic_load_n(p, __ATOMIC_RELAXED) + v;
    __atomic_store_n(p, n, __ATOMIC_RELEASE);
    return n;
#endif
}

static inline int64_t gil_fetch_or(int64_t *p, int64_t bits)
{
#ifdef Py_GIL_DISABLED
    return __atomic_fetch_or(p, bits, __ATOMIC_SEQ_CST);
#else
    int64_t before = __atomic_load_n(p, __ATOMIC_RELAXED);
    __atomic_store_n(p, before | bits, __ATOMIC_RELEASE);
    return before;
#endif
}

/*
 * Free-threaded CPython (3.13t, Py_GIL_DISABLED): threads of one interpreter
 * run at once, so what the GIL serialized is serialized here instead (the
 * table in docs/ARCHITECTURE.md says what protects what). With a GIL, each
 * of these compiles to nothing, and the code is what it was.
 *
 * OWNER_LOCK/OWNER_UNLOCK: CPython's critical section on an owner, around
 * each check of its state bits that is followed by a new count (a Buffer
 * made, an export taken) and each state change that is followed by reading
 * a count to decide a release. The release itself runs after the section
 * (it is Python code); the RELEASED bit, set once by an atomic or, decides
 * who runs it.
 *
 * shim_mutex: a PyMutex, for the per-interpreter caches and lists in
 * module_state; never held across a call into Python (a decref included).
 */
#ifndef Py_BEGIN_CRITICAL_SECTION /* before 3.13 */
#define Py_BEGIN_CRITICAL_SECTION(op) {
#define Py_END_CRITICAL_SECTION() }
#endif
#define OWNER_LOCK(o) Py_BEGIN_CRITICAL_SECTION((PyObject *)(o))
#define OWNER_UNLOCK() Py_END_CRITICAL_SECTION()

#ifdef Py_GIL_DISABLED
typedef PyMutex shim_mutex;
#define SHIM_LOCK(m) PyMutex_Lock(m)
#define SHIM_UNLOCK(m) PyMutex_Unlock(m)
#else
typedef char shim_mutex; /* the GIL serializes: nothing to take */
#define SHIM_LOCK(m) ((void)(m))
#define SHIM_UNLOCK(m) ((void)(m))
#endif

/* A dict lookup that returns a strong reference (1 found, 0 not, -1 error):
 * a borrowed one may be freed by another thread on a free-threaded build. */
static inline int shim_dict_get_ref(PyObject *d, PyObject *key, PyObject **out)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyDict_GetItemRef(d, key, out);
#else
    *out = Py_XNewRef(PyDict_GetItemWithError(d, key));
    return *out != NULL ? 1 : (PyErr_Occurred() ? -1 : 0);
#endif
}

/* assert() runs in the test build (compiled without NDEBUG: test_faults.py's
 * control build) and not in wheels; _core_info()["asserts"] says which. */
#ifdef NDEBUG
#define SHIM_ASSERTS 0
#else
#define SHIM_ASSERTS 1
#endif
#include <assert.h>

/* How an owner gives its memory back. */
typedef enum {
    RELEASE_NONE = 0,     /* borrowed memory: nothing to call */
    RELEASE_CFUNC,        /* void f(void *arg), called without the GIL */
    RELEASE_PYCALL,       /* a Python callable taking no argument */
    RELEASE_PYBUFFER,     /* PyBuffer_Release of an export taken by from_buffer */
    RELEASE_ALIGNED,      /* memory from pybuf.alloc */
    RELEASE_MUNMAP,       /* a shared-memory mapping: munmap(block, fixed_nbytes) */
} release_kind;

/* Shim-only state bits, beside the ones the Go registry reads. */
#define STATE_CLOSED PYBUF_STATE_CLOSED
#define STATE_RELEASED PYBUF_STATE_RELEASED
#define STATE_ARMED 4         /* garbage: collector.c releases it once unreachable */
#define STATE_ENDING 8        /* its interpreter is ending: release when the last
                                 export goes (interp_end.c) */
#define STATE_DONE 16         /* the release has returned (or was queued for
                                 its creator thread); RELEASED is set before */
#define STATE_DUE 32          /* its own release is due (closed and no Buffer,
                                 garbage, interpreter end) but waits for its
                                 children's releases (owner_tree.c) */

/* The thread that created an owner with release_thread="creator"
 * (creator_thread.c). */
typedef struct creator_thread {
    int64_t refs;             /* atomic: the thread, owners, queued releases */
    int running;              /* atomic: 0 once the thread has ended */
} creator_thread;

/* What a release needs, moved out of its owner when it runs (or is queued
 * for the owner's creator thread). */
typedef struct release_job {
    release_kind kind;
    void (*cfunc)(void *);
    void *carg;
    PyObject *callable;       /* RELEASE_PYCALL */
    PyObject *keepalive;      /* the ctypes/cffi function object a C release is read from */
    PyObject *arg;            /* the `arg` object given to a C release, whatever it is (a
                                 cffi or ctypes object may own the memory carg points
                                 into): held until the release has returned */
    Py_buffer *source;        /* RELEASE_PYBUFFER */
    void *block;              /* RELEASE_ALIGNED: what PyMem_RawFree takes;
                                 RELEASE_MUNMAP: the mapping */
    int64_t nbytes;           /* RELEASE_MUNMAP: the mapping's length */
    creator_thread *thread;   /* run only on this thread (NULL: any); counted */
    struct OwnerObject *parent; /* strong, counted in its pending_children: the
                                 parent's release waits until this job has run
                                 (or was forgotten), wherever and whenever */
    struct release_job *next; /* in the queue of pending releases */
} release_job;

/*
 * What one interpreter's pybuf._pybuf module holds (PEP 489 module state).
 * Every owner holds a strong reference to its module, so the state outlives
 * every owner and buffer made from it, even in a garbage cycle where the
 * collector clears the types' references to the module first.
 */
typedef struct layout_cache layout_cache;

typedef struct {
    PyObject *module;          /* borrowed: the module whose state this is */
    PyTypeObject *owner_type;
    PyTypeObject *buffer_type;
    PyTypeObject *gofunc_type; /* gocall.c: a Go module's function */
    PyObject *fork_error;
    PyObject *not_found_error; /* FileNotFoundError and ValueError */
    PyObject *hooks;           /* name -> callable (python/pybuf/_convert.py) */
    PyObject *cfuncptr_type;   /* _ctypes.CFuncPtr, found at first need */
    PyObject *dtype_specs;     /* convert.c: dtype object -> (it, the dtype hook's answer) */
    PyObject *dtype_last, *dtype_last_spec; /* convert.c: the last of them, looked up first */
    PyObject *cffi_checked;    /* convert.c: cffi CType -> whether C reads its cdata */
    PyObject *cffi_functions;  /* convert.c: the same, for cdata given as a release */
    PyObject *bytes_format;    /* "B", the default dtype */
    PyObject *dlpack_kwnames_seen; /* dlpack.c: the last kwnames tuple of __dlpack__ */
    int dlpack_kwmap[4];       /* its entries' parameter indexes */
    /* collector.c: garbage owners between their finalizer and their release */
    PyObject *gc_armed;        /* list of owners kept alive since their finalizer */
    PyObject *gc_watched;      /* {owner address: weakref whose callback releases} */
    PyObject *gc_tick;         /* weakref to a sentinel cycle, or NULL */
    shim_mutex lock;           /* free-threaded: the pairs, lazy objects and lists
                                  above (docs/ARCHITECTURE.md, "Without the GIL") */
    uint64_t gc_arms;          /* owners armed so far (collector_collect_at_exit) */
    int ending;                /* its interpreter runs its exit (atexit has run) */
    int64_t interp;            /* PyInterpreterState_GetID of its interpreter */
    layout_cache *layouts;     /* owned; freed with the module (m_free) */
} module_state;

typedef struct OwnerObject {
    PyObject_HEAD
    pybuf_counts counts;      /* read by the Go registry through a pointer */
    uint64_t core_id;         /* registry id, 0 when not registered: owner_core_id() */
    int queue_slot;           /* registry_queue.c: 1 + index while queued */
    const char *name_utf8;    /* of `name` (which keeps it alive), or NULL */
    char *site;               /* creation site while queued (tracing), or NULL */
    release_job rel;
    int64_t fixed_nbytes;     /* -1, or the allocation size (alloc, shared memory) */
    unsigned long releasing_thread; /* the thread running the release, while it runs */
    uint64_t fork_generation; /* fork_generation() when created */
    PyObject *name;           /* str or None */
    PyObject *weakreflist;
    PyObject *module;         /* strong: keeps `st` valid until dealloc */
    module_state *st;         /* of the module whose Owner type made this */
    int64_t interp;           /* the interpreter that created it */
    struct OwnerObject *live_prev, *live_next; /* registry_queue.c: registered owners */
    int in_class_finalizer;   /* owner.c: a subclass's own __del__ is running */
    /* owner_tree.c: memory that belongs to other memory */
    struct OwnerObject *parent; /* strong, until dealloc (or clear once released) */
    int64_t pending_children; /* atomic: children's release jobs not yet run */
    struct OwnerObject *first_child; /* children not yet RELEASED (borrowed: each */
    struct OwnerObject *prev_sibling, *next_sibling; /* unlinks itself at RELEASED) */
} OwnerObject;

/* An owner's registry id. Written only by registry_queue.c, under its lock,
 * with an atomic store; read anywhere with an atomic load: on a free-threaded
 * build, a thread releasing the owner unregisters it (the id becomes 0) while
 * another thread, holding a view of it, reads the id to trace an export. */
static inline uint64_t owner_core_id(const OwnerObject *o) { return ATOMIC_LOAD(&o->core_id); }

typedef struct {
    PyObject_VAR_HEAD         /* ob_size: bytes of `block` */
    OwnerObject *owner;       /* strong; kept until dealloc, even by tp_clear */
    char *address;            /* element (0,...,0) */
    Py_ssize_t nbytes;
    Py_ssize_t itemsize;
    int ndim;
    int readonly;
    int c_contiguous, f_contiguous;
    int element_strides;      /* the core's verdict: strides in whole items (DLPack) */
    int32_t dl_code, dl_bits;
    int64_t lo, hi;           /* extent relative to address */
    int64_t exports;          /* gil_counter_add; read atomically */
    uint64_t trace_token;
    char *format;             /* a copy, in `block` */
    Py_ssize_t *shape;        /* in `block` */
    Py_ssize_t *strides;      /* in `block` */
    PyObject *weakreflist;
    /* ndim shape entries, ndim strides, then the format: allocated with the
     * Buffer itself (a variable-size object), so a Buffer is one allocation */
    Py_ssize_t block[];
} BufferObject;

/* module.c */
extern PyModuleDef pybuf_module_def;
/* Python-level hooks set by the package at import (python/pybuf/_convert.py). */
PyObject *hook_call(module_state *st, const char *name, PyObject *arg);
/* The state of the module that defined `type` (or a base of it); NULL with
 * TypeError set when no base of `type` comes from pybuf._pybuf. */
module_state *state_of_type(PyTypeObject *type, PyObject **module_out);
int64_t current_interp(void);
/* A new reference to what `*slot` (in st) holds, or NULL: read under st->lock. */
PyObject *state_get(module_state *st, PyObject **slot);
/* A new reference to the dict in `*slot`, made on first use; NULL with an
 * exception. Made outside st->lock, put in under it (free-threaded builds). */
PyObject *state_lazy_dict(module_state *st, PyObject **slot);

/* convert.c: Python arguments to C values; the entry prologue. */
typedef struct {
    const char *fname;          /* for messages: "wrap" */
    const char *const *names;   /* every parameter, in order */
    int nparams;
    int npos;                   /* leading parameters that may be positional */
    int nrequired;              /* leading parameters that must be given */
} entry_params;
/* The prologue of every entry point that makes owners or buffers: fills
 * out[nparams] (borrowed; NULL where not given), then runs the releases
 * queued for this thread. -1 with TypeError. */
int entry_parse(const entry_params *p, PyObject *const *args, Py_ssize_t nargs,
                PyObject *kwnames, PyObject **out);
int entry_parse_tuple(const entry_params *p, PyObject *args, PyObject *kwds, PyObject **out);
/* The index of keyword `key` among names[n], or -1: the one keyword matcher. */
int keyword_index(const char *const *names, int n, PyObject *key);
int flag_from_object(PyObject *obj, int *out); /* NULL keeps *out */
int address_from_object(module_state *st, PyObject *obj, const char *argname, uint64_t *out);
/* Appends the ints of `seq` (an int or a sequence of ints) to dims[*n]; past
 * PYBUF_MAXDIM they are only counted (Go words the error). */
int dims_from_object(PyObject *seq, const char *argname, int64_t *dims, int32_t *n);
/* (format, extra shape, extra strides) for a dtype that is no PEP 3118
 * string: the dtype hook's answer, kept per dtype object. */
PyObject *dtype_spec(module_state *st, PyObject *dtype, PyObject *reason);
/* release= and arg= into `job` (untouched on failure); release_thread=. */
int release_from_args(module_state *st, PyObject *release, PyObject *arg, release_job *job);
int release_thread_from_arg(PyObject *which, creator_thread **out);

/* layout.c: a validated layout (the cache of Go's verdicts, or Go). */
/* Zeroes a layout's scalar fields (not its arrays: see layout.c). */
void layout_init(pybuf_layout *l);
int layout_from_args(module_state *st, pybuf_layout *l, PyObject *shape, PyObject *dtype,
                     PyObject *strides, PyObject **format_out);
/* Completes a filled layout (from the cache, or the core): 0; -1 with an
 * exception; -2 with an exception when the format is not PEP 3118. */
int layout_finish(module_state *st, pybuf_layout *l);
/* Raises the exception a core status stands for, with `msg`; returns NULL. */
PyObject *raise_for_status(module_state *st, int32_t status, const char *msg);

/* construct.c: the one way an owner is made, and the constructors. */
PyObject *owner_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwds);
int owner_tp_init(OwnerObject *self, PyObject *args, PyObject *kwds);
/* A fresh owner, named, where the Go core is usable; NULL with an exception. */
OwnerObject *owner_begin(module_state *st, PyObject *name);
/* Registers `o` and makes its first Buffer over `l` (l NULL: no Buffer, a new
 * reference to `o`); on failure `o` is disarmed. */
PyObject *owner_commit(OwnerObject *o, const pybuf_layout *l, PyObject *format, int readonly);
/* A constructor's last step: disarms `o` if `result` is NULL (and it was not
 * yet), drops the caller's reference; returns `result`. */
PyObject *owner_end(OwnerObject *o, PyObject *result);
PyObject *owner_child_method(OwnerObject *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames);
PyObject *owner_buffer_method(OwnerObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames);
PyObject *wrap(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
PyObject *alloc(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
PyObject *from_buffer(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                      PyObject *kwnames);

/* adopt.c: memory described by a pybuf_export descriptor. */
PyObject *adopt(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);

/* shm_segment.c: shared-memory mappings. */
PyObject *shm_open_owner(PyObject *module, PyObject *args);
PyObject *shm_unlink_name(PyObject *module, PyObject *arg);
PyObject *check_stream_format(PyObject *module, PyObject *arg);

/* owner.c: the Owner type. */
PyTypeObject *owner_type_init(PyObject *module);
/* At a class's first instance: wraps a subclass's own finalizer. */
void owner_class_prepare(PyTypeObject *type);
int owner_check_open(OwnerObject *o);
PyObject *owner_label(OwnerObject *o); /* "owner 'name'" or "an unnamed owner" */

/* release.c: the owner state machine and the release itself. */
int64_t owner_arm(OwnerObject *o);    /* sets ARMED; returns the state before */
int owner_is_foreign(OwnerObject *o); /* created before this process forked */
void owner_maybe_release_after_buffer(OwnerObject *o);
void owner_maybe_release_after_export(OwnerObject *o); /* at interpreter end */
/* Releases now, from a deallocation or collector.c (errors are unraisable). */
void owner_release_garbage(OwnerObject *o);
/* interp_end.c's: the interpreter ends; release at once, or at the last export. */
void owner_release_at_interp_end(OwnerObject *o);
/* close(): -1 with an exception when a release raised; a whole subtree. */
int owner_close_release(OwnerObject *o);
/* Returns once the release has returned, wherever it runs (close(strict=True)
 * promises that); does not wait for a release running on this very thread. */
void owner_wait_released(OwnerObject *o);
/* Marks an owner that never took ownership (a failed constructor) as released. */
void owner_disarm(OwnerObject *o);
/* Drops what a release job that never went into an owner holds. */
void release_job_forget(release_job *job);
/* Runs the releases queued for this thread: how many ran; -1 if one raised
 * and `raise_errors`. */
int64_t pending_run_mine(int raise_errors);
/* Runs the releases queued for `c` (its thread is ending, on that thread). */
void pending_run_for(creator_thread *c);
extern int64_t pending_count;

/* Sets CLOSED; releases now when no Buffer is left (the children of `o`
 * are not looked at: owner_close_release closes a whole subtree). With
 * `strict`, returns 1 and leaves the owner open when a Buffer lives. */
int owner_close_one(OwnerObject *o, int strict);
/* Sets CLOSED only (no release): owner_tree.c closes a subtree first. */
void owner_mark_closed(OwnerObject *o);

/* owner_tree.c: parent and child owners. The parent's release runs only after
 * every child's (release.c's run_release waits while pending_children > 0). */
/* Makes `child` (fresh, no Python code can reach it) a child of `parent`
 * (checked open, same interpreter): -1 with an exception. */
int tree_adopt(OwnerObject *child, PyObject *parent);
void tree_unlink(OwnerObject *child);   /* at RELEASED */
/* Closes every descendant of `o`, then `o`: children before their parents;
 * -1 with the first release's exception. */
int tree_close(OwnerObject *o);
/* NULL, or a new reference to a message naming the descendants of `o` that
 * still hold memory (their buffers and exports, their holders when traced);
 * NULL with an exception on failure (*err set to 1). */
PyObject *tree_holders(OwnerObject *o, int *err);
/* Children of `o` whose release was queued or runs elsewhere (not linked). */
int64_t tree_children_in_flight(OwnerObject *o);
/* "cannot close X now: ..." text for one owner's own buffers and holders */
PyObject *owner_holders_text(OwnerObject *o);

/* creator_thread.c */
creator_thread *creator_thread_current(int create);
int creator_thread_running(creator_thread *c);
void creator_thread_incref(creator_thread *c);
void creator_thread_decref(creator_thread *c);

/* collector.c: releasing garbage owners after every finalizer of their cycle. */
void collector_arm(OwnerObject *o);
void collector_phase_changed(PyObject *module, PyObject *phase); /* gc.callbacks */
void collector_collect_at_exit(module_state *st); /* atexit, before `ending` */

/* interp_end.c: owners still registered when their interpreter ends. */
int interp_end_watch(module_state *st);

/* core_loader.c: loading the Go core at first need and guarding fork. */
typedef struct {
    int32_t (*abi)(void);
    const char *(*version)(void);
    int32_t (*layout)(pybuf_layout *, char *);
    void (*registry_apply)(const pybuf_registration *, int32_t, const uint64_t *, int32_t);
    void (*set_trace)(int32_t);
    uint64_t (*trace)(uint64_t, int32_t, const char *);
    void (*untrace)(uint64_t);
    char *(*live_json)(int64_t);
    char *(*holders)(uint64_t);
    int64_t (*report_leaks)(int32_t);
    void (*free)(void *);
    int32_t (*shm_create)(const char *, int64_t, uint64_t, uint32_t, pybuf_mapping *, char *);
    int32_t (*shm_attach)(const char *, int64_t, int32_t, pybuf_mapping *, char *);
    int32_t (*shm_unlink)(const char *, int64_t, char *);
    int32_t (*check_stream_format)(const char *, int64_t, char *);
    int32_t (*go_module)(const char *, const pybuf_go_module **, char *);
    int32_t (*go_call)(uint64_t, const pybuf_go_arg *, pybuf_go_result *, char **);
    void (*go_set_callback)(pybuf_go_callback_fn);
    int32_t (*take_export)(uint64_t, pybuf_export *, char *);
} core_api;

/* Returns the Go core, loading it if needed; NULL with ForkError (st's) or
 * ImportError set when it cannot be used in this process. */
const core_api *core_require(module_state *st);
/* The Go core when it is loaded and usable here, else NULL; sets nothing. */
const core_api *core_if_usable(void);
uint64_t fork_generation(void);
/* Once per process: the fork handler, the default core path (next to `module`). */
int core_loader_init(PyObject *module);
PyObject *core_set_path(module_state *st, PyObject *path);
int core_is_loaded(void);
/* How many times the core was handed out: a test proves hot paths skip Go. */
uint64_t core_use_count(void);
int core_forked_after_load(void);
const char *core_version(void); /* "" when not usable; not counted */
/* The file the core was loaded from (borrowed), or NULL before the load. */
PyObject *core_loaded_path(void); /* new reference, or NULL when not loaded */

/* samefile.c: library paths compared as files (st_dev, st_ino). */
int stat_path(PyObject *path, dev_t *dev, ino_t *ino); /* -1, no exception, if it cannot */
int same_file(PyObject *a, PyObject *b);
PyObject *absolute_if_exists(PyObject *path);

/* gomodule.c, gocall.c: Go modules (pybuf/pymod). */
/* The library an installed Go module announces (entry point group
 * pybuf.go_library), or None; NULL with an exception. */
PyObject *go_library_announced(void);
PyObject *go_module_functions(PyObject *module, PyObject *args);
PyObject *go_core_abi(PyObject *module, PyObject *unused);
PyObject *gofunc_new(const pybuf_go_func *f, PyObject *module_name, PyObject *pybuf_module);
PyTypeObject *gofunc_type_init(PyObject *module); /* the type of gofunc_new's objects */
/* gocallback.c: a Python callable called from Go (pybuf_go_callback_fn) */
int32_t gocallback_call(pybuf_go_callable *c, const pybuf_go_value *args, int32_t nargs,
                        pybuf_go_value *results, int32_t nresults, char **msg);

/* layout_cache.c: layouts the core validated, reused at addresses it allows;
 * one cache per interpreter (module_state.layouts), used under its GIL. */
layout_cache *layout_cache_new(void); /* NULL with MemoryError */
void layout_cache_free(layout_cache *c);
int layout_cache_lookup(layout_cache *c, pybuf_layout *l);
void layout_cache_store(layout_cache *c, const pybuf_layout *l, const int64_t *strides_in);
uint64_t layout_cache_hits(void);

/* registry_queue.c: batched registration with the Go registry. */
/* Queues `o` (and its creation site, which it frees); -1 with MemoryError. */
int registry_add(OwnerObject *o, char *site);
void registry_remove(OwnerObject *o);
uint64_t registry_new_id(void);
/* Sends what is queued; call before anything reads the registry. -1 when
 * the core is not usable here. */
int registry_flush(void);
/* New references to the registered owners of interpreter `interp` (a
 * PyMem_RawMalloc'd array, *n of them); NULL with *n == 0 when there are none,
 * NULL with MemoryError set when the array cannot be allocated. */
OwnerObject **registry_owners_of(int64_t interp, Py_ssize_t *n);
int registry_has_owners_of(int64_t interp);

/* buffer.c: the Buffer type. */
PyTypeObject *buffer_type_init(PyObject *module);
BufferObject *buffer_new(OwnerObject *owner, const pybuf_layout *l, PyObject *format, int readonly);
int buffer_check_exportable(BufferObject *b);
int buffer_export_take(BufferObject *b); /* -1: closed meanwhile, nothing set */
void buffer_export_dropped(BufferObject *b);

/* dlpack.c */
PyObject *buffer_dlpack(BufferObject *b, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
PyObject *buffer_dlpack_device(BufferObject *b, PyObject *unused);

/* site.c: creation sites for tracing (a process-wide switch: the Go
 * registry that records them is per process). */
int trace_on(void);
/* Turns tracing on or off, in the shim and the core; returns the old state. */
int trace_switch(const core_api *core, int on);
/* pybuf's Python files, skipped when capturing sites: the same directory in
 * every interpreter, kept as a C string; 0, or -1 with an exception. */
int site_set_package_dir(PyObject *dir);
/* "file.py:12 in MainThread", or NULL (no error set) when unknown. */
char *site_capture(void);

/* Where the Python version gap shows. */
#if PY_VERSION_HEX >= 0x030D0000
#define SHIM_IS_FINALIZING() Py_IsFinalizing()
#define SHIM_CURRENT_TSTATE() PyThreadState_GetUnchecked()
#else
#define SHIM_IS_FINALIZING() _Py_IsFinalizing()
#define SHIM_CURRENT_TSTATE() shim_current_tstate()
/* The calling thread's thread state if it holds a GIL, else NULL. Before
 * 3.12, _PyThreadState_UncheckedGet() reads one process-wide "current"
 * thread state, the GIL holder's, whichever thread asks: a thread that holds
 * no GIL (a DLPack consumer's) would take it for its own. And it must not be
 * read through: without the GIL, its thread may delete it at any moment
 * (PyGILState_Release on another consumer thread; AddressSanitizer saw it).
 * So it is compared first with this thread's own first thread state (thread
 * local, safe): equal, it is ours; none, this thread has no thread state and
 * holds no GIL. Only a thread with a thread state of its own that is not the
 * holder reads the thread id (it may hold the GIL in another interpreter,
 * under a second thread state): the one way left to tell on 3.11. */
static inline PyThreadState *shim_current_tstate(void)
{
    PyThreadState *t = _PyThreadState_UncheckedGet();
    if (t == NULL)
        return NULL;
    PyThreadState *own = PyGILState_GetThisThreadState();
    if (own == NULL || t == own)
        return own;
    return t->thread_id == PyThread_get_thread_ident() ? t : NULL;
}
#endif

/* The exception being raised, taken out of the thread state (or NULL). */
static inline PyObject *shim_err_take(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL)
        return NULL;
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

static inline void shim_err_restore(PyObject *exc)
{
    if (exc == NULL)
        return;
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
#endif
}

#endif /* PYBUF_SHIM_H */
