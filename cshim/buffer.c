/*
 * buffer.c: pybuf.Buffer, a typed window on an owner's memory.
 *
 * The buffer-protocol slots are the hot path: they never call Go. Every
 * export holds the Buffer (view->obj), and the Buffer holds its Owner until
 * it is deallocated (not merely cleared: a memoryview's tp_clear still calls
 * our releasebuffer afterwards), so the owner's release cannot run while a
 * view can still reach the memory.
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "shim.h"

#include <string.h>
#include <structmember.h>

/* The one place a Buffer is made, and the last word on its owner: whatever
 * Python code ran before (hooks, __index__, a thread's name while tracing)
 * may have closed or released the owner, so it is checked here, after the
 * last call into Python. */
BufferObject *buffer_new(OwnerObject *owner, const pybuf_layout *l, PyObject *format, int readonly)
{
    char *site = trace_on() ? site_capture() : NULL; /* Python code: first */
    Py_ssize_t flen;
    const char *fmt = PyUnicode_AsUTF8AndSize(format, &flen);
    if (fmt == NULL || owner_check_open(owner) < 0) /* worded here; decided below */
        goto fail;
    if (l->nbytes > PY_SSIZE_T_MAX) {
        PyErr_SetString(PyExc_OverflowError, "shape: the buffer is larger than Py_ssize_t");
        goto fail;
    }
    if (owner->st->buffer_type == NULL) { /* module_clear ran: the module is being freed */
        PyErr_SetString(PyExc_RuntimeError, "pybuf: the module is being torn down");
        goto fail;
    }
    /* One block: shape, strides, then the format string. */
    size_t dims = sizeof(Py_ssize_t) * 2 * (size_t)l->ndim;
    BufferObject *b = PyObject_GC_NewVar(BufferObject, owner->st->buffer_type,
                                         (Py_ssize_t)(dims + (size_t)flen + 1));
    if (b == NULL)
        goto fail;
    b->owner = NULL;
    b->weakreflist = NULL;
    b->trace_token = 0;
    b->exports = 0;
    b->shape = b->block;
    b->format = (char *)b->shape + dims;
    memcpy(b->format, fmt, (size_t)flen + 1);
    b->strides = b->shape + l->ndim;
    for (int i = 0; i < l->ndim; i++) {
        b->shape[i] = (Py_ssize_t)l->shape[i];
        b->strides[i] = (Py_ssize_t)l->strides[i];
    }
    b->ndim = l->ndim;
    b->address = (char *)(uintptr_t)l->address;
    b->nbytes = (Py_ssize_t)l->nbytes;
    b->itemsize = (Py_ssize_t)l->itemsize;
    b->readonly = readonly != 0;
    b->c_contiguous = l->c_contiguous;
    b->f_contiguous = l->f_contiguous;
    b->element_strides = l->element_strides;
    b->dl_code = l->dl_code;
    b->dl_bits = l->dl_bits;
    b->lo = l->lo;
    b->hi = l->hi;
    /* Free-threaded: another thread may close the owner since the check
     * above; the state read and the new count go together (shim.h). */
    int open;
    OWNER_LOCK(owner);
    open = !(ATOMIC_LOAD(&owner->counts.state) & (STATE_CLOSED | STATE_RELEASED));
    if (open) {
        gil_counter_add(&owner->counts.buffers, 1);
        gil_counter_add(&owner->counts.nbytes, l->nbytes);
    }
    OWNER_UNLOCK();
    if (!open) {
        Py_DECREF(b); /* untracked, no owner: its dealloc touches nothing */
        owner_check_open(owner);
        goto fail;
    }
    b->owner = (OwnerObject *)Py_NewRef(owner);
    if (trace_on()) {
        const core_api *core = core_if_usable();
        uint64_t id = owner_core_id(owner); /* read once: another thread may unregister it */
        if (core != NULL && id != 0)
            b->trace_token = core->trace(id, PYBUF_TRACE_BUFFER, site);
    }
    free(site);
    PyObject_GC_Track(b);
    return b;
fail:
    free(site);
    return NULL;
}

