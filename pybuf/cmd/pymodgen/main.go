// Command pymodgen writes pymod_invokers.go: typed invokers for the functions
// the Go package in the current directory registers with pybuf/pymod, so that
// Python's calls skip reflection. Run it from go generate:
//
//	//go:generate go run github.com/pybuf-go/pybuf/pybuf/cmd/pymodgen
package main

import (
	"fmt"
	"os"

	"github.com/pybuf-go/pybuf/pybuf/pymod/gen"
)

func main() {
	out, err := gen.Generate(".")
	if err == nil {
		err = os.WriteFile(gen.OutputFile, out, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pymodgen:", err)
		os.Exit(1)
	}
}
