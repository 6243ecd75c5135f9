// Command libkept is gokept alone with pybuf's core.
package main

import (
	_ "github.com/pybuf-go/pybuf/pybuf/capi"
	_ "github.com/pybuf-go/pybuf/tests_py/gomods/kept"
)

func main() {}
