/*
 * goresults.c: the results of a Go module function as Python objects.
 * Exported arrays come with a layout the Go side validated and completed, so
 * they become an owner and a Buffer exactly as pybuf.adopt makes them, but
 * without calling Go again.
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "gocall.h"

#include <stdlib.h>
#include <string.h>

/* PYBUF_ERR_NAMED: msg is "module.Class\nfallback status\nmessage" (Go
 * checked the name's syntax). pybuf.gomodule._exception_class imports the
 * class; when it does not import, is not an exception class, or cannot be
 * made from the message alone, the fallback status raises instead. */
static PyObject *raise_named(const gofunc *g, const char *msg)
{
    const char *nl1 = strchr(msg, '\n');
    const char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    if (nl2 == NULL)
        return raise_for_status(g->st, PYBUF_ERR_RUNTIME, msg);
    int32_t fallback = (int32_t)strtol(nl1 + 1, NULL, 10);
    const char *text = nl2 + 1;
    PyObject *name = PyUnicode_FromStringAndSize(msg, nl1 - msg);
    PyObject *mod = name ? PyImport_ImportModule("pybuf.gomodule") : NULL;
    PyObject *cls = mod ? PyObject_CallMethod(mod, "_exception_class", "O", name) : NULL;
    Py_XDECREF(mod);
    Py_XDECREF(name);
    if (cls == NULL)
        return NULL;
    if (cls == Py_None) {
        Py_DECREF(cls);
        return raise_for_status(g->st, fallback == PYBUF_ERR_NAMED ? PYBUF_ERR_RUNTIME : fallback, text);
    }
    /* made now, so that a class whose constructor wants other arguments
     * falls back instead of failing later, where the error is normalised */
    PyObject *exc = PyObject_CallFunction(cls, "s", text);
    Py_DECREF(cls);
    if (exc == NULL || !PyExceptionInstance_Check(exc)) {
        Py_XDECREF(exc);
        PyErr_Clear();
        return raise_for_status(g->st, fallback == PYBUF_ERR_NAMED ? PYBUF_ERR_RUNTIME : fallback, text);
    }
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

PyObject *gocall_raise_status(const gofunc *g, int32_t status, char *msg)
{
    if (status == PYBUF_ERR_NAMED && msg != NULL)
        raise_named(g, msg);
    else
        raise_for_status(g->st, status, msg ? msg : "Go function failed");
    free(msg);
    return NULL;
}

/* numpy.asarray, or the Buffer itself where NumPy is not installed
 * (pybuf.gomodule._as_array). Looked up per call rather than kept in a C
 * static: a Python object must not leak from one (sub)interpreter into
 * another, and a dict lookup is small next to an array result. */
static PyObject *as_array(PyObject *buffer)
{
    PyObject *name = PyUnicode_FromString("pybuf.gomodule");
    PyObject *mod = name ? PyImport_GetModule(name) : NULL;
    if (mod == NULL && name != NULL && !PyErr_Occurred())
        mod = PyImport_Import(name);
    Py_XDECREF(name);
    PyObject *convert = mod ? PyObject_GetAttrString(mod, "_as_array") : NULL;
    Py_XDECREF(mod);
    if (convert == NULL) {
        PyErr_Clear(); /* pybuf._pybuf without its package: the Buffer will do */
        return buffer;
    }
    PyObject *a = PyObject_CallOneArg(convert, buffer);
    Py_DECREF(convert);
    Py_DECREF(buffer);
    return a;
}

static void run_release(pybuf_go_array *a)
{
    if (a->release == NULL)
        return;
    PyObject *exc = shim_err_take();
    Py_BEGIN_ALLOW_THREADS
    a->release(a->release_arg);
    Py_END_ALLOW_THREADS
    shim_err_restore(exc);
}

/* An owner with one Buffer over a result Go exported and validated. */
static PyObject *adopt_array(const gofunc *g, pybuf_go_array *a)
{
    a->format[PYBUF_FORMATLEN - 1] = '\0';
    a->layout.format = a->format;
    OwnerObject *o = owner_begin(g->st, g->qualname);
    PyObject *format = NULL, *b = NULL;
    if (o != NULL) {
        if (a->release != NULL) {
            o->rel.kind = RELEASE_CFUNC;
            o->rel.cfunc = a->release;
            o->rel.carg = a->release_arg;
        }
        if ((format = PyUnicode_FromString(a->format)) != NULL)
            b = owner_commit(o, &a->layout, format, a->readonly);
        b = owner_end(o, b); /* disarmed on failure: its release is not the owner's to run */
    }
    Py_XDECREF(format);
    if (b == NULL) {
        run_release(a); /* the export is consumed whatever happens */
        return NULL;
    }
    return as_array(b);
}

PyObject *gocall_result(const gofunc *g, int j, pybuf_go_result *r)
{
    switch (g->f->results[j].kind) {
    case PYBUF_GO_BOOL: return PyBool_FromLong(r->v.i != 0);
    case PYBUF_GO_INT: return PyLong_FromLongLong(r->v.i);
    case PYBUF_GO_UINT: return PyLong_FromUnsignedLongLong(r->v.u);
    case PYBUF_GO_FLOAT: return PyFloat_FromDouble(r->v.f);
    case PYBUF_GO_COMPLEX: return PyComplex_FromDoubles(r->v.f, r->imag);
    case PYBUF_GO_STRING: {
        PyObject *s = PyUnicode_DecodeUTF8(r->data ? r->data : "", r->len, "replace");
        free(r->data);
        r->data = NULL;
        return s;
    }
    case PYBUF_GO_BYTES: {
        PyObject *s = PyBytes_FromStringAndSize(r->data ? r->data : "", r->len);
        free(r->data);
        r->data = NULL;
        return s;
    }
    case PYBUF_GO_ARRAY: {
        pybuf_go_array *a = r->array;
        r->array = NULL;
        return adopt_array(g, a);
    }
    }
    PyErr_Format(PyExc_SystemError, "%U: result kind %d is unknown", g->qualname,
                 (int)g->f->results[j].kind);
    return NULL;
}

/* What results j.. hold when building the Python results failed. */
void gocall_discard_results(const gofunc *g, int from, pybuf_go_result *out)
{
    for (int j = from; j < g->f->nresults; j++) {
        free(out[j].data);
        if (g->f->results[j].kind == PYBUF_GO_ARRAY && out[j].array != NULL)
            run_release(out[j].array);
    }
}
