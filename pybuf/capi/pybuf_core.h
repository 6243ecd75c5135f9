/*
 * pybuf_core.h: the C ABI of pybuf's Go core.
 *
 * One header, included by the Go core (cgo preamble of package capi) and by
 * the C shim (cshim/), which reaches these functions through dlsym() once it
 * has loaded the core. Nothing here knows about Python.
 *
 * Every function may be called from any thread. None of them may be called in
 * a process forked after the core was loaded: the Go runtime's threads do not
 * survive fork(), and the shim guards every call (see cshim/core_loader.c).
 */
#ifndef PYBUF_CORE_H
#define PYBUF_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "dlpack.h"

/* Bumped whenever a struct or signature below changes. */
#define PYBUF_CORE_ABI 6

/* Most dimensions a layout may have (NumPy's own limit is 64). */
#define PYBUF_MAXDIM 64

/* Size of the message buffer every fallible call fills. */
#define PYBUF_ERRLEN 320

/* What went wrong, i.e. which Python exception the shim raises. */
enum pybuf_status {
    PYBUF_OK = 0,
    PYBUF_ERR_VALUE = 1,        /* ValueError */
    PYBUF_ERR_OVERFLOW = 2,     /* OverflowError */
    PYBUF_ERR_TYPE = 3,         /* TypeError */
    PYBUF_ERR_BUFFER = 4,       /* BufferError */
    PYBUF_ERR_NOT_PEP3118 = 5,  /* the format string is not PEP 3118: the
                                   shim may still hand it to numpy.dtype() */
    PYBUF_ERR_NOT_FOUND = 6,    /* a named thing does not exist: FileNotFoundError
                                   (a ValueError too, for code that expects one) */
    PYBUF_ERR_KEY = 7,          /* KeyError (a Go function's error, pybuf/pymod) */
    PYBUF_ERR_INDEX = 8,        /* IndexError (likewise) */
    PYBUF_ERR_RUNTIME = 9,      /* RuntimeError: a Go function's error or panic */
    PYBUF_ERR_NAMED = 10,       /* a Go function's error of a class it names (pybuf/pymod):
                                   the message is "module.Class\nfallback status\ntext";
                                   the shim imports the class, or raises the fallback */
    PYBUF_ERR_CALLBACK = 11,    /* a Python callable given for a Go func parameter raised:
                                   the shim raises that exception itself (pybuf/pymod) */
};

/* DLPack type codes (dlpack.h's DLDataTypeCode), or -1 when the element is
 * not a single native-endian scalar that DLPack can describe. */
enum pybuf_dl_code {
    PYBUF_DL_NONE = -1,
    PYBUF_DL_INT = kDLInt,
    PYBUF_DL_UINT = kDLUInt,
    PYBUF_DL_FLOAT = kDLFloat,
    PYBUF_DL_COMPLEX = kDLComplex,
    PYBUF_DL_BOOL = kDLBool,
};

/*
 * A buffer layout, filled in by the shim and completed by the core.
 *
 * Plain layout (is_region == 0): `address` is the element at index (0,...,0).
 * Region (is_region != 0): the layout lies inside a parent whose bytes are
 * [parent_lo, parent_hi) (absolute addresses); `offset` counts bytes from
 * parent_lo to the region's element (0,...,0); the core writes `address`.
 *
 * `format` NULL keeps `itemsize`, `dl_code` and `dl_bits` as given (a region
 * that reuses its parent's element type).
 */
typedef struct {
    /* in */
    const char *format;
    int32_t is_region;
    int32_t has_strides;       /* 0: C-contiguous strides are computed */
    int32_t ndim;
    int32_t nstrides;          /* entries given in strides when has_strides */
    uint64_t parent_lo, parent_hi, offset;
    int64_t shape[PYBUF_MAXDIM];
    /* in when has_strides, always out */
    int64_t strides[PYBUF_MAXDIM];
    /* in (plain layout) or out (region) */
    uint64_t address;
    /* out (in when format is NULL) */
    int64_t itemsize;
    int32_t dl_code;
    int32_t dl_bits;
    /* out */
    int64_t nbytes;            /* itemsize * prod(shape) */
    int64_t lo, hi;            /* bytes touched: [address+lo, address+hi); 0,0 if empty */
    int32_t c_contiguous, f_contiguous;
    int32_t element_strides;   /* every stride a multiple of itemsize (DLPack) */
    /* out (plain layouts): the same format, shape and strides are valid at
     * every address in [addr_min, addr_max], so the shim may cache them */
    uint64_t addr_min, addr_max;
} pybuf_layout;

