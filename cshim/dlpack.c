/*
 * dlpack.c: Buffer.__dlpack__ and __dlpack_device__.
 *
 * A capsule counts as one export of its Buffer from the moment __dlpack__
 * returns until the consumer's deleter runs (or the unconsumed capsule dies).
 * The structs are DLPack 1.0's (pybuf/capi/dlpack.h, which shim.h includes
 * through pybuf_core.h).
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "shim.h"

#include <string.h>


typedef struct {
    union {
        DLManagedTensor legacy;
        DLManagedTensorVersioned versioned;
    } m;
    BufferObject *buffer; /* holds one export; NULL for a copy */
    PyInterpreterState *interp; /* the buffer's interpreter */
    int64_t interp_id;          /* its id, never reused (the pointer may be) */
    void *copy;           /* data of a copy=True export */
    int64_t dims[];       /* shape, then strides (in elements) */
} dl_context;

/* Whether the interpreter is still among the runtime's. An interpreter
 * destroyed while a consumer still held a tensor of it is gone for good; one
 * being destroyed at this very moment is not detected (CPython offers no
 * way), which only a consumer freeing on a foreign thread at that moment
 * could hit. */
static int interp_alive(PyInterpreterState *interp, int64_t id)
{
    for (PyInterpreterState *i = PyInterpreterState_Head(); i != NULL;
         i = PyInterpreterState_Next(i))
        if (i == interp)
            return PyInterpreterState_GetID(i) == id;
    return 0;
}

static void drop_export(BufferObject *b)
{
    buffer_export_dropped(b);
    Py_DECREF(b);
}

/*
 * Gives the capsule's export and reference back, in the buffer's own
 * interpreter, from whatever thread the consumer frees on: one holding that
 * interpreter's GIL, another interpreter's, or none. PyGILState_Ensure knows
 * only the main interpreter, so a subinterpreter's buffer (or a thread
 * already in another interpreter) gets a thread state of its own.
 */
static void drop_export_in_its_interp(dl_context *ctx)
{
    PyThreadState *current = SHIM_CURRENT_TSTATE();
    if (current != NULL && PyThreadState_GetInterpreter(current) == ctx->interp) {
        drop_export(ctx->buffer);
        return;
    }
    /* After finalization Python objects cannot be touched: leak the
     * reference (the process is ending), as NumPy's own deleter does. */
    if (!Py_IsInitialized() || SHIM_IS_FINALIZING() ||
        !interp_alive(ctx->interp, ctx->interp_id))
        return;
    PyThreadState *own = PyGILState_GetThisThreadState();
    if (current == NULL && ctx->interp == PyInterpreterState_Main() &&
        (own == NULL || PyThreadState_GetInterpreter(own) == ctx->interp)) {
        PyGILState_STATE st = PyGILState_Ensure();
        drop_export(ctx->buffer);
        PyGILState_Release(st);
        return;
    }
    PyThreadState *saved = current != NULL ? PyEval_SaveThread() : NULL;
    PyThreadState *ts = PyThreadState_New(ctx->interp);
    if (ts != NULL) {
        PyEval_RestoreThread(ts);
        drop_export(ctx->buffer);
        PyThreadState_Clear(ts);
        PyThreadState_DeleteCurrent();
    }
    if (saved != NULL)
        PyEval_RestoreThread(saved);
}

/* Runs on whatever thread the consumer frees on, with or without a GIL. */
static void context_free(dl_context *ctx)
{
    if (ctx->buffer != NULL)
        drop_export_in_its_interp(ctx);
    PyMem_RawFree(ctx->copy);
    free(ctx);
}

static void delete_legacy(DLManagedTensor *m) { context_free(m->manager_ctx); }
static void delete_versioned(DLManagedTensorVersioned *m) { context_free(m->manager_ctx); }

static void capsule_destructor(PyObject *capsule)
{
    /* A consumer renames the capsule "used_..." and owns the tensor. */
    if (PyCapsule_IsValid(capsule, "dltensor")) {
        DLManagedTensor *m = PyCapsule_GetPointer(capsule, "dltensor");
        m->deleter(m);
    } else if (PyCapsule_IsValid(capsule, "dltensor_versioned")) {
        DLManagedTensorVersioned *m = PyCapsule_GetPointer(capsule, "dltensor_versioned");
        m->deleter(m);
    }
}

