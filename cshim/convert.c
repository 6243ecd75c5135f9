/*
 * convert.c: from Python arguments to C values, for every entry point.
 *
 * Nothing here decides whether a layout is valid (that is Go's, through
 * layout.c): this file only unpacks arguments. It reads itself what it can
 * read safely in C (ints, tuples, strings, cffi pointers once checked, NumPy
 * dtypes seen before) and asks the package's Python hooks
 * (python/pybuf/_convert.py) for the rest.
 *
 * Per interpreter (module_state), with its GIL held: the two caches below
 * hold that interpreter's objects.
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "shim.h"

#include <string.h>

/* ---- the entry prologue: arguments, then this thread's queued releases ---- */

static int set_param(const entry_params *p, PyObject **out, int i, PyObject *value)
{
    if (out[i] != NULL) {
        PyErr_Format(PyExc_TypeError, "argument for %s() given by name ('%s') and position (%d)",
                     p->fname, p->names[i], i + 1);
        return -1;
    }
    out[i] = value;
    return 0;
}

int keyword_index(const char *const *names, int n, PyObject *key)
{
    if (PyUnicode_Check(key) && PyUnicode_IS_COMPACT_ASCII(key)) {
        /* every keyword name is ASCII: compare the bytes, no decoding */
        Py_ssize_t len = PyUnicode_GET_LENGTH(key);
        const char *data = (const char *)PyUnicode_DATA(key);
        for (int i = 0; i < n; i++)
            if (names[i][0] == data[0] && strncmp(names[i], data, (size_t)len) == 0 &&
                names[i][len] == '\0')
                return i;
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (PyUnicode_Check(key) && PyUnicode_CompareWithASCIIString(key, names[i]) == 0)
            return i;
    return -1;
}

static int find_param(const entry_params *p, PyObject *key)
{
    return keyword_index(p->names, p->nparams, key);
}

static int check_required(const entry_params *p, PyObject **out)
{
    for (int i = 0; i < p->nrequired; i++)
        if (out[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s' (pos %d)",
                         p->fname, p->names[i], i + 1);
            return -1;
        }
    return 0;
}

static int too_many_positional(const entry_params *p, Py_ssize_t nargs)
{
    PyErr_Format(PyExc_TypeError, "%s() takes at most %d positional argument%s (%zd given)",
                 p->fname, p->npos, p->npos == 1 ? "" : "s", nargs);
    return -1;
}

int entry_parse(const entry_params *p, PyObject *const *args, Py_ssize_t nargs,
                PyObject *kwnames, PyObject **out)
{
    memset(out, 0, sizeof(PyObject *) * (size_t)p->nparams);
    if (nargs > p->npos)
        return too_many_positional(p, nargs);
    for (Py_ssize_t i = 0; i < nargs; i++)
        out[i] = args[i];
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int i = find_param(p, key);
        if (i < 0) {
            PyErr_Format(PyExc_TypeError, "'%U' is an invalid keyword argument for %s()", key,
                         p->fname);
            return -1;
        }
        if (set_param(p, out, i, args[nargs + k]) < 0)
            return -1;
    }
    if (check_required(p, out) < 0)
        return -1;
    pending_run_mine(0);
    return 0;
}

int entry_parse_tuple(const entry_params *p, PyObject *args, PyObject *kwds, PyObject **out)
{
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    memset(out, 0, sizeof(PyObject *) * (size_t)p->nparams);
    if (nargs > p->npos)
        return too_many_positional(p, nargs);
    for (Py_ssize_t i = 0; i < nargs; i++)
        out[i] = PyTuple_GET_ITEM(args, i);
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (kwds != NULL && PyDict_Next(kwds, &pos, &key, &value)) {
        int i = PyUnicode_Check(key) ? find_param(p, key) : -1;
        if (i < 0) {
            PyErr_Format(PyExc_TypeError, "'%S' is an invalid keyword argument for %s()", key,
                         p->fname);
            return -1;
        }
        if (set_param(p, out, i, value) < 0)
            return -1;
    }
    if (check_required(p, out) < 0)
        return -1;
    pending_run_mine(0);
    return 0;
}

int flag_from_object(PyObject *obj, int *out)
{
    if (obj == NULL)
        return 0; /* not given: the default stays */
    int v = PyObject_IsTrue(obj);
    if (v < 0)
        return -1;
    *out = v;
    return 0;
}

/* ---- addresses ---- */

