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
 * Counters and flags are read and written with these atomics, so that a
 * free-threaded CPython needs no redesign. Today every caller holds the GIL
 * (or is the only thread of a freshly forked child); where a path relies on
 * that beyond single-word atomicity, the comment says "GIL:".
 */
#define ATOMIC_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ATOMIC_ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)
#define ATOMIC_OR(p, v) __atomic_or_fetch((p), (v), __ATOMIC_ACQ_REL)
#define ATOMIC_FETCH_OR(p, v) __atomic_fetch_or((p), (v), __ATOMIC_ACQ_REL)

/*
 * Planted faults, for proving that the tests can fail (tests_py/test_faults.py).
 * Never set in a real build: setup.py defines PYBUF_FAULT only when the
 * environment variable of that name is set at build time.
 */
#define FAULT_EARLY_RELEASE 1   /* close() releases even while buffers live */
#define FAULT_DOUBLE_RELEASE 2  /* the release may run twice */
#define FAULT_SKIP_EXPORT 3     /* every 7th export is not counted */
#ifndef PYBUF_FAULT
#define PYBUF_FAULT 0
#endif

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
#define STATE_DOOMED 4        /* garbage: release when the last export goes */
#define STATE_DONE 16         /* the release has returned (or was queued for
                                 its creator thread); RELEASED is set before */

/* What a release needs, moved out of its owner when it runs (or is queued
 * for the owner's creator thread). */
typedef struct release_job {
    release_kind kind;
    void (*cfunc)(void *);
    void *carg;
    PyObject *callable;       /* RELEASE_PYCALL */
    PyObject *keepalive;      /* the ctypes/cffi objects a C release points into */
    Py_buffer *source;        /* RELEASE_PYBUFFER */
    void *block;              /* RELEASE_ALIGNED: what PyMem_RawFree takes;
                                 RELEASE_MUNMAP: the mapping */
    int64_t nbytes;           /* RELEASE_MUNMAP: the mapping's length */
    unsigned long thread;     /* run only on this thread (0: any) */
    struct release_job *next; /* in the queue of pending releases */
} release_job;

typedef struct {
    PyObject_HEAD
    pybuf_counts counts;      /* read by the Go registry through a pointer */
    uint64_t core_id;         /* registry id, 0 when not registered */
    int queue_slot;           /* registry_queue.c: 1 + index while queued */
    const char *name_utf8;    /* of `name` (which keeps it alive), or NULL */
    char *site;               /* creation site while queued (tracing), or NULL */
    release_job rel;
    int64_t fixed_nbytes;     /* -1, or the allocation size (alloc, shared memory) */
    unsigned long releasing_thread; /* the thread running the release, while it runs */
    uint64_t fork_generation; /* fork_generation() when created */
    PyObject *name;           /* str or None */
    PyObject *weakreflist;
} OwnerObject;

typedef struct {
    PyObject_HEAD
    OwnerObject *owner;       /* strong; kept until dealloc, even by tp_clear */
    char *address;            /* element (0,...,0) */
    Py_ssize_t nbytes;
    Py_ssize_t itemsize;
    int ndim;
    int readonly;
    int c_contiguous, f_contiguous;
    int32_t dl_code, dl_bits;
    int64_t lo, hi;           /* extent relative to address */
    int64_t exports;          /* atomic */
    uint64_t trace_token;
    char *format;             /* owned copy */
    Py_ssize_t *shape;        /* ndim entries, then ndim strides, one block */
    Py_ssize_t *strides;
    PyObject *weakreflist;
} BufferObject;

/* module.c */
extern PyObject *PybufForkError;
extern PyObject *PybufNotFoundError; /* FileNotFoundError and ValueError */
extern PyTypeObject *OwnerType;
extern PyTypeObject *BufferType;
/* Python-level hooks set by the package at import (python/pybuf/_convert.py). */
PyObject *hook_call(const char *name, PyObject *arg);

/* core_loader.c: loading the Go core at first need and guarding fork. */
typedef struct {
    int32_t (*abi)(void);
    const char *(*version)(void);
    int32_t (*layout)(pybuf_layout *, char *);
    void (*registry_apply)(const pybuf_registration *, int32_t, const uint64_t *, int32_t);
    void (*set_trace)(int32_t);
    uint64_t (*trace)(uint64_t, int32_t, const char *);
    void (*untrace)(uint64_t);
    char *(*live_json)(void);
    char *(*holders)(uint64_t);
    int64_t (*report_leaks)(int32_t);
    void (*free)(void *);
    int32_t (*shm_create)(const char *, uint64_t, uint32_t, pybuf_mapping *, char *);
    int32_t (*shm_attach)(const char *, int32_t, pybuf_mapping *, char *);
    int32_t (*shm_unlink)(const char *, char *);
    int32_t (*go_module)(const char *, const pybuf_go_module **, char *);
    int32_t (*go_call)(uint64_t, const pybuf_go_arg *, pybuf_go_result *, char **);
    int32_t (*take_export)(uint64_t, pybuf_export *, char *);
} core_api;