static int wants_versioned(PyObject *max_version, int *versioned)
{
    *versioned = 0;
    if (max_version == Py_None)
        return 0;
    if (!PyTuple_Check(max_version) || PyTuple_GET_SIZE(max_version) != 2) {
        PyErr_SetString(PyExc_TypeError, "max_version must be None or a (major, minor) tuple");
        return -1;
    }
    long major = PyLong_AsLong(PyTuple_GET_ITEM(max_version, 0));
    if (major == -1 && PyErr_Occurred())
        return -1;
    *versioned = major >= 1;
    return 0;
}

static int check_device(PyObject *dl_device)
{
    if (dl_device == Py_None)
        return 0;
    int type, id;
    if (!PyTuple_Check(dl_device) || !PyArg_ParseTuple(dl_device, "ii", &type, &id)) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "dl_device must be None or a (device_type, device_id) tuple");
        return -1;
    }
    if (type != DL_CPU || id != 0) {
        PyErr_Format(PyExc_BufferError, "dl_device (%d, %d): pybuf memory is on the CPU (1, 0)",
                     type, id);
        return -1;
    }
    return 0;
}

/* Fills the DLTensor of ctx from b, in the data at `data`. */
static void describe(DLTensor *t, dl_context *ctx, BufferObject *b, void *data, int contiguous)
{
    int64_t *shape = ctx->dims, *strides = ctx->dims + b->ndim;
    int64_t step = 1;
    for (int i = b->ndim - 1; i >= 0; i--) {
        shape[i] = b->shape[i];
        strides[i] = contiguous ? step : b->strides[i] / b->itemsize;
        step *= b->shape[i] > 0 ? b->shape[i] : 1;
    }
    t->data = data;
    t->device = (DLDevice){DL_CPU, 0};
    t->ndim = b->ndim;
    t->dtype = (DLDataType){(uint8_t)b->dl_code, (uint8_t)b->dl_bits, 1};
    t->shape = b->ndim ? shape : NULL;
    t->strides = b->ndim ? strides : NULL;
    t->byte_offset = 0;
#if PYBUF_FAULT == FAULT_OOB_READ
    (void)((volatile int64_t *)ctx->dims)[2 * b->ndim]; /* the block ends just before */
#endif
}

static void *copy_bytes(BufferObject *b)
{
    void *dst = PyMem_RawMalloc(b->nbytes ? (size_t)b->nbytes : 1);
    if (dst == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer((PyObject *)b, &view, PyBUF_RECORDS_RO) < 0) {
        PyMem_RawFree(dst);
        return NULL;
    }
    int r = PyBuffer_ToContiguous(dst, &view, view.len, 'C');
    PyBuffer_Release(&view);
    if (r < 0) {
        PyMem_RawFree(dst);
        return NULL;
    }
    return dst;
}

/* Keyword-only arguments, parsed by hand: NumPy calls __dlpack__ with
 * keywords on every np.from_dlpack, and PyArg_ParseTupleAndKeywords would
 * cost more than the whole export. */
static const char *const dlpack_names[4] = {"stream", "max_version", "dl_device", "copy"};

static int parse_kwargs(module_state *st, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames, PyObject **values)
{
    if (nargs != 0) {
        PyErr_SetString(PyExc_TypeError, "__dlpack__() takes keyword arguments only");
        return -1;
    }
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    /* A consumer passes the same kwnames tuple on every call (NumPy's is a
     * constant): its matching is kept with it (per interpreter). */
    if (kwnames != NULL) {
        int seen, map[4];
        SHIM_LOCK(&st->lock); /* free-threaded: the tuple and its map, read together */
        seen = kwnames == st->dlpack_kwnames_seen;
        if (seen)
            memcpy(map, st->dlpack_kwmap, sizeof map);
        SHIM_UNLOCK(&st->lock);
        if (seen) {
            for (Py_ssize_t i = 0; i < nkw; i++)
                values[map[i]] = args[i];
            return 0;
        }
    }
    int map[4];
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        int found = keyword_index(dlpack_names, 4, key);
        if (found < 0) {
            PyErr_Format(PyExc_TypeError, "__dlpack__() got an unexpected keyword argument %R", key);
            return -1;
        }
        values[found] = args[i];
        if (i < 4)
            map[i] = found;
    }
    if (nkw > 0 && nkw <= 4) {
        /* the tuple and its map change together: the old tuple's last
         * reference may go here, and a str subclass key's __del__ may call
         * __dlpack__ again */
        SHIM_LOCK(&st->lock);
        PyObject *old = st->dlpack_kwnames_seen;
        memcpy(st->dlpack_kwmap, map, sizeof map);
        st->dlpack_kwnames_seen = Py_NewRef(kwnames);
        SHIM_UNLOCK(&st->lock);
        Py_XDECREF(old);
    }
    return 0;
}

