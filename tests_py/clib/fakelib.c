/*
 * fakelib.c: a stand-in for a closed-source C library that allocates and frees
 * its own buffers.  Used only by the pybuf test suite.
 *
 *   void *fake_create(size_t nbytes)        -> handle
 *   void *fake_create_tail(size_t nbytes)   -> handle whose data ends exactly at
 *                                              the trailing guard page
 *   void *fake_data(void *h)                -> data pointer
 *   size_t fake_nbytes(void *h)
 *   void  fake_destroy(void *h)             -> data pages become PROT_NONE
 *   void  fake_free_data(void *p)           -> same, looked up by DATA pointer
 *                                              (p == NULL only counts a NULL call)
 *   int   fake_destroy_count(void *h)
 *   long  fake_total_destroys(void), fake_live(void), fake_null_frees(void)
 *   void  fake_set_strict(int)              -> 1 (default): a second destroy of a
 *                                              handle prints "double destroy" and
 *                                              abort()s; 0: it only counts
 *   void  fake_destroy_gil_probe(void *h)  -> fake_destroy, recording whether the
 *                                              GIL was held: int fake_last_gil_state()
 *   FAKELIB_LOG=1 in the environment: each first destroy writes
 *                                              "fake_destroy <handle>" to fd 2
 *   void  fake_count_arg(void *p)           -> a `void f(void *)` that adds 1 to
 *                                              the long that p points to (or to
 *                                              the NULL counter when p == NULL)
 *   Tokens, {uint64 magic; uint64 id} wherever the caller puts them (a ctypes or
 *   cffi object, or fake_token_new's malloc), for releases that must find their
 *   argument's memory intact:
 *   void  fake_token_init(void *p, uint64 id) -> writes a live token at p
 *   void *fake_token_new(uint64 id)         -> a live token in memory never freed
 *   void  fake_token_release(void *p)       -> a `void f(void *)`: a live token with
 *                                              id < FAKE_TOKENS is counted and marked
 *                                              released; anything else (a second
 *                                              release, freed or reused memory) only
 *                                              counts as bad; NULL counts as NULL
 *   void  fake_destroy_token(void *p)       -> a live token whose id is a handle: marked
 *                                              released, then fake_destroy(handle);
 *                                              anything else only counts as bad
 *   long  fake_token_releases(uint64 id), fake_token_bad(void), fake_token_nulls(void)
 *   FAKE_TOKEN_REPORT=1 in the environment: at process exit (after Python's
 *                                              finalization) one line on fd 2:
 *                                              "fake tokens: released <ids> bad <n> null <n>"
 *   void  fake_destroy_indirect(void **pp)  -> fake_destroy(*pp): a release whose
 *                                              `arg` is memory the caller allocated
 *                                              (a freed arg shows as a bad handle)
 *
 * Data layout: [guard page][data pages][guard page], guards PROT_NONE.  fake_create
 * puts data at the start of the data pages (page-aligned); when nbytes is a multiple
 * of the page size the data ends exactly at the trailing guard page.  The data is
 * filled with int32 i at index i (remaining tail bytes 0xAB).
 *
 * Destroyed regions are never unmapped nor reused: any access after destroy is an
 * immediate SIGSEGV.  Handle metadata lives in separately malloc'd records that are
 * never freed, so counts stay readable after destroy.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct fake_handle {
    unsigned magic;
    unsigned char *map;   /* whole mapping, guards included */
    size_t map_len;
    unsigned char *data;
    size_t nbytes;
    unsigned char *pages; /* first data page */
    size_t pages_len;
    int destroy_count;
    struct fake_handle *next;
} fake_handle;

