/*
 * core_loader.c: loads pybuf's Go core at first need, and keeps Go out of
 * forked children.
 *
 * Loading a Go shared library starts the Go runtime and its threads. So
 * `import pybuf` loads nothing: a forkserver or spawn server can import it
 * freely. A process forked after the load inherits the library but not the
 * runtime's threads, and Go code there hangs as soon as it needs them; the
 * atfork handler below makes every later call here fail with ForkError.
 *
 * All of it is per process and shared by every interpreter, and own-GIL
 * interpreters run in parallel: the load and the paths are behind
 * `loader_lock`, and the flags read on every call are atomic. The lock is
 * never held while waiting for a GIL or running Python code that could.
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A symbol every Go shared library defines, whoever built it. */
#define GO_RUNTIME_MARKER "_cgo_wait_runtime_init_done"
#define CORE_FILENAME "_pybuf_core.so"

static pthread_mutex_t loader_lock = PTHREAD_MUTEX_INITIALIZER;
/* Under loader_lock: file-system encoded paths (malloc'd, never freed once
 * the core is loaded). */
static char *default_path;             /* _pybuf_core.so next to the extension */
static char *explicit_path;            /* from load_core(), or NULL */
static char *loaded_path;              /* the file the core came from */
static void *core_handle;
static core_api api;                   /* written before `loaded` is published */
static int loaded;                     /* atomic: 1 once api is complete */
static int forked_after_load;          /* atomic; set in the child by atfork */
static uint64_t generation;            /* atomic; bumped in every forked child */
static uint64_t core_uses;             /* COUNTER_ADD: calls handed the core, for tests */

/* The child of fork() runs this alone, before any other code: the lock is
 * reset too, since the thread that held it in the parent does not exist here. */
static void atfork_child(void)
{
    ATOMIC_ADD(&generation, 1);
    if (ATOMIC_LOAD(&loaded))
        ATOMIC_STORE(&forked_after_load, 1);
    pthread_mutex_init(&loader_lock, NULL);
}

uint64_t fork_generation(void) { return ATOMIC_LOAD(&generation); }

int core_is_loaded(void) { return ATOMIC_LOAD(&loaded); }

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int atfork_status;
static void install_atfork(void) { atfork_status = pthread_atfork(NULL, NULL, atfork_child); }

/* The core next to the extension's own file, as a file-system path. */
static char *path_next_to(PyObject *module)
{
    PyObject *file = PyModule_GetFilenameObject(module);
    PyObject *encoded = file ? PyUnicode_EncodeFSDefault(file) : NULL;
    Py_XDECREF(file);
    if (encoded == NULL)
        return NULL;
    const char *f = PyBytes_AS_STRING(encoded);
    const char *slash = strrchr(f, '/');
    size_t dirlen = slash ? (size_t)(slash - f) + 1 : 0;
    char *path = malloc(dirlen + sizeof CORE_FILENAME);
    if (path == NULL) {
        Py_DECREF(encoded);
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(path, f, dirlen);
    memcpy(path + dirlen, CORE_FILENAME, sizeof CORE_FILENAME);
    Py_DECREF(encoded);
    return path;
}

int core_loader_init(PyObject *module)
{
    pthread_once(&atfork_once, install_atfork);
    if (atfork_status != 0) {
        PyErr_SetString(PyExc_ImportError, "pybuf: pthread_atfork failed");
        return -1;
    }
    char *path = path_next_to(module);
    if (path == NULL)
        return -1;
    pthread_mutex_lock(&loader_lock);
    if (default_path == NULL) { /* every interpreter imports the same file */
        default_path = path;
        path = NULL;
    }
    pthread_mutex_unlock(&loader_lock);
    free(path);
    return 0;
}

int core_forked_after_load(void) { return ATOMIC_LOAD(&forked_after_load); }

uint64_t core_use_count(void) { return ATOMIC_LOAD(&core_uses); }

/* The file the core came from (new reference), or NULL when not loaded. */
PyObject *core_loaded_path(void)
{
    if (!ATOMIC_LOAD(&loaded))
        return NULL;
    return PyUnicode_DecodeFSDefault(loaded_path); /* set before `loaded`, never changed */
}

const char *core_version(void)
{
    return (ATOMIC_LOAD(&loaded) && !ATOMIC_LOAD(&forked_after_load)) ? api.version() : "";
}

const core_api *core_if_usable(void)
{
    if (!ATOMIC_LOAD(&loaded) || ATOMIC_LOAD(&forked_after_load))
        return NULL;
    COUNTER_ADD(&core_uses);
    return &api;
}

/* Finds a Go runtime already in the process, other than the file `ours`
 * (compared as a file: the same library may be loaded under another name).
 *
 * In two steps: dl_iterate_phdr's callback only copies the names of the
 * loaded libraries; each is looked at (dlopen, dlsym) after it returns. The
 * callback runs with the dynamic loader's list lock held, and a dlopen there
 * takes the loader's main lock after it, the reverse of a dlopen on another
 * thread (an extension module imported by another interpreter or a
 * free-threaded thread): the two deadlock. ThreadSanitizer's dlopen, slower,
 * made that happen in the own-GIL interpreter test. */
struct go_search {
    void *ours;        /* the library by the loader's own lookup (a bare name
                          is searched on the library path), or NULL */
    int have_ours;
    dev_t dev;
    ino_t ino;
    char found[1024];
};

struct loaded_names {
    char **names;
    size_t n, cap;
    int no_memory;
};

static int collect_name(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct loaded_names *l = data;
    if (info->dlpi_name == NULL || info->dlpi_name[0] == '\0')
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **grown = realloc(l->names, cap * sizeof *grown);
        if (grown == NULL) {
            l->no_memory = 1;
            return 1;
        }
        l->names = grown;
        l->cap = cap;
    }
    if ((l->names[l->n] = strdup(info->dlpi_name)) == NULL) {
        l->no_memory = 1;
        return 1;
    }
    l->n++;
    return 0;
}