/* Returns the Go core, loading it if needed; NULL with ForkError or
 * ImportError set when it cannot be used in this process. */
const core_api *core_require(void);
/* The Go core when it is loaded and usable here, else NULL; sets nothing. */
const core_api *core_if_usable(void);
uint64_t fork_generation(void);
int core_loader_init(PyObject *module);
PyObject *core_set_path(PyObject *path);
int core_is_loaded(void);
/* How many times the core was handed out: a test proves hot paths skip Go. */
uint64_t core_use_count(void);
int core_forked_after_load(void);
const char *core_version(void); /* "" when not usable; not counted */
/* The file the core was loaded from (borrowed), or NULL before the load. */
PyObject *core_loaded_path(void);

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
PyObject *gofunc_new(const pybuf_go_func *f, PyObject *module_name);

/* layout_cache.c: layouts the core validated, reused at addresses it allows. */
int layout_cache_lookup(pybuf_layout *l);
void layout_cache_store(const pybuf_layout *l, const int64_t *strides_in);
uint64_t layout_cache_hits(void);

/* registry_queue.c: batched registration with the Go registry. */
void registry_add(OwnerObject *o, char *site);
void registry_remove(OwnerObject *o);
/* Sends what is queued; call before anything reads the registry. -1 when
 * the core is not usable here. */
int registry_flush(void);

/* layout.c: turning Python arguments into a validated layout. */
int layout_from_args(pybuf_layout *l, PyObject *shape, PyObject *dtype,
                     PyObject *strides, PyObject **format_out);
/* Completes a filled layout (from the cache, or the core): 0; -1 with an
 * exception; -2 with an exception when the format is not PEP 3118. */
int layout_finish(pybuf_layout *l);
/* Raises the exception a core status stands for, with `msg`; returns NULL. */
PyObject *raise_for_status(int32_t status, const char *msg);
int address_from_object(PyObject *obj, const char *argname, uint64_t *out);

/* Types and module functions defined outside module.c. */
PyTypeObject *owner_type_init(PyObject *module);
PyTypeObject *buffer_type_init(PyObject *module);
PyObject *owner_wrap(PyObject *module, PyObject *args, PyObject *kwds);
PyObject *adopt(PyObject *module, PyObject *args, PyObject *kwds);          /* foreign.c */
PyObject *shm_open_owner(PyObject *module, PyObject *args);                 /* foreign.c */
PyObject *shm_unlink_name(PyObject *module, PyObject *arg);                 /* foreign.c */

/* owner.c */
int owner_setup_release(OwnerObject *o, PyObject *release, PyObject *arg);
int owner_register(OwnerObject *o);
int owner_check_open(OwnerObject *o);
void owner_maybe_release_after_buffer(OwnerObject *o);
void owner_maybe_release_after_export(OwnerObject *o);
void owner_finalize_release(OwnerObject *o);
/* gc.callbacks: a collection started or ended (see release.c). */
void release_gc_phase_changed(void);
int owner_close_release(OwnerObject *o);
/* Returns once the release has returned, wherever it runs (close(strict=True)
 * promises that); does not wait for a release running on this very thread. */
void owner_wait_released(OwnerObject *o);
/* Runs the releases queued for this thread; -1 if one raised and `raise_errors`. */
int pending_run_mine(int raise_errors);
extern int64_t pending_count;
void owner_configure_cfunc(OwnerObject *o, void (*f)(void *), void *arg);
/* Marks an owner that never took ownership (a failed wrap) as released. */
void owner_disarm(OwnerObject *o);
OwnerObject *owner_new_internal(PyObject *name);
int owner_is_foreign(OwnerObject *o);

/* buffer.c */
BufferObject *buffer_new(OwnerObject *owner, const pybuf_layout *l, PyObject *format, int readonly);
int buffer_check_exportable(BufferObject *b);
void buffer_export_taken(BufferObject *b);
void buffer_export_dropped(BufferObject *b);

/* dlpack.c */
PyObject *buffer_dlpack(BufferObject *b, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
PyObject *buffer_dlpack_device(BufferObject *b, PyObject *unused);

/* site.c: creation sites for tracing. */
extern int trace_enabled;
extern PyObject *package_dir; /* pybuf's Python files, skipped when capturing sites */
/* "file.py:12 in MainThread", or NULL (no error set) when unknown. */
char *site_capture(void);

/* Where the Python version gap shows. */
#if PY_VERSION_HEX >= 0x030D0000
#define SHIM_IS_FINALIZING() Py_IsFinalizing()
#else
#define SHIM_IS_FINALIZING() _Py_IsFinalizing()
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