int buffer_check_exportable(BufferObject *b)
{
    if (ATOMIC_LOAD(&b->owner->counts.state) & (STATE_CLOSED | STATE_RELEASED)) {
        PyObject *label = owner_label(b->owner); /* the name's repr: Python code */
        if (label == NULL)
            return -1;
        if (ATOMIC_LOAD(&b->owner->counts.state) & STATE_CLOSED)
            PyErr_Format(PyExc_BufferError,
                         "buffer of %U is closed: it gives out no new views "
                         "(existing ones keep working until they die)", label);
        else
            PyErr_Format(PyExc_BufferError,
                         "buffer of %U is released (it was garbage): its memory is gone",
                         label);
        Py_DECREF(label);
        return -1;
    }
    return 0;
}

/* Counts a new export; -1 (no exception) when the owner was closed or
 * released since the caller's buffer_check_exportable, which a free-threaded
 * build allows (an interpreter's end releases at its last export). */
int buffer_export_take(BufferObject *b)
{
#if PYBUF_FAULT == FAULT_SKIP_EXPORT
    static unsigned planted;
    if (++planted % 7 == 0)
        return 0;
#endif
    int open;
    OWNER_LOCK(b->owner);
    open = !(ATOMIC_LOAD(&b->owner->counts.state) & (STATE_CLOSED | STATE_RELEASED));
    if (open) {
        gil_counter_add(&b->exports, 1);
        gil_counter_add(&b->owner->counts.exports, 1);
    }
    OWNER_UNLOCK();
    return open ? 0 : -1;
}

void buffer_export_dropped(BufferObject *b)
{
    gil_counter_add(&b->exports, -1);
    if (gil_counter_add(&b->owner->counts.exports, -1) == 0 &&
        (ATOMIC_LOAD(&b->owner->counts.state) & STATE_ENDING))
        owner_maybe_release_after_export(b->owner);
}

/* While tracing: the export's creation site, taken before the checks below
 * (capturing it runs Python code, which may close the owner). */
static void getbuffer_traced(BufferObject *self, Py_buffer *view)
{
    char *site = site_capture();
    const core_api *core = core_if_usable();
    uint64_t id = owner_core_id(self->owner); /* read once: another thread may unregister it */
    if (core != NULL && id != 0)
        view->internal = (void *)(uintptr_t)core->trace(id, PYBUF_TRACE_EXPORT, site);
    free(site);
}

static void untrace_export(Py_buffer *view)
{
    if (view->internal != NULL) {
        const core_api *core = core_if_usable();
        if (core != NULL)
            core->untrace((uint64_t)(uintptr_t)view->internal);
        view->internal = NULL;
    }
}

/* Mirrors CPython's memoryview: honour exactly what the consumer asked. */
static int Buffer_getbuffer(BufferObject *self, Py_buffer *view, int flags)
{
    view->obj = NULL;
    view->internal = NULL;
    if (trace_on())
        getbuffer_traced(self, view);
    if (buffer_check_exportable(self) < 0)
        goto refused;
    if ((flags & PyBUF_WRITABLE) && self->readonly) {
        PyErr_SetString(PyExc_BufferError, "buffer is read-only: no writable view");
        goto refused;
    }
    if ((flags & PyBUF_C_CONTIGUOUS) == PyBUF_C_CONTIGUOUS && !self->c_contiguous) {
        PyErr_SetString(PyExc_BufferError, "buffer is not C-contiguous");
        goto refused;
    }
    if ((flags & PyBUF_F_CONTIGUOUS) == PyBUF_F_CONTIGUOUS && !self->f_contiguous) {
        PyErr_SetString(PyExc_BufferError, "buffer is not Fortran-contiguous");
        goto refused;
    }
    if ((flags & PyBUF_ANY_CONTIGUOUS) == PyBUF_ANY_CONTIGUOUS && !self->c_contiguous &&
        !self->f_contiguous) {
        PyErr_SetString(PyExc_BufferError, "buffer is not contiguous");
        goto refused;
    }
    if ((flags & PyBUF_STRIDES) != PyBUF_STRIDES && !self->c_contiguous) {
        PyErr_SetString(PyExc_BufferError,
                        "buffer is not C-contiguous: the consumer must accept strides");
        goto refused;
    }
    view->buf = self->address;
    view->len = self->nbytes;
    view->readonly = self->readonly;
    view->itemsize = self->itemsize;
    view->format = (flags & PyBUF_FORMAT) ? self->format : NULL;
    /* without a shape the consumer sees flat bytes, as memoryview does */
    view->ndim = (flags & PyBUF_ND) == PyBUF_ND ? self->ndim : 1;
    view->shape = (flags & PyBUF_ND) == PyBUF_ND ? self->shape : NULL;
    view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? self->strides : NULL;
    view->suboffsets = NULL;
    if (buffer_export_take(self) < 0) {
        buffer_check_exportable(self);
        goto refused;
    }
    view->obj = Py_NewRef(self);
    return 0;
refused:
    untrace_export(view);
    return -1;
}

