// Package version holds the version of pybuf's Go core, in one place: the C
// ABI reports it and the Python package compares it with its own.
package version

// Version of the Go core, reported by pybuf_core_version.
const Version = "0.1.0"