/* Outside dl_iterate_phdr: whether the loaded library `name` is a Go runtime
 * other than ours (a library unloaded since it was listed is neither). */
static int is_other_go_runtime(const char *name, const struct go_search *s)
{
    void *h = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
    if (h == NULL)
        return 0;
    int is_go = dlsym(h, GO_RUNTIME_MARKER) != NULL;
    struct stat st;
    int is_ours = (s->ours != NULL && h == s->ours) ||
                  (s->have_ours && stat(name, &st) == 0 && st.st_dev == s->dev &&
                   st.st_ino == s->ino);
    dlclose(h);
    return is_go && !is_ours;
}

/* Fills s->found with the first other Go runtime loaded (empty: none).
 * -1 with MemoryError set when the names could not be copied. */
static int find_go_runtime(struct go_search *s)
{
    struct loaded_names l = {0};
    dl_iterate_phdr(collect_name, &l);
    for (size_t i = 0; i < l.n; i++) {
        if (!l.no_memory && s->found[0] == '\0' && is_other_go_runtime(l.names[i], s))
            snprintf(s->found, sizeof s->found, "%s", l.names[i]);
        free(l.names[i]);
    }
    free(l.names);
    if (l.no_memory) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Under loader_lock: load_core()'s path, else PYBUF_CORE, else the library
 * an installed Go module announced (it holds pybuf's core too, and must be
 * the process's one Go runtime whenever that module is imported), else the
 * default. */
static const char *chosen_path(const char *announced)
{
    if (explicit_path != NULL)
        return explicit_path;
    const char *env = getenv("PYBUF_CORE");
    if (env != NULL && env[0] != '\0')
        return env;
    if (announced != NULL)
        return announced;
    return default_path;
}

/* The announced Go module library as an absolute file-system path
 * (malloc'd), NULL with no error when there is none. Runs Python code (entry
 * points): called before loader_lock is taken. */
static char *announced_library(int *error)
{
    *error = 0;
    PyObject *announced = go_library_announced();
    if (announced == NULL || announced == Py_None) {
        *error = announced == NULL;
        Py_XDECREF(announced);
        return NULL;
    }
    PyObject *path = absolute_if_exists(announced);
    Py_DECREF(announced);
    PyObject *encoded = path ? PyUnicode_EncodeFSDefault(path) : NULL;
    Py_XDECREF(path);
    char *c = encoded ? strdup(PyBytes_AS_STRING(encoded)) : NULL;
    Py_XDECREF(encoded);
    if (c == NULL)
        *error = 1;
    return c;
}

#define BIND(field, symbol)                                                    \
    do {                                                                       \
        *(void **)(&api.field) = dlsym(h, symbol);                             \
        if (api.field == NULL) {                                               \
            PyErr_Format(PyExc_ImportError,                                    \
                         "pybuf: %s is not a pybuf Go core (no symbol %s)",    \
                         path, symbol);                                        \
            return -1;                                                         \
        }                                                                      \
    } while (0)

static int bind_all(void *h, const char *path)
{
    BIND(abi, "pybuf_core_abi");
    BIND(version, "pybuf_core_version");
    BIND(layout, "pybuf_core_layout");
    BIND(registry_apply, "pybuf_core_registry_apply");
    BIND(set_trace, "pybuf_core_set_trace");
    BIND(trace, "pybuf_core_trace");
    BIND(untrace, "pybuf_core_untrace");
    BIND(live_json, "pybuf_core_live_json");
    BIND(holders, "pybuf_core_holders");
    BIND(report_leaks, "pybuf_core_report_leaks");
    BIND(free, "pybuf_core_free");
    BIND(shm_create, "pybuf_core_shm_create");
    BIND(shm_attach, "pybuf_core_shm_attach");
    BIND(shm_unlink, "pybuf_core_shm_unlink");
    BIND(check_stream_format, "pybuf_core_check_stream_format");
    BIND(go_module, "pybuf_core_go_module");
    BIND(go_call, "pybuf_core_go_call");
    BIND(go_set_callback, "pybuf_core_go_set_callback");
    BIND(take_export, "pybuf_core_take_export");
    return 0;
}

/* Under loader_lock, with the calling interpreter's GIL: nothing here
 * waits for another GIL or runs Python code (dlopen runs only the Go
 * runtime's initialisation). */
static int load(const char *announced)
{
    const char *cpath = chosen_path(announced);
    if (cpath == NULL) {
        PyErr_SetString(PyExc_ImportError, "pybuf: no path to the Go core");
        return -1;
    }

    /* The library we are about to load may already be in the process (a Go
     * extension loaded through ctypes): that runtime is the one to share. */
    struct go_search search = {.ours = dlopen(cpath, RTLD_LAZY | RTLD_NOLOAD)};
    struct stat st;
    if (stat(cpath, &st) == 0) {
        search.have_ours = 1;
        search.dev = st.st_dev;
        search.ino = st.st_ino;
    }
    int searched = find_go_runtime(&search);
    if (search.ours != NULL)
        dlclose(search.ours);
    if (searched < 0)
        return -1;
    if (search.found[0] != '\0') {
        PyErr_Format(PyExc_ImportError,
                     "pybuf: a Go runtime is already running in this process "
                     "(from %s); a process can hold only one. Load pybuf's core "
                     "from that library instead: pybuf.load_core(path) or "
                     "PYBUF_CORE=path, if it embeds pybuf's core",
                     search.found);
        return -1;
    }

    void *h = dlopen(cpath, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *why = dlerror();
        PyErr_Format(PyExc_ImportError, "pybuf: cannot load the Go core %s: %s",
                     cpath, why ? why : "unknown error");
        return -1;
    }
    if (bind_all(h, cpath) < 0)
        return -1; /* a Go library cannot be unloaded: keep the handle */
    if (api.abi() != PYBUF_CORE_ABI) {
        PyErr_Format(PyExc_ImportError,
                     "pybuf: the Go core %s speaks ABI %d, this module needs %d",
                     cpath, (int)api.abi(), PYBUF_CORE_ABI);
        return -1;
    }
    api.go_set_callback(gocallback_call); /* Python callables given to Go functions */
    if ((loaded_path = strdup(cpath)) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    core_handle = h;
    if (trace_on())
        api.set_trace(1);
    ATOMIC_STORE(&loaded, 1);
    return 0;
}

static int load_once(void)
{
    int error;
    char *announced = announced_library(&error);
    if (error)
        return -1;
    pthread_mutex_lock(&loader_lock);
    int r = ATOMIC_LOAD(&loaded) ? 0 : load(announced);
    pthread_mutex_unlock(&loader_lock);
    free(announced);
    return r;
}

const core_api *core_require(module_state *st)
{
    if (ATOMIC_LOAD(&forked_after_load)) {
        PyErr_SetString(st->fork_error ? st->fork_error : PyExc_RuntimeError,
                        "pybuf cannot create or inspect owners in a process forked "
                        "after pybuf's Go core was loaded (Go does not survive "
                        "fork). Buffers and views inherited from the parent keep "
                        "working. Use the 'spawn' or 'forkserver' start method "
                        "(multiprocessing.get_context('forkserver')), or fork "
                        "before the first use of pybuf");
        return NULL;
    }
    if (!ATOMIC_LOAD(&loaded) && load_once() < 0)
        return NULL;
    COUNTER_ADD(&core_uses);
    return &api;
}

PyObject *core_set_path(module_state *st, PyObject *path)
{
    PyObject *str = NULL;
    if (!PyUnicode_FSDecoder(path, &str))
        return NULL;
    /* dlopen() searches the library path for a name without a slash, where
     * a user means the file of that name here */
    PyObject *abs = absolute_if_exists(str);
    Py_DECREF(str);
    if (abs == NULL)
        return NULL;
    PyObject *loaded_now = core_loaded_path();
    if (loaded_now != NULL) {
        int same = same_file(abs, loaded_now); /* as files, not as strings */
        Py_DECREF(loaded_now);
        if (same) {
            Py_DECREF(abs);
            Py_RETURN_NONE;
        }
    }
    PyObject *encoded = PyUnicode_EncodeFSDefault(abs);
    Py_DECREF(abs);
    if (encoded == NULL)
        return NULL;
    char *cpath = strdup(PyBytes_AS_STRING(encoded));
    Py_DECREF(encoded);
    if (cpath == NULL)
        return PyErr_NoMemory();
    pthread_mutex_lock(&loader_lock);
    int r = 0;
    if (ATOMIC_LOAD(&loaded)) { /* another file (compared above) */
        PyErr_Format(PyExc_ImportError,
                     "pybuf: load_core('%s') comes too late: the Go core is "
                     "already loaded from '%s', and a Go library cannot be "
                     "unloaded. Call load_core() before any other use",
                     cpath, loaded_path);
        r = -1;
        free(cpath);
    } else if (!ATOMIC_LOAD(&forked_after_load)) {
        free(explicit_path);
        explicit_path = cpath;
        if ((r = load(NULL)) < 0) {
            free(explicit_path);
            explicit_path = NULL;
        }
    } else {
        free(cpath);
    }
    pthread_mutex_unlock(&loader_lock);
    if (r < 0 || core_require(st) == NULL)
        return NULL;
    Py_RETURN_NONE;
}
