// Package two registers the Python module gotwo.
package two

import "github.com/pybuf-go/pybuf/pybuf/pymod"

func init() {
	pymod.Module("gotwo", "A Go module for the tests.",
		pymod.Func("twice", func(x int) int { return 2 * x }, "x"))
}
