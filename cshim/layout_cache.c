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
 * Each interpreter has its own cache (in its module state), touched only
 * with that interpreter's GIL held: own-GIL interpreters running in parallel
 * share nothing here but the hit counter, which is atomic. On a
 * free-threaded build the threads of one interpreter share the cache: an
 * entry is copied in and out under the cache's lock, so no thread reads
 * half of one layout and half of another (nothing is called while it is held).
 */
#include "shim.h"

#include <string.h>

#define SLOTS 64
#define CACHED_MAXDIM 8
#define CACHED_FORMATLEN 48

typedef struct {
    int used;
    char format[CACHED_FORMATLEN];
    int32_t ndim, has_strides;
    int64_t shape[CACHED_MAXDIM];
    int64_t strides_in[CACHED_MAXDIM];
    /* what the core answered */
    int64_t strides[CACHED_MAXDIM];
    int64_t itemsize, nbytes, lo, hi;
    int32_t dl_code, dl_bits, c_contiguous, f_contiguous, element_strides;
    uint64_t addr_min, addr_max;
} entry;

struct layout_cache {
    shim_mutex lock;
    entry slots[SLOTS];
};

static uint64_t hits; /* atomic, over all interpreters; for tests: proof that a hit skips the core */

uint64_t layout_cache_hits(void) { return ATOMIC_LOAD(&hits); }

layout_cache *layout_cache_new(void)
{
    layout_cache *c = PyMem_RawCalloc(1, sizeof *c);
    if (c == NULL)
        PyErr_NoMemory();
    return c;
}

void layout_cache_free(layout_cache *c) { PyMem_RawFree(c); }

static int cacheable(const pybuf_layout *l)
{
    return !l->is_region && l->format != NULL && l->ndim >= 0 && l->ndim <= CACHED_MAXDIM &&
           (!l->has_strides || l->nstrides == l->ndim) &&
           strlen(l->format) < CACHED_FORMATLEN;
}

static entry *slot_for(layout_cache *c, const pybuf_layout *l)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = l->format; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    for (int i = 0; i < l->ndim; i++) {
        h = (h ^ (uint64_t)l->shape[i]) * 1099511628211ULL;
        if (l->has_strides)
            h = (h ^ (uint64_t)l->strides[i]) * 1099511628211ULL;
    }
    return &c->slots[(h ^ (uint64_t)l->ndim) % SLOTS];
}

static int same_key(const entry *e, const pybuf_layout *l)
{
    size_t dims = sizeof(int64_t) * (size_t)l->ndim;
    return e->used && e->ndim == l->ndim && e->has_strides == (l->has_strides != 0) &&
           strcmp(e->format, l->format) == 0 && memcmp(e->shape, l->shape, dims) == 0 &&
           (!l->has_strides || memcmp(e->strides_in, l->strides, dims) == 0);
}

int layout_cache_lookup(layout_cache *c, pybuf_layout *l)
{
    if (!cacheable(l))
        return 0;
    SHIM_LOCK(&c->lock);
    const entry *e = slot_for(c, l);
    if (!same_key(e, l) || l->address < e->addr_min || l->address > e->addr_max) {
        SHIM_UNLOCK(&c->lock);
        return 0;
    }
    memcpy(l->strides, e->strides, sizeof(int64_t) * (size_t)l->ndim);
    l->itemsize = e->itemsize;
    l->nbytes = e->nbytes;
    l->lo = e->lo;
    l->hi = e->hi;
    l->dl_code = e->dl_code;
    l->dl_bits = e->dl_bits;
    l->c_contiguous = e->c_contiguous;
    l->f_contiguous = e->f_contiguous;
    l->element_strides = e->element_strides;
    l->addr_min = e->addr_min;
    l->addr_max = e->addr_max;
    SHIM_UNLOCK(&c->lock);
    COUNTER_ADD(&hits);
    return 1;
}

void layout_cache_store(layout_cache *c, const pybuf_layout *l, const int64_t *strides_in)
{
    if (!cacheable(l))
        return;
    SHIM_LOCK(&c->lock);
    entry *e = slot_for(c, l);
    size_t dims = sizeof(int64_t) * (size_t)l->ndim;
    e->used = 1;
    strcpy(e->format, l->format);
    e->ndim = l->ndim;
    e->has_strides = l->has_strides != 0;
    memcpy(e->shape, l->shape, dims);
    memcpy(e->strides_in, strides_in, dims);
    memcpy(e->strides, l->strides, dims);
    e->itemsize = l->itemsize;
    e->nbytes = l->nbytes;
    e->lo = l->lo;
    e->hi = l->hi;
    e->dl_code = l->dl_code;
    e->dl_bits = l->dl_bits;
    e->c_contiguous = l->c_contiguous;
    e->f_contiguous = l->f_contiguous;
    e->element_strides = l->element_strides;
    e->addr_min = l->addr_min;
    e->addr_max = l->addr_max;
    SHIM_UNLOCK(&c->lock);
}
