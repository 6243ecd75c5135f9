/*
 * site.c: where an owner, buffer or export was created, for pybuf.trace().
 *
 * Only called while tracing is on: walking frames and asking the threading
 * module for the thread's name is far too slow for the export hot path.
 * Both pieces of state here are per process and read by every interpreter:
 * the switch is atomic, the package directory is written once.
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "shim.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int trace_enabled; /* atomic; changed only under trace_lock */
static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;

/* A forked child has one thread: whoever held the lock in the parent is gone. */
static void reset_lock_in_child(void) { pthread_mutex_init(&trace_lock, NULL); }
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void) { pthread_atfork(NULL, NULL, reset_lock_in_child); }

int trace_on(void) { return ATOMIC_LOAD(&trace_enabled); }

int trace_switch(const core_api *core, int on)
{
    pthread_once(&atfork_once, install_atfork);
    /* The shim's switch and the core's change together, whichever
     * interpreters call at once. */
    pthread_mutex_lock(&trace_lock);
    int was = trace_on();
    registry_flush(); /* owners made before are traced against from now on */
    ATOMIC_STORE(&trace_enabled, on != 0);
    core->set_trace(on);
    pthread_mutex_unlock(&trace_lock);
    return was;
}

/* UTF-8 of the package's directory, ending in a separator: frames from
 * pybuf's own Python files are skipped. Every interpreter imports the same
 * files, so the first one to set it wins and the string is never freed. */
static char *package_dir; /* atomic pointer */

int site_set_package_dir(PyObject *dir)
{
    if (ATOMIC_LOAD(&package_dir) != NULL)
        return 0;
    const char *utf8 = PyUnicode_AsUTF8(dir);
    if (utf8 == NULL)
        return -1;
    char *copy = strdup(utf8);
    if (copy == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    char *expected = NULL;
    if (!__atomic_compare_exchange_n(&package_dir, &expected, copy, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        free(copy); /* another interpreter set it first */
    return 0;
}

static int is_own_file(PyObject *filename)
{
    const char *dir = ATOMIC_LOAD(&package_dir);
    if (dir == NULL || !PyUnicode_Check(filename))
        return 0;
    const char *name = PyUnicode_AsUTF8(filename);
    if (name == NULL) {
        PyErr_Clear();
        return 0;
    }
    return strncmp(name, dir, strlen(dir)) == 0;
}

static PyObject *thread_name(void)
{
    PyObject *threading = PyImport_ImportModule("threading");
    if (threading == NULL)
        return NULL;
    PyObject *t = PyObject_CallMethod(threading, "current_thread", NULL);
    Py_DECREF(threading);
    if (t == NULL)
        return NULL;
    PyObject *name = PyObject_GetAttrString(t, "name");
    Py_DECREF(t);
    return name;
}

char *site_capture(void)
{
    PyObject *saved = shim_err_take();
    char *out = NULL;
    PyFrameObject *frame = PyEval_GetFrame();
    Py_XINCREF(frame);
    while (frame != NULL) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        int own = is_own_file(code->co_filename);
        if (!own) {
            PyObject *name = thread_name();
            PyObject *site = PyUnicode_FromFormat("%U:%d in %S", code->co_filename,
                                                  PyFrame_GetLineNumber(frame),
                                                  name ? name : Py_None);
            Py_XDECREF(name);
            const char *utf8 = site ? PyUnicode_AsUTF8(site) : NULL;
            if (utf8 != NULL)
                out = strdup(utf8);
            Py_XDECREF(site);
            Py_DECREF(code);
            Py_DECREF(frame);
            break;
        }
        Py_DECREF(code);
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    PyErr_Clear();
    shim_err_restore(saved);
    return out;
}
