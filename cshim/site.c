/*
 * site.c: where an owner, buffer or export was created, for pybuf.trace().
 *
 * Only called while tracing is on: walking frames and asking the threading
 * module for the thread's name is far too slow for the export hot path.
 */
#include "shim.h"

#include <string.h>

int trace_enabled;
PyObject *package_dir; /* frames from pybuf's own Python files are skipped */

static int is_own_file(PyObject *filename)
{
    if (package_dir == NULL || !PyUnicode_Check(filename))
        return 0;
    Py_ssize_t n = PyUnicode_GetLength(package_dir);
    return PyUnicode_Tailmatch(filename, package_dir, 0, n, -1) == 1;
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
