/*
 * gocall.c: the one call path of Go module functions (pybuf/pymod).
 *
 * A Go function is a builtin function whose self is a capsule holding its
 * description from the core. A call binds the Python arguments to the
 * parameters, converts each by its kind (goargs.c, no Go), releases the GIL,
 * crosses into Go once (pybuf_core_go_call checks the views and runs the
 * function), and turns the results into Python objects (goresults.c).
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "gocall.h"

static PyObject *gofunc_call(PyObject *self, PyObject *const *args, Py_ssize_t nargsf,
                             PyObject *kwnames)
{
    const gofunc *g = PyCapsule_GetPointer(self, NULL);
    if (g == NULL)
        return NULL;
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
    int nin = 0, ok = 1;
    for (; nin < f->nparams; nin++) {
        views[nin].obj = NULL;
        if (gocall_convert_arg(g, nin, bound[nin], &in[nin], &views[nin]) < 0) {
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

/* The capsule holds the pybuf._pybuf module whose state `st` the call uses. */
static void gofunc_capsule_free(PyObject *capsule)
{
    Py_XDECREF((PyObject *)PyCapsule_GetContext(capsule));
}

PyObject *gofunc_new(const pybuf_go_func *f, PyObject *module_name, PyObject *pybuf_module)
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
    g->st = PyModule_GetState(pybuf_module);
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
    PyObject *self = PyCapsule_New(g, NULL, gofunc_capsule_free);
    if (self == NULL)
        return NULL;
    if (PyCapsule_SetContext(self, Py_NewRef(pybuf_module)) < 0) {
        Py_DECREF(pybuf_module);
        Py_DECREF(self);
        return NULL;
    }
    PyObject *fn = PyCFunction_NewEx(def, self, module_name);
    Py_DECREF(self);
    return fn;
}
