// Command libtwo is gotwo alone with pybuf's core: a c-shared library built
// on its own, so a second Go runtime next to any other.
package main

import (
	_ "github.com/pybuf-go/pybuf/pybuf/capi"
	_ "github.com/pybuf-go/pybuf/tests_py/gomods/two"
)

func main() {}
