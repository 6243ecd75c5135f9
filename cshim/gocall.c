/*
 * gocall.c: the one call path of Go module functions (pybuf/pymod).
 *
 * A Go function is a builtin function whose self is a capsule holding its
 * description from the core. A call binds the Python arguments to the
 * parameters, converts each by its kind (no Go), borrows buffer views for
 * slice parameters, releases the GIL, crosses into Go once
 * (pybuf_core_go_call, which checks the views and runs the function), and
 * turns the results into Python objects: exported arrays become owners
 * exactly as pybuf.adopt makes them, without calling Go again.
 */
#include "shim.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(Py_ssize_t) == sizeof(int64_t),
               "views' shapes and strides are passed to Go as int64_t");

typedef struct {
    const pybuf_go_func *f;   /* static in the core */
    PyObject *qualname;       /* "gostats.add": messages and owner names */
    PyObject *names[PYBUF_GO_MAXARGS]; /* interned parameter names */
    int narrays;              /* array results */
} gofunc;

/* The exporter's raise for an array argument, replaced by one that names the
 * parameter (the original stays as __cause__). */
static int arg_error(PyObject *type, const gofunc *g, int i, const char *what, PyObject *obj)
{
    PyObject *cause = shim_err_take();
    PyErr_Format(type, "%U() argument '%U' %s, not %.100s", g->qualname, g->names[i], what,
                 Py_TYPE(obj)->tp_name);
    if (cause != NULL) {
        PyObject *exc = shim_err_take();
        PyException_SetCause(exc, cause);
        shim_err_restore(exc);
    }
    return -1;
}

static int convert_int(const gofunc *g, int i, PyObject *o, pybuf_go_arg *a, int is_unsigned, int bits)
{
    PyObject *num;
    if (PyLong_Check(o))
        num = Py_NewRef(o);
    else if (PyIndex_Check(o) && (num = PyNumber_Index(o)) != NULL)
        ;
    else
        return arg_error(PyExc_TypeError, g, i, "must be an int", o);
    int overflow = 0;
    if (is_unsigned) {
        unsigned long long v = PyLong_AsUnsignedLongLong(num);
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            overflow = 1;
        } else if (bits < 64 && v >> bits != 0) {
            overflow = 1;
        }
        a->v.u = v;
    } else {
        long long v = PyLong_AsLongLongAndOverflow(num, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(num);
            return -1;
        }
        if (!overflow && bits < 64) {
            long long lim = 1LL << (bits - 1);
            overflow = v < -lim || v >= lim;
        }
        a->v.i = v;
    }
    Py_DECREF(num);
    if (overflow) {
        PyErr_Format(PyExc_OverflowError, "%U() argument '%U' is out of range for a Go %s%d",
                     g->qualname, g->names[i], is_unsigned ? "uint" : "int", bits);
        return -1;
    }
    return 0;
}

static int convert_array(const gofunc *g, int i, PyObject *o, pybuf_go_arg *a, Py_buffer *view,
                         int writable)
{
    if (PyObject_GetBuffer(o, view, writable ? PyBUF_RECORDS : PyBUF_RECORDS_RO) < 0) {
        view->obj = NULL;
        if (writable && PyObject_CheckBuffer(o)) {
            Py_buffer probe;
            PyObject *why = shim_err_take();
            if (PyObject_GetBuffer(o, &probe, PyBUF_RECORDS_RO) == 0) {
                PyBuffer_Release(&probe);
                Py_XDECREF(why);
                PyErr_Format(PyExc_BufferError, "%U() argument '%U' is read-only, and %U writes into it",
                             g->qualname, g->names[i], g->qualname);
                return -1;
            }
            PyErr_Clear();
            shim_err_restore(why);
        }
        return arg_error(PyExc_TypeError, g, i,
                         "must be an array (any buffer-protocol object: a NumPy array, "
                         "bytes, bytearray, memoryview)", o);
    }
    a->data = view->buf;
    a->len = view->len;
    a->format = view->format;
    a->itemsize = view->itemsize;
    a->ndim = view->ndim;
    a->shape = (const int64_t *)view->shape;
    a->strides = (const int64_t *)view->strides;
    a->readonly = view->readonly;
    return 0;
}