#define FAKE_MAGIC 0xFA4E1234u

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static fake_handle *all_handles = NULL;
static long total_destroys = 0;
static long live = 0;
static long null_frees = 0;
static int strict = 1;

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static void *create(size_t nbytes, int tail) {
    size_t ps = page_size();
    size_t npages = (nbytes + ps - 1) / ps;
    if (npages == 0) npages = 1;
    size_t len = (npages + 2) * ps;
    unsigned char *map = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) return NULL;
    if (mprotect(map + ps, npages * ps, PROT_READ | PROT_WRITE) != 0) return NULL;
    fake_handle *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->magic = FAKE_MAGIC;
    h->map = map;
    h->map_len = len;
    h->pages = map + ps;
    h->pages_len = npages * ps;
    h->nbytes = nbytes;
    h->data = tail ? h->pages + h->pages_len - nbytes : h->pages;
    memset(h->pages, 0xAB, h->pages_len);
    int32_t *ip = (int32_t *)h->data;
    if (((uintptr_t)ip % 4) == 0) {
        for (size_t i = 0; i < nbytes / 4; i++) ip[i] = (int32_t)i;
    }
    pthread_mutex_lock(&mu);
    h->next = all_handles;
    all_handles = h;
    live++;
    pthread_mutex_unlock(&mu);
    return h;
}

void *fake_create(size_t nbytes) { return create(nbytes, 0); }
void *fake_create_tail(size_t nbytes) { return create(nbytes, 1); }

static fake_handle *check(void *p, const char *who) {
    fake_handle *h = p;
    if (h == NULL || h->magic != FAKE_MAGIC) {
        fprintf(stderr, "fakelib: %s: bad handle %p\n", who, p);
        fflush(stderr);
        abort();
    }
    return h;
}

void *fake_data(void *p) { return check(p, "fake_data")->data; }
size_t fake_nbytes(void *p) { return check(p, "fake_nbytes")->nbytes; }
size_t fake_page_size(void) { return page_size(); }

void fake_destroy(void *p) {
    fake_handle *h = check(p, "fake_destroy");
    pthread_mutex_lock(&mu);
    h->destroy_count++;
    total_destroys++;
    if (h->destroy_count > 1) {
        int s = strict;
        pthread_mutex_unlock(&mu);
        fprintf(stderr, "double destroy of fake handle %p\n", p);
        fflush(stderr);
        if (s) abort();
        return;
    }
    live--;
    pthread_mutex_unlock(&mu);
    mprotect(h->pages, h->pages_len, PROT_NONE);
    if (getenv("FAKELIB_LOG")) {
        char msg[96];
        int n = snprintf(msg, sizeof msg, "fake_destroy %p\n", p);
        if (n > 0) (void)!write(2, msg, (size_t)n);
    }
}

void fake_free_data(void *p) {
    if (p == NULL) {
        pthread_mutex_lock(&mu);
        null_frees++;
        pthread_mutex_unlock(&mu);
        return;
    }
    fake_handle *found = NULL;
    pthread_mutex_lock(&mu);
    for (fake_handle *h = all_handles; h; h = h->next) {
        if (h->data == p) { found = h; break; }
    }
    pthread_mutex_unlock(&mu);
    if (!found) {
        fprintf(stderr, "fakelib: fake_free_data: unknown pointer %p\n", p);
        fflush(stderr);
        abort();
    }
    fake_destroy(found);
}

int fake_destroy_count(void *p) {
    fake_handle *h = check(p, "fake_destroy_count");
    pthread_mutex_lock(&mu);
    int c = h->destroy_count;
    pthread_mutex_unlock(&mu);
    return c;
}

long fake_total_destroys(void) {
    pthread_mutex_lock(&mu);
    long c = total_destroys;
    pthread_mutex_unlock(&mu);
    return c;
}

long fake_live(void) {
    pthread_mutex_lock(&mu);
    long c = live;
    pthread_mutex_unlock(&mu);
    return c;
}

long fake_null_frees(void) {
    pthread_mutex_lock(&mu);
    long c = null_frees;
    pthread_mutex_unlock(&mu);
    return c;
}

void fake_set_strict(int s) {
    pthread_mutex_lock(&mu);
    strict = s;
    pthread_mutex_unlock(&mu);
}

void fake_count_arg(void *p) {
    pthread_mutex_lock(&mu);
    if (p == NULL) null_frees++;
    else (*(long *)p)++;
    pthread_mutex_unlock(&mu);
}

