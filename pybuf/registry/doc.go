// Package registry keeps the owners behind pybuf.live(): every owner the C
// shim registers until its release has run, and, while tracing is on, the
// creation sites of its buffers and exports.
//
// The live counters of an owner stay in the shim's memory (the hot paths
// update them without calling Go); the registry only reads them through
// Counts when someone asks, so registering costs one map insert and nothing
// per export.
package registry