static int convert_arg(const gofunc *g, int i, PyObject *o, pybuf_go_arg *a, Py_buffer *view)
{
    const pybuf_go_param *p = &g->f->params[i];
    switch (p->kind) {
    case PYBUF_GO_BOOL:
        if (!PyBool_Check(o))
            return arg_error(PyExc_TypeError, g, i, "must be a bool", o);
        a->v.i = o == Py_True;
        return 0;
    case PYBUF_GO_INT:
        return convert_int(g, i, o, a, 0, p->bits);
    case PYBUF_GO_UINT:
        return convert_int(g, i, o, a, 1, p->bits);
    case PYBUF_GO_FLOAT:
        if (PyFloat_CheckExact(o)) {
            a->v.f = PyFloat_AS_DOUBLE(o);
            return 0;
        }
        if (PyUnicode_Check(o) || PyBytes_Check(o) || PyComplex_Check(o))
            return arg_error(PyExc_TypeError, g, i, "must be a float", o);
        a->v.f = PyFloat_AsDouble(o);
        if (a->v.f == -1.0 && PyErr_Occurred())
            return arg_error(PyExc_TypeError, g, i, "must be a float", o);
        return 0;
    case PYBUF_GO_COMPLEX: {
        if (PyUnicode_Check(o) || PyBytes_Check(o))
            return arg_error(PyExc_TypeError, g, i, "must be a complex", o);
        Py_complex c = PyComplex_AsCComplex(o);
        if (c.real == -1.0 && PyErr_Occurred())
            return arg_error(PyExc_TypeError, g, i, "must be a complex", o);
        a->v.f = c.real;
        a->imag = c.imag;
        return 0;
    }
    case PYBUF_GO_STRING: {
        if (!PyUnicode_Check(o))
            return arg_error(PyExc_TypeError, g, i, "must be a str", o);
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(o, &n);
        if (s == NULL)
            return -1;
        a->data = s;
        a->len = n;
        return 0;
    }
    case PYBUF_GO_ARRAY:
        return convert_array(g, i, o, a, view, p->writable);
    }
    PyErr_Format(PyExc_SystemError, "%U: parameter kind %d is unknown", g->qualname, (int)p->kind);
    return -1;
}

/* Positional arguments, then keywords by name, into bound[]. */
static int bind_args(const gofunc *g, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                     PyObject **bound)
{
    int n = g->f->nparams;
    if (nargs > n) {
        PyErr_Format(PyExc_TypeError, "%U() takes %d positional argument%s but %zd were given",
                     g->qualname, n, n == 1 ? "" : "s", nargs);
        return -1;
    }
    for (int i = 0; i < n; i++)
        bound[i] = i < nargs ? args[i] : NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int found = -1;
        for (int i = 0; i < n && found < 0; i++)
            if (key == g->names[i] || PyUnicode_Compare(key, g->names[i]) == 0)
                found = i;
        if (found < 0) {
            PyErr_Format(PyExc_TypeError, "%U() got an unexpected keyword argument '%U'",
                         g->qualname, key);
            return -1;
        }
        if (bound[found] != NULL) {
            PyErr_Format(PyExc_TypeError, "%U() got multiple values for argument '%U'",
                         g->qualname, key);
            return -1;
        }
        bound[found] = args[nargs + k];
    }
    for (int i = 0; i < n; i++)
        if (bound[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%U() missing required argument '%U' (pos %d)",
                         g->qualname, g->names[i], i + 1);
            return -1;
        }
    return 0;
}

static PyObject *raise_go_status(int32_t st, char *msg)
{
    PyObject *type;
    switch (st) {
    case PYBUF_ERR_KEY: type = PyExc_KeyError; break;
    case PYBUF_ERR_INDEX: type = PyExc_IndexError; break;
    case PYBUF_ERR_RUNTIME: type = PyExc_RuntimeError; break;
    default:
        raise_for_status(st, msg ? msg : "Go function failed");
        free(msg);
        return NULL;
    }
    PyErr_SetString(type, msg ? msg : "Go function failed");
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
    OwnerObject *o = owner_new_internal(g->qualname);
    PyObject *format = NULL, *b = NULL;
    if (o != NULL && owner_register(o) == 0 && (format = PyUnicode_FromString(a->format)) != NULL) {
        if (a->release != NULL)
            owner_configure_cfunc(o, a->release, a->release_arg);
        b = (PyObject *)buffer_new(o, &a->layout, format, a->readonly);
    }
    Py_XDECREF(format);
    if (b == NULL) {
        if (o != NULL) {
            owner_disarm(o);
            Py_DECREF(o);
        }
        run_release(a); /* the export is consumed whatever happens */
        return NULL;
    }
    Py_DECREF(o);
    return as_array(b);
}

static PyObject *result_object(const gofunc *g, int j, pybuf_go_result *r)
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
static void discard_results(const gofunc *g, int from, pybuf_go_result *out)
{
    for (int j = from; j < g->f->nresults; j++) {
        free(out[j].data);
        if (g->f->results[j].kind == PYBUF_GO_ARRAY && out[j].array != NULL)
            run_release(out[j].array);
    }
}