void fake_destroy_indirect(void **pp) {
    if (pp == NULL) {
        fprintf(stderr, "fakelib: fake_destroy_indirect: NULL arg\n");
        fflush(stderr);
        abort();
    }
    fake_destroy(*pp);
}

/* A release that records whether the calling thread held the GIL (looked up in
 * the process with dlsym, so this file needs no Python headers): 1 held, 0 not,
 * -1 never called or PyGILState_Check unavailable. */
static int last_gil_state = -1;

void fake_destroy_gil_probe(void *p) {
    int (*check_gil)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGILState_Check");
    int st = check_gil ? check_gil() : -1;
    pthread_mutex_lock(&mu);
    last_gil_state = st;
    pthread_mutex_unlock(&mu);
    fake_destroy(p);
}

int fake_last_gil_state(void) {
    pthread_mutex_lock(&mu);
    int s = last_gil_state;
    pthread_mutex_unlock(&mu);
    return s;
}

/* ---- tokens: a release that checks what its argument points to ---- */

typedef struct {
    uint64_t magic;
    uint64_t id;
} fake_token;

#define FAKE_TOKEN_LIVE 0x70CE4A11FEED5AFEull
#define FAKE_TOKEN_RELEASED 0x70CE4A11DEADDEADull
#define FAKE_TOKENS 4096

static long token_releases[FAKE_TOKENS];
static long token_bad, token_nulls;

void fake_token_init(void *p, uint64_t id) {
    fake_token *t = p;
    t->magic = FAKE_TOKEN_LIVE;
    t->id = id;
}

void *fake_token_new(uint64_t id) {
    fake_token *t = malloc(sizeof *t);
    if (t != NULL)
        fake_token_init(t, id);
    return t;
}

void fake_token_release(void *p) {
    pthread_mutex_lock(&mu);
    fake_token *t = p;
    if (t == NULL) {
        token_nulls++;
    } else if (t->magic == FAKE_TOKEN_LIVE && t->id < FAKE_TOKENS) {
        token_releases[t->id]++;
        t->magic = FAKE_TOKEN_RELEASED;
    } else {
        token_bad++;
    }
    pthread_mutex_unlock(&mu);
}

void fake_destroy_token(void *p) {
    fake_token *t = p;
    pthread_mutex_lock(&mu);
    int live = t != NULL && t->magic == FAKE_TOKEN_LIVE;
    uint64_t handle = live ? t->id : 0;
    if (live)
        t->magic = FAKE_TOKEN_RELEASED;
    else
        token_bad++;
    pthread_mutex_unlock(&mu);
    if (live)
        fake_destroy((void *)(uintptr_t)handle);
}

long fake_token_releases(uint64_t id) {
    pthread_mutex_lock(&mu);
    long n = id < FAKE_TOKENS ? token_releases[id] : -1;
    pthread_mutex_unlock(&mu);
    return n;
}

long fake_token_bad(void) {
    pthread_mutex_lock(&mu);
    long n = token_bad;
    pthread_mutex_unlock(&mu);
    return n;
}

long fake_token_nulls(void) {
    pthread_mutex_lock(&mu);
    long n = token_nulls;
    pthread_mutex_unlock(&mu);
    return n;
}

/* Library destructors run after Py_Finalize: the report sees every release. */
__attribute__((destructor)) static void token_report(void) {
    const char *on = getenv("FAKE_TOKEN_REPORT");
    if (on == NULL || strcmp(on, "1") != 0)
        return;
    char line[8192];
    size_t n = (size_t)snprintf(line, sizeof line, "fake tokens: released");
    for (int i = 0; i < FAKE_TOKENS && n < sizeof line - 64; i++)
        for (long k = 0; k < token_releases[i]; k++)
            n += (size_t)snprintf(line + n, sizeof line - n, " %d", i);
    n += (size_t)snprintf(line + n, sizeof line - n, " bad %ld null %ld\n", token_bad,
                          token_nulls);
    ssize_t w = write(2, line, n < sizeof line ? n : sizeof line - 1);
    (void)w;
}
