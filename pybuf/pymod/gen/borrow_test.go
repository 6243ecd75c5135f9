package gen

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const keeper = `package zg

import (
	"slices"

	"github.com/pybuf-go/pybuf/pybuf/pymod"
)

var (
	kept  []float64
	ch    = make(chan []float64, 1)
	state struct{ rows [][]float64 }
	copied []float64
)

func Keep(x []float64) { kept = x }

func KeepTail(x []float64) { y := x[1:]; kept = y }

func KeepInStruct(x []float64) { state.rows = append(state.rows, x) }

func KeepArray(m pymod.Array[float64]) { kept = m.Data }

func Send(x []float64) { ch <- x }

func Background(x []float64) { go func() { _ = x[0] }() }

func Copy(x []float64) { copied = slices.Clone(x) }

func Local(x []float64) float64 { kept := x; return kept[0] }

func Element(x []float64) { copied = append(copied, x[0]) }
`

func TestBorrowedSlicesKeptAreWarned(t *testing.T) {
	res := generateIn(t, keeper, Options{Module: "zg"})
	notes := strings.Join(res.Notes, "\n")
	for _, want := range []string{
		"Keep: parameter x is stored in package variable kept",
		"KeepTail: parameter x is stored in package variable kept",
		"KeepInStruct: parameter x is stored in package variable state",
		"KeepArray: parameter m is stored in package variable kept",
		"Send: parameter x is sent on a channel",
		"Background: parameter x is handed to a goroutine",
	} {
		assert.Contains(t, notes, want)
	}
	for _, quiet := range []string{"Copy:", "Local:", "Element:"} {
		assert.NotContains(t, notes, quiet)
	}
	assert.Len(t, res.Notes, 6)
}