/* Live counters of one owner, kept by the shim and read by the core's
 * registry. All fields are accessed with atomic builtins on both sides. */
typedef struct {
    int64_t buffers;           /* live Buffer objects */
    int64_t exports;           /* live buffer-protocol and DLPack exports */
    int64_t nbytes;            /* sum of nbytes over live Buffers */
    int64_t state;             /* PYBUF_STATE_* bits */
} pybuf_counts;

#define PYBUF_STATE_CLOSED 1
#define PYBUF_STATE_RELEASED 2

/* Kinds of objects whose creation site the registry records when tracing. */
enum pybuf_trace_kind {
    PYBUF_TRACE_BUFFER = 1,
    PYBUF_TRACE_EXPORT = 2,
};

/* Returns PYBUF_CORE_ABI; the shim refuses a core with another value. */
int32_t pybuf_core_abi(void);

/* Version string of the core (static storage). */
const char *pybuf_core_version(void);

/* Validates and completes a layout. Returns a pybuf_status; on error `err`
 * (PYBUF_ERRLEN bytes) holds a message that names the faulty argument. */
int32_t pybuf_core_layout(pybuf_layout *layout, char *err);

/* One owner announced to the registry, with an id the shim chose (non-zero,
 * below 2^63, never reused). `counts` must stay valid until the owner is
 * listed in `gone` of a later call. `nbytes` >= 0 is a fixed allocation
 * size, -1 means "sum over live buffers". `name` and `site` may be NULL.
 * `interp` is the id of the Python interpreter that created the owner
 * (PyInterpreterState_GetID; 0 is the main one). `parent` is the id of the
 * owner whose memory this one's belongs to (Owner(parent=)), 0 for none. */
typedef struct {
    uint64_t id;
    const char *name;
    int64_t nbytes;
    const char *site;
    const pybuf_counts *counts;
    int64_t interp;
    uint64_t parent;
} pybuf_registration;

/* Applies the registry changes the shim queued since its last call, in one
 * crossing into Go: registers `regs`, then forgets the owners in `gone`.
 * Once it returns, the counters of the `gone` owners are never read again. */
void pybuf_core_registry_apply(const pybuf_registration *regs, int32_t nregs,
                               const uint64_t *gone, int32_t ngone);

/* Tracing on or off (creation sites are recorded only while on). */
void pybuf_core_set_trace(int32_t on);

/* Records a live buffer or export of an owner with its creation site;
 * returns a token for pybuf_core_untrace (0 when the owner is unknown). */
uint64_t pybuf_core_trace(uint64_t owner, int32_t kind, const char *site);
void pybuf_core_untrace(uint64_t token);

/* JSON array describing the registered owners of interpreter `interp`, or of
 * every interpreter when `interp` < 0 (malloc'd; pybuf_core_free). */
char *pybuf_core_live_json(int64_t interp);

/* Human-readable list of what holds an owner's memory, for strict close
 * (malloc'd; pybuf_core_free). */
char *pybuf_core_holders(uint64_t id);

/* Writes the owners still registered to file descriptor `fd`; returns how many. */
int64_t pybuf_core_report_leaks(int32_t fd);

void pybuf_core_free(void *p);

/*
 * Memory described by Go code (package gomem) for pybuf to adopt: the
 * descriptor a Go extension hands to Python, which pybuf.adopt() turns into an
 * Owner with one Buffer. The shim takes it with pybuf_core_take_export (which
 * copies and frees it) and validates the layout with pybuf_core_layout.
 * `release(release_arg)` runs exactly once, from C, without the GIL, after
 * the last view is gone; it never runs in a forked child.
 */
#define PYBUF_FORMATLEN 512
#define PYBUF_NAMELEN 128
typedef struct {
    uint64_t address;
    int32_t ndim;
    int32_t has_strides;
    int32_t readonly;
    int32_t reserved;
    int64_t shape[PYBUF_MAXDIM];
    int64_t strides[PYBUF_MAXDIM];
    char format[PYBUF_FORMATLEN];      /* NUL-terminated PEP 3118 format */
    char name[PYBUF_NAMELEN];          /* NUL-terminated, may be empty */
    void (*release)(void *);           /* may be NULL: borrowed memory */
    void *release_arg;
} pybuf_export;