static void Buffer_releasebuffer(BufferObject *self, Py_buffer *view)
{
    untrace_export(view);
    buffer_export_dropped(self);
}

static int Buffer_traverse(BufferObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->owner);
    return 0;
}

static void Buffer_dealloc(BufferObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL)
        PyObject_ClearWeakRefs((PyObject *)self);
    OwnerObject *owner = self->owner;
    int64_t nbytes = self->nbytes; /* self is freed before the owner is told */
    if (self->trace_token != 0) {
        const core_api *core = core_if_usable();
        if (core != NULL)
            core->untrace(self->trace_token);
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
    if (owner != NULL) {
        gil_counter_add(&owner->counts.nbytes, -nbytes);
        gil_counter_add(&owner->counts.buffers, -1);
        owner_maybe_release_after_buffer(owner);
        Py_DECREF(owner);
    }
}

static const char *const region_names[] = {"offset", "shape", "dtype", "strides", "readonly"};
static const entry_params region_params = {"region", region_names, 5, 3, 2};

static PyObject *Buffer_region(BufferObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    PyObject *a[5];
    if (entry_parse(&region_params, args, nargs, kwnames, a) < 0)
        return NULL;
    PyObject *offset = a[0], *shape = a[1], *dtype = a[2] ? a[2] : Py_None;
    PyObject *strides = a[3] ? a[3] : Py_None, *ro = a[4] ? a[4] : Py_None;
    int readonly = self->readonly;
    if (ro != Py_None) {
        readonly = PyObject_IsTrue(ro);
        if (readonly < 0)
            return NULL;
        if (!readonly && self->readonly) {
            PyErr_SetString(PyExc_BufferError,
                            "readonly=False: the parent buffer is read-only");
            return NULL;
        }
    }
    if (owner_check_open(self->owner) < 0)
        return NULL;
    if (!PyIndex_Check(offset) || PyBool_Check(offset)) {
        PyErr_Format(PyExc_TypeError, "offset must be an int, not %.100s",
                     Py_TYPE(offset)->tp_name);
        return NULL;
    }
    pybuf_layout l;
    layout_init(&l);
    module_state *st = self->owner->st;
    if (address_from_object(st, offset, "offset", &l.offset) < 0)
        return NULL;
    l.is_region = 1;
    l.parent_lo = (uint64_t)(uintptr_t)self->address + (uint64_t)self->lo;
    l.parent_hi = (uint64_t)(uintptr_t)self->address + (uint64_t)self->hi;
    l.itemsize = self->itemsize;
    l.dl_code = self->dl_code;
    l.dl_bits = self->dl_bits;
    PyObject *format = NULL;
    PyObject *fmt_in = dtype;
    if (dtype == Py_None && (fmt_in = PyUnicode_FromString(self->format)) == NULL)
        return NULL;
    int r = layout_from_args(st, &l, shape, fmt_in, strides, &format);
    if (dtype == Py_None)
        Py_DECREF(fmt_in);
    if (r < 0)
        return NULL;
    /* buffer_new checks the owner again: the hooks and __index__ ran Python
     * code. The parent's fields read above are its own, fixed at creation. */
    PyObject *b = (PyObject *)buffer_new(self->owner, &l, format, readonly);
    Py_DECREF(format);
    return b;
}

static PyObject *Buffer_array(BufferObject *self, PyObject *args, PyObject *kwds)
{
    /* NumPy swallows buffer-protocol errors in np.asarray()/np.array() and
     * would wrap a closed buffer in a 0-d object array; it does call
     * __array__ next, so that is where a closed buffer must raise. */
    if (buffer_check_exportable(self) < 0)
        return NULL;
    PyObject *call_args = PyTuple_Pack(3, (PyObject *)self, args, kwds ? kwds : Py_None);
    if (call_args == NULL)
        return NULL;
    PyObject *r = hook_call(self->owner->st, "array", call_args);
    Py_DECREF(call_args);
    return r;
}

