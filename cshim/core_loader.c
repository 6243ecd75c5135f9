/*
 * core_loader.c: loads pybuf's Go core at first need, and keeps Go out of
 * forked children.
 *
 * Loading a Go shared library starts the Go runtime and its threads. So
 * `import pybuf` loads nothing: a forkserver or spawn server can import it
 * freely. A process forked after the load inherits the library but not the
 * runtime's threads, and Go code there hangs as soon as it needs them; the
 * atfork handler below makes every later call here fail with ForkError.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

/* A symbol every Go shared library defines, whoever built it. */
#define GO_RUNTIME_MARKER "_cgo_wait_runtime_init_done"
#define CORE_FILENAME "_pybuf_core.so"

static PyObject *shim_module;          /* borrowed: the module outlives us */
static PyObject *explicit_path;        /* from load_core(), or NULL */
static PyObject *loaded_path;          /* the file the core came from */
static void *core_handle;
static core_api api;
static int loaded;                     /* GIL: written once, under the GIL */
static volatile int forked_after_load; /* set in the child by atfork */
static uint64_t generation;            /* bumped in every forked child */
static uint64_t core_uses;             /* calls handed the core, for tests */

static void atfork_child(void)
{
    generation++;
    if (loaded)
        forked_after_load = 1;
}

uint64_t fork_generation(void) { return generation; }

int core_is_loaded(void) { return loaded; }

int core_loader_init(PyObject *module)
{
    shim_module = module;
    if (pthread_atfork(NULL, NULL, atfork_child) != 0) {
        PyErr_SetString(PyExc_ImportError, "pybuf: pthread_atfork failed");
        return -1;
    }
    return 0;
}

int core_forked_after_load(void) { return forked_after_load; }

uint64_t core_use_count(void) { return ATOMIC_LOAD(&core_uses); }

PyObject *core_loaded_path(void) { return loaded ? loaded_path : NULL; }

const char *core_version(void)
{
    return (loaded && !forked_after_load) ? api.version() : "";
}

const core_api *core_if_usable(void)
{
    if (!loaded || forked_after_load)
        return NULL;
    ATOMIC_ADD(&core_uses, 1);
    return &api;
}

/* Finds a Go runtime already in the process, other than the file `ours`
 * (compared as a file: the same library may be loaded under another name). */
struct go_search {
    void *ours;        /* the library by the loader's own lookup (a bare name
                          is searched on the library path), or NULL */
    int have_ours;
    dev_t dev;
    ino_t ino;
    char found[1024];
};

static int find_go_runtime(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct go_search *s = data;
    if (info->dlpi_name == NULL || info->dlpi_name[0] == '\0')
        return 0;
    void *h = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
    if (h == NULL)
        return 0;
    int is_go = dlsym(h, GO_RUNTIME_MARKER) != NULL;
    struct stat st;
    int is_ours = (s->ours != NULL && h == s->ours) ||
                  (s->have_ours && stat(info->dlpi_name, &st) == 0 && st.st_dev == s->dev &&
                   st.st_ino == s->ino);
    dlclose(h);
    if (is_go && !is_ours) {
        snprintf(s->found, sizeof s->found, "%s", info->dlpi_name);
        return 1;
    }
    return 0;
}

static PyObject *default_path(void)
{
    PyObject *file = PyModule_GetFilenameObject(shim_module);
    if (file == NULL)
        return NULL;
    PyObject *os_path = PyImport_ImportModule("os.path");
    if (os_path == NULL) {
        Py_DECREF(file);
        return NULL;
    }
    PyObject *dir = PyObject_CallMethod(os_path, "dirname", "O", file);
    PyObject *path = dir ? PyObject_CallMethod(os_path, "join", "Os", dir, CORE_FILENAME) : NULL;
    Py_XDECREF(dir);
    Py_DECREF(os_path);
    Py_DECREF(file);
    return path;
}

static PyObject *chosen_path(void)
{
    if (explicit_path != NULL)
        return Py_NewRef(explicit_path);
    const char *env = getenv("PYBUF_CORE");
    if (env != NULL && env[0] != '\0')
        return PyUnicode_DecodeFSDefault(env);
    /* An installed Go module's library holds pybuf's core too, and must be
     * the process's one Go runtime whenever the module is imported. */
    PyObject *announced = go_library_announced();
    if (announced == NULL || announced != Py_None)
        return announced;
    Py_DECREF(announced);
    return default_path();
}

