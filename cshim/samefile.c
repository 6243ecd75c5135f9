/*
 * samefile.c: library paths compared as files, not as strings.
 *
 * "libmine.so", "./libmine.so" and a symlink to it are one library: the
 * loader must recognise a Go runtime it already holds under another name,
 * and tell two different libraries apart even when their names look alike.
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "shim.h"

#include <sys/stat.h>
#include <unistd.h>

int stat_path(PyObject *path, dev_t *dev, ino_t *ino)
{
    PyObject *encoded = PyUnicode_EncodeFSDefault(path);
    if (encoded == NULL) {
        PyErr_Clear();
        return -1;
    }
    struct stat st;
    int r = stat(PyBytes_AS_STRING(encoded), &st);
    Py_DECREF(encoded);
    if (r != 0)
        return -1;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return 0;
}

int same_file(PyObject *a, PyObject *b)
{
    dev_t da, db;
    ino_t ia, ib;
    if (stat_path(a, &da, &ia) < 0 || stat_path(b, &db, &ib) < 0) {
        /* A file that cannot be inspected is the same only by its name. */
        int eq = PyObject_RichCompareBool(a, b, Py_EQ);
        if (eq < 0)
            PyErr_Clear();
        return eq == 1;
    }
    return da == db && ia == ib;
}

PyObject *absolute_if_exists(PyObject *path)
{
    /* dlopen() searches the library path for a name without a slash, where
     * a user means the file of that name here. */
    PyObject *encoded = PyUnicode_EncodeFSDefault(path);
    if (encoded == NULL)
        return NULL;
    const char *p = PyBytes_AS_STRING(encoded);
    int relative_file = p[0] != '/' && access(p, F_OK) == 0;
    Py_DECREF(encoded);
    if (!relative_file)
        return Py_NewRef(path);
    PyObject *os_path = PyImport_ImportModule("os.path");
    if (os_path == NULL)
        return NULL;
    PyObject *abs = PyObject_CallMethod(os_path, "abspath", "O", path);
    Py_DECREF(os_path);
    return abs;
}