/*
 * cffi pointers, read in C. cffi has no public C API; its cdata objects start
 * (after PyObject_HEAD) with their CType and their data pointer, which for a
 * pointer, an array or a function is the address itself. Each CType is
 * checked once against a hook (ffi.cast("uintptr_t", p) in Python, today's
 * path) before its cdata are read here; a CType whose answer differs, or that
 * is no pointer kind, keeps going through the hook. Addresses and releases
 * have a hook and a table of verdicts each: a release must be a function.
 */
typedef struct {
    PyObject_HEAD
    PyObject *c_type;
    char *c_data;
} cffi_cdata_head;

/* One of cffi's own (static) types: a cdata, or a function wrapper of a
 * compiled module. A Python class can take any name, "_cffi_backend.x"
 * included (type() accepts dots), so the name alone proves nothing. */
static int cffi_static_type(PyTypeObject *tp)
{
    return !(tp->tp_flags & Py_TPFLAGS_HEAPTYPE) &&
           strncmp(tp->tp_name, "_cffi_backend.", 14) == 0;
}

/* A cdata: its type is _cffi_backend._CDataBase or derives from it. Other
 * objects of _cffi_backend (a buffer from ffi.buffer, an FFI, a CType) have
 * no such head: their second word is no CType. cffi's types are static: a
 * class made in Python under one of their names is not one of them. */
static int cffi_is_cdata(PyTypeObject *tp)
{
    for (; tp != NULL; tp = tp->tp_base)
        if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE) &&
            strcmp(tp->tp_name, "_cffi_backend._CDataBase") == 0)
            return 1;
    return 0;
}

static int cffi_layout_plausible(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (!cffi_static_type(tp) || !cffi_is_cdata(tp) ||
        tp->tp_basicsize < (Py_ssize_t)sizeof(cffi_cdata_head))
        return 0;
    PyObject *ct = ((cffi_cdata_head *)obj)->c_type;
    return ct != NULL && !(Py_TYPE(ct)->tp_flags & Py_TPFLAGS_HEAPTYPE) &&
           strcmp(Py_TYPE(ct)->tp_name, "_cffi_backend.CType") == 0;
}

/* 1 and *out: read in C; 0: use the hook; -1: error. `hook` answers with
 * the address Python reads, or a tuple that starts with it; *verdicts keeps
 * whether C agreed, per CType. */
static int cffi_read(module_state *st, PyObject *obj, PyObject **verdicts, const char *hook,
                     uint64_t *out)
{
    if (!cffi_layout_plausible(obj))
        return 0;
    PyObject *ct = ((cffi_cdata_head *)obj)->c_type;
    uint64_t in_c = (uint64_t)(uintptr_t)((cffi_cdata_head *)obj)->c_data;
    PyObject *dict = state_lazy_dict(st, verdicts);
    if (dict == NULL)
        return -1;
    PyObject *verdict; /* Py_True or Py_False: immortal, never freed */
    int found = shim_dict_get_ref(dict, ct, &verdict);
    Py_XDECREF(verdict);
    if (found < 0) {
        Py_DECREF(dict);
        return -1;
    }
    if (found == 0) {
        /* First cdata of this CType: the hook says what Python reads. */
        PyObject *py = hook_call(st, hook, obj);
        if (py == NULL) {
            Py_DECREF(dict);
            return -1;
        }
        PyObject *addr = PyTuple_Check(py) && PyTuple_GET_SIZE(py) > 0 ? PyTuple_GET_ITEM(py, 0) : py;
        int same = PyLong_Check(addr) && PyLong_AsUnsignedLongLong(addr) == in_c;
        if (PyErr_Occurred())
            PyErr_Clear(); /* an answer that does not fit is no agreement */
        Py_DECREF(py);
        verdict = same ? Py_True : Py_False;
        if (PyDict_SetItem(dict, ct, verdict) < 0) {
            Py_DECREF(dict);
            return -1;
        }
    }
    Py_DECREF(dict);
    if (verdict != Py_True)
        return 0;
    *out = in_c;
    return 1;
}

