// Package gotext is a small Python module of string functions written in Go:
// one of the two modules of the bundle example (see README.md).
package gotext

import (
	"strings"
	"unicode"

	"github.com/pybuf-go/pybuf/pybuf/pymod"
)

func init() {
	pymod.Module("gotext", "Small string functions in Go.",
		pymod.Func("words", Words, "s").Doc("The number of words (runs of non-space characters) in s."),
		pymod.Func("title", Title, "s").Doc("s with the first letter of every word upper-cased."),
	)
}

// Words counts the runs of non-space characters in s.
func Words(s string) int { return len(strings.Fields(s)) }

// Title upper-cases the first letter of every word of s.
func Title(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		first := unicode.IsSpace(prev)
		prev = r
		if first {
			return unicode.ToUpper(r)
		}
		return r
	}, s)
}
