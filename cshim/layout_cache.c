/*
 * layout_cache.c: layouts the Go core has already validated.
 *
 * A binding creates buffers of the same few layouts over and over, at
 * different addresses. The core says, with each validated layout, the range
 * of addresses at which it stays valid; a layout found here is reused for an
 * address in that range without crossing into Go. Nothing is decided here:
 * a miss, or an address out of range, goes to the core, which also words any
 * error.
 *
 * The cache is per process and own-GIL interpreters use it in parallel.
 * Stores are rare and take `cache_lock`; lookups are on every creation and
 * take no lock: a sequence count (odd while a store writes) tells a lookup
 * whether the entry it copied out may be torn, and a torn copy is a miss
 * (the core answers instead). The hit counter is atomic.
 */
#include "shim.h"

#include <pthread.h>
#include <string.h>

#define SLOTS 64
#define CACHED_MAXDIM 8
#define CACHED_FORMATLEN 48

/* What the core answered. */
typedef struct {
    int64_t strides[CACHED_MAXDIM];
    int64_t itemsize, nbytes, lo, hi;
    int32_t dl_code, dl_bits, c_contiguous, f_contiguous;
    uint64_t addr_min, addr_max;
} verdict;

typedef struct {
    int used;
    char format[CACHED_FORMATLEN];
    int32_t ndim, has_strides;
    int64_t shape[CACHED_MAXDIM];
    int64_t strides_in[CACHED_MAXDIM];
    verdict v;
} entry;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static entry cache[SLOTS];  /* written under cache_lock, read against `seq` */
static uint64_t seq;        /* atomic: bumped before and after every store */
static uint64_t hits;       /* COUNTER_ADD; for tests: proof that a hit skips the core */

/* A forked child has one thread: whoever held the lock in the parent is gone. */
static void reset_lock_in_child(void)
{
    pthread_mutex_init(&cache_lock, NULL);
    if (seq & 1) { /* a store was cut off: its entry may be torn */
        memset(cache, 0, sizeof cache);
        seq = 0;
    }
}
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void) { pthread_atfork(NULL, NULL, reset_lock_in_child); }

uint64_t layout_cache_hits(void) { return ATOMIC_LOAD(&hits); }

static int cacheable(const pybuf_layout *l)
{
    return !l->is_region && l->format != NULL && l->ndim >= 0 && l->ndim <= CACHED_MAXDIM &&
           (!l->has_strides || l->nstrides == l->ndim) &&
           strlen(l->format) < CACHED_FORMATLEN;
}

static entry *slot_for(const pybuf_layout *l)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = l->format; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    for (int i = 0; i < l->ndim; i++) {
        h = (h ^ (uint64_t)l->shape[i]) * 1099511628211ULL;
        if (l->has_strides)
            h = (h ^ (uint64_t)l->strides[i]) * 1099511628211ULL;
    }
    return &cache[(h ^ (uint64_t)l->ndim) % SLOTS];
}

/* Read in place, while a store may be writing: the caller checks `seq`
 * before trusting the answer, and the format compare is bounded. */
static int same_key(const entry *e, const pybuf_layout *l)
{
    size_t dims = sizeof(int64_t) * (size_t)l->ndim;
    return e->used && e->ndim == l->ndim && e->has_strides == (l->has_strides != 0) &&
           strncmp(e->format, l->format, CACHED_FORMATLEN) == 0 &&
           memcmp(e->shape, l->shape, dims) == 0 &&
           (!l->has_strides || memcmp(e->strides_in, l->strides, dims) == 0);
}

int layout_cache_lookup(pybuf_layout *l)
{
    if (!cacheable(l))
        return 0;
    uint64_t before = __atomic_load_n(&seq, __ATOMIC_ACQUIRE);
    if (before & 1)
        return 0; /* a store is writing */
    const entry *e = slot_for(l);
    int match = same_key(e, l);
    verdict v;
    if (match)
        memcpy(&v, &e->v, sizeof v);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&seq, __ATOMIC_RELAXED) != before)
        return 0; /* what was read may be torn: ask the core */
    if (!match || l->address < v.addr_min || l->address > v.addr_max)
        return 0;
    memcpy(l->strides, v.strides, sizeof(int64_t) * (size_t)l->ndim);
    l->itemsize = v.itemsize;
    l->nbytes = v.nbytes;
    l->lo = v.lo;
    l->hi = v.hi;
    l->dl_code = v.dl_code;
    l->dl_bits = v.dl_bits;
    l->c_contiguous = v.c_contiguous;
    l->f_contiguous = v.f_contiguous;
    l->addr_min = v.addr_min;
    l->addr_max = v.addr_max;
    COUNTER_ADD(&hits);
    return 1;
}

void layout_cache_store(const pybuf_layout *l, const int64_t *strides_in)
{
    if (!cacheable(l))
        return;
    pthread_once(&atfork_once, install_atfork);
    entry *e = slot_for(l);
    size_t dims = sizeof(int64_t) * (size_t)l->ndim;
    pthread_mutex_lock(&cache_lock);
    __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    e->used = 1;
    strcpy(e->format, l->format);
    e->ndim = l->ndim;
    e->has_strides = l->has_strides != 0;
    memcpy(e->shape, l->shape, dims);
    memcpy(e->strides_in, strides_in, dims);
    memcpy(e->v.strides, l->strides, dims);
    e->v.itemsize = l->itemsize;
    e->v.nbytes = l->nbytes;
    e->v.lo = l->lo;
    e->v.hi = l->hi;
    e->v.dl_code = l->dl_code;
    e->v.dl_bits = l->dl_bits;
    e->v.c_contiguous = l->c_contiguous;
    e->v.f_contiguous = l->f_contiguous;
    e->v.addr_min = l->addr_min;
    e->v.addr_max = l->addr_max;
    __atomic_add_fetch(&seq, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&cache_lock);
}
