// Command pymodgen writes pymod_invokers.go: typed invokers for the functions
// the Go package in the current directory registers with pybuf/pymod, so that
// Python's calls skip reflection. Run it from go generate:
//
//	//go:generate go run github.com/pybuf-go/pybuf/pybuf/cmd/pymodgen
//
// With -module name it also registers every exported function of the
// package as Python module name (no pymod.Func lines by hand):
//
//	//go:generate go run github.com/pybuf-go/pybuf/pybuf/cmd/pymodgen -module gostats
//
// It prints a note for each function left on reflection or out of the
// module, and a warning for each borrowed slice parameter it sees kept
// after the call (stored in a package variable, sent, or given to a
// goroutine). -strict makes those warnings fail the command.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/pybuf-go/pybuf/pybuf/pymod/gen"
)

func main() {
	var opts gen.Options
	flag.StringVar(&opts.Module, "module", "", "register every exported function as this Python module")
	strict := flag.Bool("strict", false, "fail on a note")
	flag.Parse()
	res, err := gen.GenerateWith(".", opts)
	if err == nil {
		err = os.WriteFile(gen.OutputFile, res.Source, 0o644)
	}
	for _, n := range res.Notes {
		fmt.Fprintln(os.Stderr, "pymodgen:", n)
	}
	if err == nil && *strict && len(res.Notes) > 0 {
		err = fmt.Errorf("%d notes (-strict)", len(res.Notes))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pymodgen:", err)
		os.Exit(1)
	}
}