int address_from_object(module_state *st, PyObject *obj, const char *argname, uint64_t *out)
{
    PyObject *num;
    /* ctypes returns None for a NULL c_void_p (an empty result, say) */
    if (obj == Py_None && (strcmp(argname, "address") == 0 || strcmp(argname, "arg") == 0)) {
        *out = 0;
        return 0;
    }
    if (PyLong_Check(obj) && !PyBool_Check(obj)) {
        num = Py_NewRef(obj);
    } else {
        int r = cffi_read(st, obj, &st->cffi_checked, "cffi_pointer", out);
        if (r != 0)
            return r < 0 ? -1 : 0;
        PyObject *args = Py_BuildValue("(Os)", obj, argname);
        num = args ? hook_call(st, "address", args) : NULL;
        Py_XDECREF(args);
        if (num == NULL)
            return -1;
        if (!PyLong_Check(num)) {
            Py_DECREF(num);
            PyErr_Format(PyExc_TypeError, "%s must be an int, a ctypes pointer or "
                         "array, or a cffi pointer, not %.100s",
                         argname, Py_TYPE(obj)->tp_name);
            return -1;
        }
    }
    int overflow = 0;
    long long signed_v = PyLong_AsLongLongAndOverflow(num, &overflow);
    if (signed_v == -1 && PyErr_Occurred()) {
        Py_DECREF(num);
        return -1;
    }
    if (overflow < 0 || (overflow == 0 && signed_v < 0)) {
        Py_DECREF(num);
        PyErr_Format(PyExc_ValueError, "%s must be >= 0", argname);
        return -1;
    }
    /* in range of long long: that answer is the address; beyond, unsigned */
    unsigned long long v = overflow == 0 ? (unsigned long long)signed_v
                                         : PyLong_AsUnsignedLongLong(num);
    Py_DECREF(num);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_OverflowError, "%s does not fit in 64 bits", argname);
        }
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* ---- shapes and strides ---- */

/* One item's __index__, called directly: an exception it raises passes
 * through as it is, and an answer that is no int is named by its place. */