PyObject *buffer_dlpack(BufferObject *b, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *values[4] = {Py_None, Py_None, Py_None, Py_None};
    if (parse_kwargs(b->owner->st, args, nargs, kwnames, values) < 0)
        return NULL;
    PyObject *stream = values[0], *max_version = values[1], *dl_device = values[2], *copy = values[3];
    int versioned;
    if (stream != Py_None) {
        PyErr_SetString(PyExc_ValueError, "stream must be None for CPU memory");
        return NULL;
    }
    if (wants_versioned(max_version, &versioned) < 0 || check_device(dl_device) < 0)
        return NULL;
    int do_copy = copy == Py_None ? 0 : PyObject_IsTrue(copy);
    if (do_copy < 0 || buffer_check_exportable(b) < 0)
        return NULL;
    if (b->dl_code < 0) {
        PyErr_Format(PyExc_BufferError,
                     "format '%s' has no DLPack type (only native-endian integers, "
                     "floats, complex and bool are)", b->format);
        return NULL;
    }
    if (!b->element_strides && !do_copy) {
        PyErr_SetString(PyExc_BufferError,
                        "strides are not multiples of the itemsize: DLPack counts "
                        "strides in elements (pass copy=True)");
        return NULL;
    }
    if (b->readonly && !versioned && !do_copy) {
        PyErr_SetString(PyExc_BufferError,
                        "a legacy DLPack capsule cannot mark memory read-only: pass "
                        "max_version=(1, 0), or copy=True");
        return NULL;
    }

    /* malloc, not calloc: glibc's calloc skips the thread cache, and the
     * dims are all written by describe() */
    dl_context *ctx = malloc(sizeof *ctx + sizeof(int64_t) * 2 * (size_t)b->ndim);
    if (ctx == NULL)
        return PyErr_NoMemory();
    memset(ctx, 0, sizeof *ctx);
    void *data = b->address;
    if (do_copy && (data = ctx->copy = copy_bytes(b)) == NULL) {
        free(ctx);
        return NULL;
    }
    PyObject *capsule;
    if (versioned) {
        DLManagedTensorVersioned *m = &ctx->m.versioned;
        m->version = (DLPackVersion){1, 0};
        m->manager_ctx = ctx;
        m->deleter = delete_versioned;
        m->flags = do_copy ? DL_FLAG_IS_COPIED : (b->readonly ? DL_FLAG_READ_ONLY : 0);
        describe(&m->dl_tensor, ctx, b, data, do_copy);
        capsule = PyCapsule_New(m, "dltensor_versioned", capsule_destructor);
    } else {
        DLManagedTensor *m = &ctx->m.legacy;
        m->manager_ctx = ctx;
        m->deleter = delete_legacy;
        describe(&m->dl_tensor, ctx, b, data, do_copy);
        capsule = PyCapsule_New(m, "dltensor", capsule_destructor);
    }
    if (capsule == NULL) {
        PyMem_RawFree(ctx->copy);
        free(ctx);
        return NULL;
    }
    if (!do_copy) {
        if (buffer_export_take(b) < 0) {
            Py_DECREF(capsule); /* its destructor frees ctx: no export to drop yet */
            buffer_check_exportable(b);
            return NULL;
        }
        ctx->interp = PyInterpreterState_Get();
        ctx->interp_id = PyInterpreterState_GetID(ctx->interp);
        ctx->buffer = (BufferObject *)Py_NewRef(b);
    }
    return capsule;
}

PyObject *buffer_dlpack_device(BufferObject *b, PyObject *unused)
{
    (void)b;
    (void)unused;
    return Py_BuildValue("(ii)", DL_CPU, 0);
}
