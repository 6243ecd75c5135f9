/*
 * interp_end.c: the owners a subinterpreter still holds when it ends.
 *
 * Owners are released in the interpreter that created them. When a
 * subinterpreter is destroyed, finalizing its modules drops most of them
 * the ordinary way; what is left is released here, at the latest moment at
 * which that interpreter can still run a release. CPython 3.12 and 3.13 run an
 * interpreter's low-level exit callbacks (_Py_AtExit, PyUnstable_AtExit) from
 * interpreter_clear() (Python/pystate.c): after finalize_modules(), before the
 * interpreter's last garbage collection, with its thread state current and
 * its builtins and sys still in place. No other thread of that interpreter
 * exists then (Py_EndInterpreter insists on being the last one), so nothing
 * can be reading the memory of an owner that has no export left.
 *
 * The main interpreter is left to the rules of interpreter exit (rule 5):
 * daemon threads may still run C code over pybuf memory after it finalizes,
 * so an owner alive at the very end is reported (PYBUF_REPORT_LEAKS), not
 * released.
 *
 * Hostile Python (docs/ARCHITECTURE.md): nothing borrowed or measured before
 * a call into Python is used after it.
 */
#include "shim.h"

#if PY_VERSION_HEX >= 0x030D0000
#define AT_INTERP_EXIT PyUnstable_AtExit
#elif PY_VERSION_HEX >= 0x030C0000
#define AT_INTERP_EXIT _Py_AtExit
#endif

#ifdef AT_INTERP_EXIT
static void release_owners_of_ending_interp(void *data)
{
    int64_t interp = (int64_t)(intptr_t)data;
    assert(interp == current_interp());
    PyObject *exc = shim_err_take();
    /* No collection here: garbage cycles are left to the interpreter's last
     * one, which follows at once and releases them the ordinary way. */
    Py_ssize_t n;
    OwnerObject **owners = registry_owners_of(interp, &n);
    for (Py_ssize_t i = 0; i < n; i++) {
        OwnerObject *o = owners[i];
        /* The interpreter's threads are gone: a release meant for the
         * creator thread runs here, or never. */
        owner_release_at_interp_end(o);
        Py_DECREF(o);
    }
    PyMem_RawFree(owners);
    PyErr_Clear();
    shim_err_restore(exc);
}
#endif

int interp_end_watch(module_state *st)
{
#ifdef AT_INTERP_EXIT
    PyInterpreterState *interp = PyInterpreterState_Get();
    if (interp == PyInterpreterState_Main())
        return 0;
    /* Once per module object: a second run (a re-import) finds nothing left. */
    return AT_INTERP_EXIT(interp, release_owners_of_ending_interp,
                          (void *)(intptr_t)st->interp);
#else
    (void)st; /* 3.11 has no per-interpreter exit callback */
    return 0;
#endif
}