#define BIND(field, symbol)                                                    \
    do {                                                                       \
        *(void **)(&api.field) = dlsym(h, symbol);                             \
        if (api.field == NULL) {                                               \
            PyErr_Format(PyExc_ImportError,                                    \
                         "pybuf: %U is not a pybuf Go core (no symbol %s)",    \
                         path, symbol);                                        \
            return -1;                                                         \
        }                                                                      \
    } while (0)

static int bind_all(void *h, PyObject *path)
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
    BIND(go_module, "pybuf_core_go_module");
    BIND(go_call, "pybuf_core_go_call");
    BIND(take_export, "pybuf_core_take_export");
    return 0;
}

static int load(void)
{
    PyObject *chosen = chosen_path();
    if (chosen == NULL)
        return -1;
    PyObject *path = absolute_if_exists(chosen);
    Py_DECREF(chosen);
    if (path == NULL)
        return -1;
    if (loaded) {
        /* Reading the announced libraries may release the GIL, and another
         * thread's first use may have loaded the core meanwhile. From here
         * on nothing releases the GIL until the load is complete. */
        Py_DECREF(path);
        return 0;
    }
    PyObject *encoded = PyUnicode_EncodeFSDefault(path);
    if (encoded == NULL) {
        Py_DECREF(path);
        return -1;
    }
    const char *cpath = PyBytes_AS_STRING(encoded);

    /* The library we are about to load may already be in the process (a Go
     * extension loaded through ctypes): that runtime is the one to share. */
    struct go_search search = {.ours = dlopen(cpath, RTLD_LAZY | RTLD_NOLOAD)};
    search.have_ours = stat_path(path, &search.dev, &search.ino) == 0;
    dl_iterate_phdr(find_go_runtime, &search);
    if (search.ours != NULL)
        dlclose(search.ours);
    if (search.found[0] != '\0') {
        PyErr_Format(PyExc_ImportError,
                     "pybuf: a Go runtime is already running in this process "
                     "(from %s); a process can hold only one. Load pybuf's core "
                     "from that library instead: pybuf.load_core(path) or "
                     "PYBUF_CORE=path, if it embeds pybuf's core",
                     search.found);
        goto fail;
    }

    void *h = dlopen(cpath, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *why = dlerror();
        PyErr_Format(PyExc_ImportError, "pybuf: cannot load the Go core %U: %s",
                     path, why ? why : "unknown error");
        goto fail;
    }
    if (bind_all(h, path) < 0)
        goto fail; /* a Go library cannot be unloaded: keep the handle */
    if (api.abi() != PYBUF_CORE_ABI) {
        PyErr_Format(PyExc_ImportError,
                     "pybuf: the Go core %U speaks ABI %d, this module needs %d",
                     path, (int)api.abi(), PYBUF_CORE_ABI);
        goto fail;
    }
    core_handle = h;
    loaded_path = path;
    loaded = 1;
    if (trace_enabled)
        api.set_trace(1);
    Py_DECREF(encoded);
    return 0;
fail:
    Py_DECREF(encoded);
    Py_DECREF(path);
    return -1;
}

const core_api *core_require(void)
{
    if (forked_after_load) {
        PyErr_SetString(PybufForkError,
                        "pybuf cannot create or inspect owners in a process forked "
                        "after pybuf's Go core was loaded (Go does not survive "
                        "fork). Buffers and views inherited from the parent keep "
                        "working. Use the 'spawn' or 'forkserver' start method "
                        "(multiprocessing.get_context('forkserver')), or fork "
                        "before the first use of pybuf");
        return NULL;
    }
    if (!loaded && load() < 0)
        return NULL;
    ATOMIC_ADD(&core_uses, 1);
    return &api;
}

PyObject *core_set_path(PyObject *path)
{
    PyObject *fspath = PyOS_FSPath(path);
    if (fspath == NULL)
        return NULL;
    PyObject *str = NULL;
    if (!PyUnicode_FSDecoder(fspath, &str)) {
        Py_DECREF(fspath);
        return NULL;
    }
    Py_DECREF(fspath);
    if (loaded) {
        if (same_file(str, loaded_path)) {
            Py_DECREF(str);
            Py_RETURN_NONE;
        }
        PyErr_Format(PyExc_ImportError,
                     "pybuf: load_core(%R) comes too late: the Go core is "
                     "already loaded from %R, and a Go library cannot be "
                     "unloaded. Call load_core() before any other use",
                     str, loaded_path);
        Py_DECREF(str);
        return NULL;
    }
    Py_XSETREF(explicit_path, str);
    if (core_require() == NULL) {
        Py_CLEAR(explicit_path);
        return NULL;
    }
    Py_RETURN_NONE;
}