/* Moves the descriptor at `address` into `out` and frees it, if it is a
 * descriptor gomem handed over and nobody took yet; otherwise (taken
 * already, a truncated or made-up address) returns PYBUF_ERR_VALUE without
 * reading that address, and `err` says why. */
int32_t pybuf_core_take_export(uint64_t address, pybuf_export *out, char *err);

/*
 * Shared memory (pybuf.shm). Mapping and unlinking run in Go; unmapping is
 * the shim's job (munmap at release), so it also works where Go cannot run.
 * `name` is the segment name (a leading '/' is dropped), `namelen` bytes of
 * UTF-8 that need no NUL terminator: the core sees every byte, so a name with
 * a NUL inside is refused rather than cut short. A NULL name is "".
 */
typedef struct {
    uint64_t address;
    uint64_t size;
    char name[PYBUF_NAMELEN];          /* out: the name actually used */
} pybuf_mapping;

/* Creates a segment (`name` NULL or "": a fresh random one) of `size` bytes,
 * mode `mode`, and maps it read-write. */
int32_t pybuf_core_shm_create(const char *name, int64_t namelen, uint64_t size,
                              uint32_t mode, pybuf_mapping *out, char *err);

/* pybuf_core_shm_attach's flags. */
#define PYBUF_SHM_READONLY 1        /* map PROT_READ */
#define PYBUF_SHM_ALLOW_FOREIGN 2   /* map a segment another uid owns */

/* Maps an existing segment, whole: only a regular file, opened without
 * blocking, owned by this process's euid unless PYBUF_SHM_ALLOW_FOREIGN. */
int32_t pybuf_core_shm_attach(const char *name, int64_t namelen, int32_t flags,
                              pybuf_mapping *out, char *err);
/* Removes a segment's name; a missing name is not an error (idempotent). */
int32_t pybuf_core_shm_unlink(const char *name, int64_t namelen, char *err);

/* Checks a format that arrived from a stream (a pickle, a Dask header) against
 * the bounds such formats have (layout.CheckStreamFormat): `len` bytes, no
 * NUL terminator needed. PYBUF_OK or an error naming `format`. */
int32_t pybuf_core_check_stream_format(const char *format, int64_t len, char *err);

/*
 * Go modules (pybuf/pymod): Go functions registered under a Python module
 * name, called by the shim through one entry point. Each parameter and
 * result has a kind; the shim converts Python objects by kind alone and
 * leaves every rule about element types and layouts to Go.
 */
enum pybuf_go_kind {
    PYBUF_GO_BOOL = 1,      /* v.i: 0 or 1 */
    PYBUF_GO_INT = 2,       /* v.i: a signed integer of `bits` bits */
    PYBUF_GO_UINT = 3,      /* v.u: an unsigned integer of `bits` bits */
    PYBUF_GO_FLOAT = 4,     /* v.f (Go rounds it to float32 where asked) */
    PYBUF_GO_COMPLEX = 5,   /* v.f + i*imag */
    PYBUF_GO_STRING = 6,    /* argument: UTF-8 in data/len, borrowed for the call;
                               result: data/len malloc'd by Go, freed by the shim */
    PYBUF_GO_BYTES = 7,     /* result: []byte, copied into bytes (data/len as STRING) */
    PYBUF_GO_ARRAY = 8,     /* argument: a buffer-protocol view borrowed for the call;
                               result: a zero-copy export in *array */
    PYBUF_GO_FUNC = 9,      /* argument: a Python callable for a Go func parameter; data
                               points at the shim's pybuf_go_callable for it, valid for
                               the call only (Go calls it through the callback below) */
};

/* Most parameters, and most results, a registered Go function may have. */
#define PYBUF_GO_MAXARGS 16

typedef struct {
    const char *name;       /* the Python parameter name ("" for results) */
    int32_t kind;           /* pybuf_go_kind */
    int32_t bits;           /* INT, UINT: 8, 16, 32 or 64 */
    int32_t writable;       /* ARRAY argument: the Go function writes into it */
    int32_t reserved;
} pybuf_go_param;

