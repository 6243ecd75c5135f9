package capi

/*
#include "cgo_const.h"

// The shim updates these counters with atomic builtins, possibly from several
// threads (free-threaded CPython, or C releases without the GIL); acquire
// loads pair with its release stores so closed/released are never seen
// before the counts they follow from.
static inline void pybuf_load_counts(const pybuf_counts *p, int64_t out[4]) {
	out[0] = __atomic_load_n(&p->buffers, __ATOMIC_ACQUIRE);
	out[1] = __atomic_load_n(&p->exports, __ATOMIC_ACQUIRE);
	out[2] = __atomic_load_n(&p->nbytes, __ATOMIC_ACQUIRE);
	out[3] = __atomic_load_n(&p->state, __ATOMIC_ACQUIRE);
}
*/
import "C"

// cCounts reads an owner's pybuf_counts, which lives in C memory owned by the
// shim. Holding a pointer to C memory in Go is allowed; the registry stops
// reading it once pybuf_core_registry_apply has listed it as gone, after which the shim may
// free it.
type cCounts struct{ p *C.pybuf_counts }

func (c cCounts) Load() (buffers, exports, nbytes, state int64) {
	var out [4]C.int64_t
	C.pybuf_load_counts(c.p, &out[0])
	return int64(out[0]), int64(out[1]), int64(out[2]), int64(out[3])
}