static int dim_from_item(PyObject *item, const char *argname, Py_ssize_t i, int64_t *out)
{
    if (!PyIndex_Check(item) || PyBool_Check(item)) {
        PyErr_Format(PyExc_TypeError, "%s[%zd] must be an int, not %.100s", argname, i,
                     Py_TYPE(item)->tp_name);
        return -1;
    }
    PyObject *idx = PyLong_Check(item) ? Py_NewRef(item)
                                       : Py_TYPE(item)->tp_as_number->nb_index(item);
    if (idx == NULL)
        return -1;
    if (!PyLong_Check(idx)) {
        PyErr_Format(PyExc_TypeError, "%s[%zd]: __index__ returned %.100s, not an int", argname,
                     i, Py_TYPE(idx)->tp_name);
        Py_DECREF(idx);
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(idx, &overflow);
    Py_DECREF(idx);
    if (overflow) {
        PyErr_Format(PyExc_OverflowError, "%s[%zd] does not fit in 64 bits", argname, i);
        return -1;
    }
    if (v == -1 && PyErr_Occurred())
        return -1;
    *out = v;
    return 0;
}

int dims_from_object(PyObject *seq, const char *argname, int64_t *dims, int32_t *n)
{
    PyObject *items;
    if (PyLong_CheckExact(seq)) { /* the common 1-D case, without a tuple */
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(seq, &overflow);
        if (overflow) {
            PyErr_Format(PyExc_OverflowError, "%s[0] does not fit in 64 bits", argname);
            return -1;
        }
        if (*n >= PYBUF_MAXDIM) {
            (*n)++;
            return 0;
        }
        dims[(*n)++] = v;
        return 0;
    }
    /* A tuple of our own, holding its items: each item's __index__ is
     * Python code that may empty, grow or free the caller's list (and its
     * items), so nothing is read from the list after the first call. A list
     * subclass is read as a list (its storage), as before: no __len__,
     * __iter__ or __getitem__ of its own runs. */
    if (PyIndex_Check(seq)) {
        items = PyTuple_Pack(1, seq);
    } else if (PyTuple_Check(seq)) {
        items = Py_NewRef(seq); /* immutable: it holds its items while we hold it */
    } else if (PyList_Check(seq)) {
        items = PyList_AsTuple(seq);
    } else {
        PyErr_Format(PyExc_TypeError, "%s must be an int or a tuple of ints, not %.100s",
                     argname, Py_TYPE(seq)->tp_name);
        return -1;
    }
    if (items == NULL)
        return -1;
    Py_ssize_t len = PyTuple_GET_SIZE(items);
    /* More than the fixed arrays of pybuf_layout hold: only counted, so that
     * Go's one check of the number of dimensions words the error. */
    if (*n + len > PYBUF_MAXDIM) {
        Py_DECREF(items);
        *n = (int32_t)(len > INT32_MAX / 2 ? INT32_MAX / 2 : *n + len);
        return 0;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        int64_t v;
        if (dim_from_item(PyTuple_GET_ITEM(items, i), argname, i, &v) < 0) {
            Py_DECREF(items);
            return -1;
        }
        dims[(*n)++] = v;
    }
    Py_DECREF(items);
    return 0;
}

/* ---- NumPy dtypes ---- */

/*
 * The dtype hook's answers, (format, extra shape, extra strides), kept per
 * dtype object: a binding passes the same few dtypes again and again, and the
 * hook is a Python call. Keyed by the object and checked for identity (a
 * NumPy dtype compares equal to other spellings of it); only non-str dtypes
 * (a str goes to the Go core first). Bounded: cleared when full.
 */
#define DTYPE_SPECS_MAX 256

/* The answer for the dtype a loop passes again and again, without hashing
 * it. The pair changes together: the old dtype's last reference may go here,
 * and its __del__ may come back for another dtype. */
static PyObject *remember_last(module_state *st, PyObject *dtype, PyObject *spec)
{
    SHIM_LOCK(&st->lock); /* free-threaded: the pair is read together (below) */
    PyObject *old_dtype = st->dtype_last, *old_spec = st->dtype_last_spec;
    st->dtype_last = Py_NewRef(dtype);
    st->dtype_last_spec = Py_NewRef(spec);
    SHIM_UNLOCK(&st->lock);
    Py_XDECREF(old_dtype);
    Py_XDECREF(old_spec);
    return spec;
}

PyObject *dtype_spec(module_state *st, PyObject *dtype, PyObject *reason)
{
    int cacheable = !PyUnicode_Check(dtype) && reason == Py_None;
    if (cacheable) {
        PyObject *last = NULL;
        SHIM_LOCK(&st->lock);
        if (dtype == st->dtype_last)
            last = Py_NewRef(st->dtype_last_spec);
        SHIM_UNLOCK(&st->lock);
        if (last != NULL)
            return last;
    }
    PyObject *specs = cacheable ? state_get(st, &st->dtype_specs) : NULL;
    if (specs != NULL) {
        PyObject *hit;
        int found = shim_dict_get_ref(specs, dtype, &hit);
        Py_DECREF(specs);
        if (found > 0 && PyTuple_GET_ITEM(hit, 0) == dtype) {
            PyObject *spec = remember_last(st, dtype, Py_NewRef(PyTuple_GET_ITEM(hit, 1)));
            Py_DECREF(hit);
            return spec;
        }
        Py_XDECREF(hit);
        if (found < 0) {
            if (!PyErr_ExceptionMatches(PyExc_TypeError)) /* unhashable: no cache */
                return NULL;
            PyErr_Clear();
            cacheable = 0;
        }
    }
    PyObject *args = PyTuple_Pack(2, dtype, reason);
    if (args == NULL)
        return NULL;
    PyObject *spec = hook_call(st, "dtype", args);
    Py_DECREF(args);
    if (spec == NULL || !cacheable)
        return spec;
    if ((specs = state_lazy_dict(st, &st->dtype_specs)) == NULL)
        goto no_cache;
    if (PyDict_GET_SIZE(specs) >= DTYPE_SPECS_MAX)
        PyDict_Clear(specs);
    PyObject *entry = PyTuple_Pack(2, dtype, spec);
    int stored = entry != NULL && PyDict_SetItem(specs, dtype, entry) == 0;
    Py_XDECREF(entry);
    Py_DECREF(specs);
    if (!stored)
        goto no_cache;
    return remember_last(st, dtype, spec);
no_cache:
    PyErr_Clear(); /* the answer stands; only the cache failed */
    return spec;
}

/* ---- releases: release=, arg=, release_thread= ---- */

/*
 * The C function inside a ctypes function object (a CDLL attribute or a
 * CFUNCTYPE instance): ctypes exports the pointer itself through the buffer
 * protocol. Read here because it is the common case and going through
 * ctypes.cast costs more than the rest of wrap(). Returns 1 and sets *fn for
 * a ctypes function, 0 for anything else, -1 on error. A subtype check, not
 * isinstance(): no __instancecheck__ runs for every Python callable.
 */
static int ctypes_function_pointer(module_state *st, PyObject *obj, uint64_t *fn)
{
    if (ATOMIC_LOAD(&st->cfuncptr_type) == NULL) { /* this interpreter's _ctypes */
        PyObject *mod = PyImport_ImportModule("_ctypes");
        if (mod == NULL) {
            PyErr_Clear();
            return 0;
        }
        PyObject *type = PyObject_GetAttrString(mod, "CFuncPtr");
        Py_DECREF(mod);
        if (type == NULL || !PyType_Check(type)) {
            Py_XDECREF(type);
            PyErr_Clear();
            return 0;
        }
        /* the import and the lookup may run Python code that came here
         * first, or another thread may (free-threaded): the first one stays,
         * held by st until the module is cleared */
        SHIM_LOCK(&st->lock);
        int first = st->cfuncptr_type == NULL;
        if (first)
            ATOMIC_STORE(&st->cfuncptr_type, type);
        SHIM_UNLOCK(&st->lock);
        if (!first)
            Py_DECREF(type);
    }
    if (!PyType_IsSubtype(Py_TYPE(obj), (PyTypeObject *)ATOMIC_LOAD(&st->cfuncptr_type)))
        return 0;
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0)
        return -1;
    int ok = view.len == (Py_ssize_t)sizeof(void *);
    if (ok) {
        void *p;
        memcpy(&p, view.buf, sizeof p);
        *fn = (uint64_t)(uintptr_t)p;
    }
    PyBuffer_Release(&view);
    return ok;
}