typedef struct {
    uint64_t id;            /* what pybuf_core_go_call takes */
    const char *name;       /* the Python name */
    const char *doc;        /* "name(a, b)\n--\n\n" then the documentation */
    int32_t nparams, nresults;  /* each at most PYBUF_GO_MAXARGS */
    const pybuf_go_param *params;
    const pybuf_go_param *results;  /* without a trailing Go error */
} pybuf_go_func;

typedef struct {
    const char *name;
    const char *doc;
    int32_t nfuncs;
    int32_t reserved;
    const pybuf_go_func *funcs;
} pybuf_go_module;

/* One argument: filled by the shim, read by Go during the call only. */
typedef struct {
    union { int64_t i; uint64_t u; double f; } v;
    double imag;
    const void *data;       /* STRING: UTF-8 bytes; ARRAY: the view's buf */
    int64_t len;            /* STRING: bytes; ARRAY: the view's len */
    /* ARRAY: the view exactly as the exporter gave it; Go validates it */
    const char *format;     /* NULL means "B" */
    const int64_t *shape;   /* ndim entries */
    const int64_t *strides; /* ndim entries, or NULL: C-contiguous */
    int64_t itemsize;
    int32_t ndim;
    int32_t readonly;
} pybuf_go_arg;

/* An exported result, in memory the shim provides: Go fills a layout it has
 * validated and completed (every `out` field of pybuf_layout) and the
 * release, which runs once after the last view, as for pybuf_export. */
typedef struct {
    pybuf_layout layout;    /* layout.format is left for the shim to point at format */
    char format[PYBUF_FORMATLEN];
    int32_t readonly;
    int32_t reserved;
    void (*release)(void *);
    void *release_arg;
} pybuf_go_array;

/* One result: filled by Go. */
typedef struct {
    union { int64_t i; uint64_t u; double f; } v;
    double imag;
    char *data;             /* STRING, BYTES: malloc'd (NULL when len is 0); free() it */
    int64_t len;
    pybuf_go_array *array;  /* ARRAY: set by the shim before the call */
} pybuf_go_result;

/* One value crossing a callback: an argument Go passes to a Python callable,
 * or a result it returns. Scalars in v by kind (BOOL, INT, UINT, FLOAT); an
 * ARRAY argument is a Go slice of len elements of format, which the callable
 * sees as a writable NumPy array copied from it and copied back after the
 * call (so the callable can fill it). */
typedef struct {
    union { int64_t i; uint64_t u; double f; } v;
    int32_t kind;           /* pybuf_go_kind */
    int32_t bits;           /* INT, UINT: of the Go type (a result out of range is an error) */
    void *data;             /* ARRAY: the slice's elements (pinned by Go for the call) */
    int64_t len;            /* ARRAY: elements */
    int64_t itemsize;       /* ARRAY */
    const char *format;     /* ARRAY: one element, PEP 3118 */
} pybuf_go_value;

/* The shim's side of a callable argument: opaque to Go. */
typedef struct pybuf_go_callable pybuf_go_callable;

/* Calls `callable` with nargs values; fills nresults results, whose kind Go
 * sets. It takes the GIL itself (Go calls it with the GIL released, from any
 * thread). PYBUF_OK, or PYBUF_ERR_CALLBACK when the callable raised (the
 * shim keeps the exception to raise it when the Go call returns) with *msg
 * (malloc'd) saying what it raised; another status for a result that does
 * not convert. */
typedef int32_t (*pybuf_go_callback_fn)(pybuf_go_callable *callable, const pybuf_go_value *args, int32_t nargs,
                                        pybuf_go_value *results, int32_t nresults, char **msg);

/* The shim gives its callback function once, after loading the core. */
void pybuf_core_go_set_callback(pybuf_go_callback_fn fn);

/* Finds the Go module registered as `name` in this library. Its description
 * is in static storage (never freed). On error (no such module, or a
 * registration the Go side refused) `err` says why. */
int32_t pybuf_core_go_module(const char *name, const pybuf_go_module **out, char *err);

/* Calls Go function `id` with `args` (its nparams entries); fills `results`
 * (nresults entries) on PYBUF_OK. Otherwise returns the status of the Python
 * exception to raise, and *msg is its message (malloc'd; free() it): a
 * rejected argument, the function's error, or its recovered panic
 * (PYBUF_ERR_RUNTIME). Results are exported only on success. */
int32_t pybuf_core_go_call(uint64_t id, const pybuf_go_arg *args, pybuf_go_result *results,
                           char **msg);

#endif /* PYBUF_CORE_H */