/* dtype and indexing are NumPy's, so that array libraries (dask.array.from_array)
 * take a Buffer as they take an array: python/pybuf/_convert.py. */
static PyObject *Buffer_get_dtype(BufferObject *self, void *c)
{
    (void)c;
    return hook_call(self->owner->st, "numpy_dtype", (PyObject *)self);
}

static PyObject *Buffer_subscript(BufferObject *self, PyObject *key)
{
    PyObject *args = PyTuple_Pack(2, (PyObject *)self, key);
    PyObject *r = args ? hook_call(self->owner->st, "getitem", args) : NULL;
    Py_XDECREF(args);
    return r;
}

/* Pickling and copying are policy, not mechanism: python/pybuf/_pickle.py. */
static PyObject *Buffer_reduce_ex(BufferObject *self, PyObject *protocol)
{
    PyObject *args = PyTuple_Pack(2, (PyObject *)self, protocol);
    PyObject *r = args ? hook_call(self->owner->st, "reduce", args) : NULL;
    Py_XDECREF(args);
    return r;
}

static PyObject *Buffer_copy(BufferObject *self, PyObject *unused)
{
    (void)unused;
    return hook_call(self->owner->st, "copy", (PyObject *)self);
}

static PyObject *tuple_of(const Py_ssize_t *v, int n)
{
    PyObject *t = PyTuple_New(n);
    for (int i = 0; t != NULL && i < n; i++) {
        PyObject *x = PyLong_FromSsize_t(v[i]);
        if (x == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, x);
    }
    return t;
}

static PyObject *Buffer_get_address(BufferObject *s, void *c)
{
    (void)c;
    /* After the release the number is a dangling pointer: handing it to C
     * would read or write freed memory. */
    if (ATOMIC_LOAD(&s->owner->counts.state) & STATE_RELEASED) {
        PyObject *label = owner_label(s->owner);
        if (label != NULL) {
            PyErr_Format(PyExc_BufferError, "address: the release of %U has run: its "
                         "memory is gone", label);
            Py_DECREF(label);
        }
        return NULL;
    }
    return PyLong_FromUnsignedLongLong((unsigned long long)(uintptr_t)s->address);
}
static PyObject *Buffer_get_shape(BufferObject *s, void *c) { (void)c; return tuple_of(s->shape, s->ndim); }
static PyObject *Buffer_get_strides(BufferObject *s, void *c) { (void)c; return tuple_of(s->strides, s->ndim); }
static PyObject *Buffer_get_format(BufferObject *s, void *c) { (void)c; return PyUnicode_FromString(s->format); }
static PyObject *Buffer_get_readonly(BufferObject *s, void *c) { (void)c; return PyBool_FromLong(s->readonly); }
static PyObject *Buffer_get_owner(BufferObject *s, void *c) { (void)c; return Py_NewRef(s->owner); }
static PyObject *Buffer_get_exports(BufferObject *s, void *c)
{
    (void)c;
    return PyLong_FromLongLong(ATOMIC_LOAD(&s->exports));
}
static PyObject *Buffer_get_closed(BufferObject *s, void *c)
{
    (void)c;
    return PyBool_FromLong((ATOMIC_LOAD(&s->owner->counts.state) &
                            (STATE_CLOSED | STATE_RELEASED)) != 0);
}
static PyObject *Buffer_get_contiguous(BufferObject *s, void *c)
{
    return PyBool_FromLong(c ? s->f_contiguous : s->c_contiguous);
}

static PyObject *Buffer_repr(BufferObject *self)
{
    PyObject *shape = tuple_of(self->shape, self->ndim);
    if (shape == NULL)
        return NULL;
    PyObject *label = owner_label(self->owner); /* the name's repr: Python code */
    int64_t state = ATOMIC_LOAD(&self->owner->counts.state);
    char address[24];
    snprintf(address, sizeof address, "0x%llx", (unsigned long long)(uintptr_t)self->address);
    PyObject *r = label == NULL ? NULL : PyUnicode_FromFormat(
        "<pybuf.Buffer format='%s' shape=%R address=%s%s, %lld export(s), %U %s>",
        self->format, shape, address,
        self->readonly ? " readonly" : "", (long long)ATOMIC_LOAD(&self->exports),
        label,
        (state & STATE_RELEASED) ? "released" : (state & STATE_CLOSED) ? "closed" : "open");
    Py_XDECREF(label);
    Py_DECREF(shape);
    return r;
}

