// Command gotwo is a second, separately built Go module library for
// tests_py/test_gostats.py: a process that already runs one Go library must
// refuse to load it.
package main

import (
	_ "github.com/pybuf-go/pybuf/pybuf/capi"
	"github.com/pybuf-go/pybuf/pybuf/pymod"
)

func init() {
	pymod.Module("gotwo", "A second Go module, built on its own.",
		pymod.Func("twice", func(x int) int { return 2 * x }, "x"))
}

func main() {}
