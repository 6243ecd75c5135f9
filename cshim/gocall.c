/*
 * gocall.c: the one call path of Go module functions (pybuf/pymod).
 *
 * A Go function is a GoFunction object (made per function at import, never
 * freed before the process's Go library is: its description is static in
 * the core), called through vectorcall; it behaves as a built-in function
 * (repr "<built-in function gostats.add>", no binding as a method,
 * __text_signature__ for inspect). A call binds the Python arguments to the
 * parameters, converts each by its kind (goargs.c, no Go), releases the GIL,
 * crosses into Go once (pybuf_core_go_call checks the views and runs the
 * function), and turns the results into Python objects (goresults.c).
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "gocall.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <structmember.h>

static PyObject *gofunc_call(PyObject *self, PyObject *const *args, size_t nargsf,
                             PyObject *kwnames)
{
    const gofunc *g = &((gofunc_object *)self)->g;
    const pybuf_go_func *f = g->f;
    PyObject *bound[PYBUF_GO_MAXARGS];
    if (gocall_bind_args(g, args, PyVectorcall_NARGS(nargsf), kwnames, bound) < 0)
        return NULL;
    const core_api *core = core_require(g->st);
    if (core == NULL)
        return NULL;

    /* Not zeroed: Go reads only the fields of each parameter's kind, which
     * the conversion sets. */
    pybuf_go_arg in[PYBUF_GO_MAXARGS];
    Py_buffer views[PYBUF_GO_MAXARGS];
    pybuf_go_callable callables[PYBUF_GO_MAXARGS];
    PyObject *callback_exc = NULL; /* the first exception a callable raised during the call */
    int nin = 0, ok = 1;
    for (; nin < f->nparams; nin++) {
        views[nin].obj = NULL;
        callables[nin].first_exc = &callback_exc;
        if (gocall_convert_arg(g, nin, bound[nin], &in[nin], &views[nin], &callables[nin]) < 0) {
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
        /* data is freed whatever the kind, and an array result needs its slot. */
        for (int j = 0, k = 0; j < f->nresults; j++) {
            out[j].data = NULL;
            out[j].len = 0;
            out[j].array = f->results[j].kind == PYBUF_GO_ARRAY ? &arrays[k++] : NULL;
        }
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
    if (callback_exc != NULL && st == PYBUF_ERR_CALLBACK) {
        /* the callable's own exception, with its traceback */
        if (arrays != local)
            PyMem_Free(arrays);
        free(msg);
        shim_err_restore(callback_exc);
        return NULL;
    }
    Py_XDECREF(callback_exc); /* Go ignored it: never, pymod fails the call */
    if (st != PYBUF_OK) {
        if (arrays != local)
            PyMem_Free(arrays);
        return gocall_raise_status(g, st, msg);
    }

    PyObject *result = NULL;
    if (f->nresults == 0) {
        result = Py_NewRef(Py_None);
    } else if (f->nresults == 1) {
        result = gocall_result(g, 0, &out[0]);
    } else if ((result = PyTuple_New(f->nresults)) == NULL) {
        gocall_discard_results(g, 0, out);
    } else {
        for (int j = 0; j < f->nresults; j++) {
            PyObject *item = gocall_result(g, j, &out[j]);
            if (item == NULL) {
                gocall_discard_results(g, j + 1, out);
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


static void gofunc_dealloc(PyObject *self)
{
    gofunc_object *o = (gofunc_object *)self;
    PyTypeObject *tp = Py_TYPE(self);
    Py_XDECREF(o->g.qualname);
    for (int i = 0; i < PYBUF_GO_MAXARGS; i++)
        Py_XDECREF(o->g.names[i]);
    Py_XDECREF(o->module_name);
    Py_XDECREF(o->pybuf_module);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *gofunc_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<built-in function %U>", ((gofunc_object *)self)->g.qualname);
}

/* Not a method: like a built-in function, it does not bind to an instance
 * of a class it is stored in. Having __get__ also makes inspect read
 * __text_signature__, as for built-in methods. */
static PyObject *gofunc_descr_get(PyObject *self, PyObject *obj, PyObject *type)
{
    (void)obj;
    (void)type;
    return Py_NewRef(self);
}

/* The core's doc is "name(a, b)\n--\n\n" then the documentation. */
static const char *doc_body(const char *doc)
{
    const char *end = strstr(doc, "\n--\n\n");
    return end ? end + 5 : doc;
}

static PyObject *gofunc_get_doc(PyObject *self, void *unused)
{
    (void)unused;
    const char *body = doc_body(((gofunc_object *)self)->g.f->doc);
    if (*body == '\0')
        Py_RETURN_NONE;
    return PyUnicode_FromString(body);
}

static PyObject *gofunc_get_text_signature(PyObject *self, void *unused)
{
    (void)unused;
    const char *doc = ((gofunc_object *)self)->g.f->doc;
    const char *open = strchr(doc, '('), *end = strstr(doc, "\n--\n\n");
    if (open == NULL || end == NULL || end < open)
        Py_RETURN_NONE;
    return PyUnicode_FromStringAndSize(open, end - open);
}

static PyObject *gofunc_get_name(PyObject *self, void *unused)
{
    (void)unused;
    return PyUnicode_FromString(((gofunc_object *)self)->g.f->name);
}

/* Pickled by name, as built-in functions are: module.name. */
static PyObject *gofunc_reduce(PyObject *self, PyObject *unused)
{
    (void)unused;
    return gofunc_get_name(self, NULL);
}

static PyGetSetDef gofunc_getset[] = {
    {"__doc__", gofunc_get_doc, NULL, NULL, NULL},
    {"__text_signature__", gofunc_get_text_signature, NULL, NULL, NULL},
    {"__name__", gofunc_get_name, NULL, NULL, NULL},
    {"__qualname__", gofunc_get_name, NULL, NULL, NULL},
    {NULL}};

static PyMemberDef gofunc_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(gofunc_object, vectorcall), READONLY, NULL},
    {"__module__", T_OBJECT, offsetof(gofunc_object, module_name), READONLY, NULL},
    {NULL}};

static PyMethodDef gofunc_methods[] = {
    {"__reduce__", gofunc_reduce, METH_NOARGS, NULL},
    {NULL}};

static PyType_Slot gofunc_slots[] = {
    {Py_tp_dealloc, gofunc_dealloc},
    {Py_tp_repr, gofunc_repr},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_descr_get, gofunc_descr_get},
    {Py_tp_getset, gofunc_getset},
    {Py_tp_members, gofunc_members},
    {Py_tp_methods, gofunc_methods},
    {0, NULL}};

static PyType_Spec gofunc_spec = {
    .name = "pybuf._pybuf.GoFunction",
    .basicsize = sizeof(gofunc_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_DISALLOW_INSTANTIATION |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = gofunc_slots,
};

PyTypeObject *gofunc_type_init(PyObject *module)
{
    return (PyTypeObject *)PyType_FromModuleAndSpec(module, &gofunc_spec, NULL);
}

PyObject *gofunc_new(const pybuf_go_func *f, PyObject *module_name, PyObject *pybuf_module)
{
    module_state *st = PyModule_GetState(pybuf_module);
    gofunc_object *o = PyObject_New(gofunc_object, st->gofunc_type);
    if (o == NULL)
        return NULL;
    Py_INCREF(st->gofunc_type); /* a heap type's instances hold it */
    o->vectorcall = gofunc_call;
    memset(&o->g, 0, sizeof o->g);
    o->g.f = f;
    o->g.st = st;
    o->module_name = Py_NewRef(module_name);
    o->pybuf_module = Py_NewRef(pybuf_module);
    o->g.qualname = PyUnicode_FromFormat("%U.%s", module_name, f->name);
    if (o->g.qualname == NULL) {
        Py_DECREF(o);
        return NULL;
    }
    for (int i = 0; i < f->nparams; i++) {
        o->g.names[i] = PyUnicode_InternFromString(f->params[i].name);
        if (o->g.names[i] == NULL) {
            Py_DECREF(o);
            return NULL;
        }
    }
    for (int j = 0; j < f->nresults; j++)
        o->g.narrays += f->results[j].kind == PYBUF_GO_ARRAY;
    return (PyObject *)o;
}