int release_from_args(module_state *st, PyObject *release, PyObject *arg, release_job *job)
{
    if (release == Py_None) {
        if (arg != Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "arg is passed to a C function release; there is no release");
            return -1;
        }
        return 0;
    }
    uint64_t fn = 0, carg = 0;
    PyObject *keep = NULL;
    int found = 0;
    if (PyLong_Check(release) && !PyBool_Check(release)) {
        if (address_from_object(st, release, "release", &fn) < 0)
            return -1;
    } else if ((found = ctypes_function_pointer(st, release, &fn)) != 0) {
        if (found < 0)
            return -1;
        keep = Py_NewRef(release);
    } else if (PyCallable_Check(release) && !cffi_static_type(Py_TYPE(release))) {
        /* a Python callable: ctypes functions were taken above, and a cffi
         * object (callable too) goes to the hook below */
        if (arg != Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "arg is only for a C function release; a Python "
                            "callable release takes no argument (use a closure)");
            return -1;
        }
        job->kind = RELEASE_PYCALL;
        job->callable = Py_NewRef(release);
        return 0;
    } else if ((found = cffi_read(st, release, &st->cffi_functions, "release", &fn)) != 0) {
        /* a cffi function pointer of a type whose reading the hook confirmed */
        if (found < 0)
            return -1;
        keep = Py_NewRef(release);
    } else {
        /* cffi function pointers: the hook gives (address, object to keep),
         * or None for anything that is no C function. */
        PyObject *spec = hook_call(st, "release", release);
        if (spec == NULL)
            return -1;
        if (spec == Py_None) {
            Py_DECREF(spec);
            if (!PyCallable_Check(release)) {
                PyErr_Format(PyExc_TypeError,
                             "release must be None, a callable, or a C function "
                             "(ctypes function, cffi function pointer or int "
                             "address), not %.100s", Py_TYPE(release)->tp_name);
                return -1;
            }
            PyErr_SetString(PyExc_TypeError, "release: this cffi object is not a function pointer");
            return -1;
        }
        PyObject *addr;
        if (!PyArg_ParseTuple(spec, "OO", &addr, &keep) ||
            address_from_object(st, addr, "release", &fn) < 0) {
            Py_DECREF(spec);
            return -1;
        }
        Py_INCREF(keep);
        Py_DECREF(spec);
    }
    if (fn == 0) {
        Py_XDECREF(keep);
        PyErr_SetString(PyExc_ValueError, "release is a NULL function pointer");
        return -1;
    }
    if (arg != Py_None && address_from_object(st, arg, "arg", &carg) < 0) {
        Py_XDECREF(keep);
        return -1;
    }
    job->kind = RELEASE_CFUNC;
    job->cfunc = (void (*)(void *))(uintptr_t)fn;
    job->carg = (void *)(uintptr_t)carg;
    job->keepalive = keep;
    /* Held whatever it is: an owning cffi pointer or a ctypes object frees
     * the memory carg points into when it dies, and an address read from it
     * says nothing of that. */
    job->arg = arg == Py_None || PYBUF_FAULT == FAULT_ARG_NOT_HELD ? NULL : Py_NewRef(arg);
    return 0;
}

int release_thread_from_arg(PyObject *which, creator_thread **out)
{
    if (which == Py_None)
        return 0;
    if (PyUnicode_Check(which) && PyUnicode_CompareWithASCIIString(which, "creator") == 0) {
        creator_thread *c = creator_thread_current(1);
        if (c == NULL)
            return -1;
        creator_thread_incref(c);
        *out = c;
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "release_thread must be None or \"creator\", not %R", which);
    return -1;
}
