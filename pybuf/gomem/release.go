package gomem

// #include <stdint.h>
import "C"

// pybuf_gomem_release_id is what every descriptor's release calls (through
// the C trampoline in export.go) once pybuf has dropped the last view.
//
//export pybuf_gomem_release_id
func pybuf_gomem_release_id(id C.uintptr_t) { releaseID(uint64(id)) }
