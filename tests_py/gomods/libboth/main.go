// Command libboth is gotwo and gothree in one c-shared library with pybuf's
// core, as pybuf.gobuild builds several modules.
package main

import (
	_ "github.com/pybuf-go/pybuf/pybuf/capi"
	_ "github.com/pybuf-go/pybuf/tests_py/gomods/three"
	_ "github.com/pybuf-go/pybuf/tests_py/gomods/two"
)

func main() {}