static PyObject *gofunc_call(PyObject *self, PyObject *const *args, Py_ssize_t nargsf,
                             PyObject *kwnames)
{
    const gofunc *g = PyCapsule_GetPointer(self, NULL);
    if (g == NULL)
        return NULL;
    const pybuf_go_func *f = g->f;
    PyObject *bound[PYBUF_GO_MAXARGS];
    if (bind_args(g, args, PyVectorcall_NARGS(nargsf), kwnames, bound) < 0)
        return NULL;
    const core_api *core = core_require();
    if (core == NULL)
        return NULL;

    pybuf_go_arg in[PYBUF_GO_MAXARGS];
    Py_buffer views[PYBUF_GO_MAXARGS];
    int nin = 0, ok = 1;
    memset(in, 0, sizeof in[0] * (size_t)f->nparams);
    for (; nin < f->nparams; nin++) {
        views[nin].obj = NULL;
        if (convert_arg(g, nin, bound[nin], &in[nin], &views[nin]) < 0) {
            ok = 0;
            break;
        }
    }

    pybuf_go_result out[PYBUF_GO_MAXARGS];
    pybuf_go_array local[2], *arrays = local;
    if (ok && g->narrays > 2 && (arrays = PyMem_Malloc(sizeof *arrays * (size_t)g->narrays)) == NULL) {
        PyErr_NoMemory();
        ok = 0;
    }
    int32_t st = PYBUF_OK;
    char *msg = NULL;
    if (ok) {
        memset(out, 0, sizeof out[0] * (size_t)f->nresults);
        for (int j = 0, k = 0; j < f->nresults; j++)
            if (f->results[j].kind == PYBUF_GO_ARRAY)
                out[j].array = &arrays[k++];
        Py_BEGIN_ALLOW_THREADS
        st = core->go_call(f->id, in, out, &msg);
        Py_END_ALLOW_THREADS
    }
    for (int i = 0; i < nin + (ok ? 0 : 1) && i < f->nparams; i++)
        if (views[i].obj != NULL)
            PyBuffer_Release(&views[i]);
    if (!ok) {
        if (arrays != local)
            PyMem_Free(arrays);
        return NULL;
    }
    if (st != PYBUF_OK) {
        if (arrays != local)
            PyMem_Free(arrays);
        return raise_go_status(st, msg);
    }

    PyObject *result = NULL;
    if (f->nresults == 0) {
        result = Py_NewRef(Py_None);
    } else if (f->nresults == 1) {
        result = result_object(g, 0, &out[0]);
    } else if ((result = PyTuple_New(f->nresults)) == NULL) {
        discard_results(g, 0, out);
    } else {
        for (int j = 0; j < f->nresults; j++) {
            PyObject *item = result_object(g, j, &out[j]);
            if (item == NULL) {
                discard_results(g, j + 1, out);
                Py_CLEAR(result);
                break;
            }
            PyTuple_SET_ITEM(result, j, item);
        }
    }
    if (arrays != local)
        PyMem_Free(arrays);
    return result;
}

PyObject *gofunc_new(const pybuf_go_func *f, PyObject *module_name)
{
    gofunc *g = PyMem_RawCalloc(1, sizeof *g);
    PyMethodDef *def = PyMem_RawCalloc(1, sizeof *def);
    if (g == NULL || def == NULL) {
        PyMem_RawFree(g);
        PyMem_RawFree(def);
        return PyErr_NoMemory();
    }
    /* Module functions live as long as the process's Go library: the
     * description and the method definition are never freed. */
    g->f = f;
    g->qualname = PyUnicode_FromFormat("%U.%s", module_name, f->name);
    for (int i = 0; i < f->nparams && g->qualname != NULL; i++) {
        g->names[i] = PyUnicode_InternFromString(f->params[i].name);
        if (g->names[i] == NULL)
            return NULL;
    }
    if (g->qualname == NULL)
        return NULL;
    for (int j = 0; j < f->nresults; j++)
        g->narrays += f->results[j].kind == PYBUF_GO_ARRAY;
    def->ml_name = f->name;
    def->ml_meth = (PyCFunction)(void (*)(void))gofunc_call;
    def->ml_flags = METH_FASTCALL | METH_KEYWORDS;
    def->ml_doc = f->doc;
    PyObject *self = PyCapsule_New(g, NULL, NULL);
    if (self == NULL)
        return NULL;
    PyObject *fn = PyCFunction_NewEx(def, self, module_name);
    Py_DECREF(self);
    return fn;
}
