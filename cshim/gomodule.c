/*
 * gomodule.c: a Go module's functions, and the library they come from.
 *
 * A process holds one Go runtime, and it is pybuf's core. A Go module's
 * library embeds that core, so importing the module either loads its
 * library as the core (nothing Go is running yet) or finds that the core
 * already is that library (compared as a file). Anything else is a second
 * Go runtime and is refused. An installed module announces its library
 * (entry point group pybuf.go_library), which the loader picks before its
 * own core when it is the only one, and an installed bundle of several
 * (python -m pybuf.gobuild bundle) before any (pybuf.gomodule.announced_library):
 * the import order does not matter.
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "shim.h"

/* _go_module(name, library) -> (doc, {name: function}) */
PyObject *go_module_functions(PyObject *module, PyObject *args)
{
    module_state *st = PyModule_GetState(module);
    PyObject *name, *library;
    if (!PyArg_ParseTuple(args, "UU:_go_module", &name, &library))
        return NULL;
    PyObject *loaded = core_loaded_path();
    if (loaded != NULL && !same_file(loaded, library)) {
        PyObject *both = loaded;
        PyErr_Format(PyExc_ImportError,
                     "cannot import %U: its Go library %U is not the Go library this "
                     "process already runs as pybuf's Go core, %U. A process holds only one "
                     "Go runtime, so two separately built Go libraries cannot both load: "
                     "build every installed Go module into one library with "
                     "`python -m pybuf.gobuild bundle` (docs/GO_EXTENSIONS.md)",
                     name, library, both);
        Py_DECREF(both);
        return NULL;
    }
    if (loaded == NULL) {
        PyObject *r = core_set_path(st, library);
        if (r == NULL) {
            PyObject *why = shim_err_take();
            PyErr_Format(PyExc_ImportError, "cannot import %U: %S", name, why);
            Py_XDECREF(why);
            return NULL;
        }
        Py_DECREF(r);
    }
    Py_XDECREF(loaded);
    const core_api *core = core_require(st);
    if (core == NULL)
        return NULL;
    const char *cname = PyUnicode_AsUTF8(name);
    if (cname == NULL)
        return NULL;
    const pybuf_go_module *m = NULL;
    char err[PYBUF_ERRLEN] = "";
    if (core->go_module(cname, &m, err) != PYBUF_OK || m == NULL) {
        PyObject *lib = core_loaded_path();
        PyErr_Format(PyExc_ImportError, "cannot import %U from the Go library %S: %s", name,
                     lib ? lib : Py_None, err);
        Py_XDECREF(lib);
        return NULL;
    }
    PyObject *funcs = PyDict_New();
    if (funcs == NULL)
        return NULL;
    for (int i = 0; i < m->nfuncs; i++) {
        PyObject *fn = gofunc_new(&m->funcs[i], name, module);
        if (fn == NULL || PyDict_SetItemString(funcs, m->funcs[i].name, fn) < 0) {
            Py_XDECREF(fn);
            Py_DECREF(funcs);
            return NULL;
        }
        Py_DECREF(fn);
    }
    return Py_BuildValue("(sN)", m->doc, funcs);
}

/* _core_abi() -> PYBUF_CORE_ABI: what a Go module's library must embed. */
PyObject *go_core_abi(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return PyLong_FromLong(PYBUF_CORE_ABI);
}

PyObject *go_library_announced(void)
{
    PyObject *mod = PyImport_ImportModule("pybuf.gomodule");
    if (mod == NULL) {
        /* pybuf._pybuf used without its package: nothing announces anything */
        if (PyErr_ExceptionMatches(PyExc_ImportError)) {
            PyErr_Clear();
            Py_RETURN_NONE;
        }
        return NULL;
    }
    PyObject *path = PyObject_CallMethod(mod, "announced_library", NULL);
    Py_DECREF(mod);
    return path;
}