static PyGetSetDef Buffer_getset[] = {
    {"address", (getter)Buffer_get_address, NULL, "Address of the element at index (0, ..., 0).", NULL},
    {"shape", (getter)Buffer_get_shape, NULL, "Dimensions, in elements.", NULL},
    {"strides", (getter)Buffer_get_strides, NULL, "Byte steps between elements, per dimension.", NULL},
    {"format", (getter)Buffer_get_format, NULL, "PEP 3118 format of one element.", NULL},
    {"dtype", (getter)Buffer_get_dtype, NULL, "The NumPy dtype of one element (needs NumPy).", NULL},
    {"readonly", (getter)Buffer_get_readonly, NULL, "True when views are read-only.", NULL},
    {"owner", (getter)Buffer_get_owner, NULL, "The Owner this buffer keeps alive.", NULL},
    {"exports", (getter)Buffer_get_exports, NULL, "Live exports of this buffer.", NULL},
    {"closed", (getter)Buffer_get_closed, NULL, "True once the owner is closed.", NULL},
    {"c_contiguous", (getter)Buffer_get_contiguous, NULL, "C-contiguous layout.", NULL},
    {"f_contiguous", (getter)Buffer_get_contiguous, NULL, "Fortran-contiguous layout.", (void *)1},
    {NULL}};

static PyMemberDef Buffer_members[] = {
    {"nbytes", T_PYSSIZET, offsetof(BufferObject, nbytes), READONLY, "itemsize * prod(shape)"},
    {"itemsize", T_PYSSIZET, offsetof(BufferObject, itemsize), READONLY, "Bytes per element."},
    {"ndim", T_INT, offsetof(BufferObject, ndim), READONLY, "Number of dimensions."},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(BufferObject, weakreflist), READONLY, NULL},
    {NULL}};

static PyMethodDef Buffer_methods[] = {
    {"region", (PyCFunction)(void (*)(void))Buffer_region, METH_FASTCALL | METH_KEYWORDS,
     "region(offset, shape, dtype=None, *, strides=None, readonly=None)\n--\n\n"
     "A typed sub-buffer `offset` bytes from the lowest byte of this one."},
    {"__array__", (PyCFunction)(void (*)(void))Buffer_array, METH_VARARGS | METH_KEYWORDS, NULL},
    {"__dlpack__", (PyCFunction)(void (*)(void))buffer_dlpack, METH_FASTCALL | METH_KEYWORDS,
     "__dlpack__(*, stream=None, max_version=None, dl_device=None, copy=None)\n--\n\n"
     "A DLPack capsule holding this buffer until the consumer deletes it."},
    {"__dlpack_device__", (PyCFunction)buffer_dlpack_device, METH_NOARGS, NULL},
    {"__reduce_ex__", (PyCFunction)Buffer_reduce_ex, METH_O, NULL},
    {"__copy__", (PyCFunction)Buffer_copy, METH_NOARGS, NULL},
    {"__deepcopy__", (PyCFunction)Buffer_copy, METH_O, NULL},
    {NULL}};

static PyType_Slot Buffer_slots[] = {
    {Py_tp_doc, "A typed window on memory held by a pybuf.Owner.\n\n"
                "Exports the buffer protocol and DLPack; every view holds the buffer,\n"
                "the buffer holds its owner."},
    {Py_tp_dealloc, Buffer_dealloc},
    {Py_tp_traverse, Buffer_traverse},
    {Py_tp_repr, Buffer_repr},
    {Py_tp_methods, Buffer_methods},
    {Py_tp_getset, Buffer_getset},
    {Py_mp_subscript, Buffer_subscript},
    {Py_tp_members, Buffer_members},
    {Py_bf_getbuffer, Buffer_getbuffer},
    {Py_bf_releasebuffer, Buffer_releasebuffer},
    {0, NULL}};

static PyType_Spec Buffer_spec = {
    .name = "pybuf.Buffer",
    .basicsize = sizeof(BufferObject),
    .itemsize = 1, /* bytes of the block */
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Buffer_slots,
};

PyTypeObject *buffer_type_init(PyObject *module)
{
    return (PyTypeObject *)PyType_FromModuleAndSpec(module, &Buffer_spec, NULL);
}
