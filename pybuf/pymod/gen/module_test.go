package gen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const zeroGlue = `// Package zg is zero glue.
package zg

import "github.com/pybuf-go/pybuf/pybuf/pymod"

type celsius float64

// Add returns a + b.
func Add(a, b int) int { return a + b }

// Scale multiplies x by k.
//
//pybuf:writes x
func Scale(x []float64, k float64) {}

// Trace sums the diagonal.
//
//pybuf:name tr
func Trace(m pymod.Array[float64]) float64 { return 0 }

func SleepMs(ms int) {}

// Warm is not spelled.
func Warm(t celsius) celsius { return t }

//pybuf:skip
func Hidden() {}

func Unnamed(int) {}

func Keyword(lambda int) {}

//pybuf:frobnicate
func Odd() {}

// Minimize takes a Python callable.
func Minimize(f func(x []float64) float64, x0 []float64) ([]float64, error) { return nil, nil }

func BadCallback(f func(s string) float64) {}

func private() {}
`

func generateIn(t *testing.T, src string, opts Options) Result {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "zg.go"), []byte(src), 0o644))
	res, err := GenerateWith(dir, opts)
	require.NoError(t, err)
	return res
}

func TestModuleRegistersEveryExportedFunction(t *testing.T) {
	res := generateIn(t, zeroGlue, Options{Module: "zg"})
	src := string(res.Source)
	for _, want := range []string{
		`pymod.Module("zg", "Package zg is zero glue.",`,
		`pymod.Func("add", Add, "a", "b").Doc("Add returns a + b."),`,
		`pymod.Func("scale", Scale, "x", "k").Doc("Scale multiplies x by k.").Writes("x"),`,
		`pymod.Func("tr", Trace, "m").Doc("Trace sums the diagonal."),`,
		`pymod.Func("sleep_ms", SleepMs, "ms"),`,
		`a0 := pymod.ArrayArg[float64](c, 0)`,
	} {
		assert.Contains(t, src, want)
	}
	for _, absent := range []string{"Hidden", "Unnamed", "Keyword", "Odd", "private", `"warm"`} {
		assert.NotContains(t, src, `, `+absent+`,`)
		assert.NotContains(t, src, `"`+strings.ToLower(absent)+`"`)
	}
	assert.Contains(t, src, `pymod.Func("minimize", Minimize, "f", "x0").Doc("Minimize takes a Python callable."),`)
	assert.NotContains(t, src, "pymod.Typed(Minimize")
	notes := strings.Join(res.Notes, "\n")
	assert.Contains(t, notes, "Minimize: calls go through reflection: parameter 1 is a func, func(x []float64) float64: a Python callable")
	assert.Contains(t, notes, "BadCallback: not exported")
	assert.Contains(t, notes, "Warm: not exported: parameter 1 has type celsius, which pymodgen does not spell")
	assert.Contains(t, notes, "Unnamed: not exported: parameter 1 has no name")
	assert.Contains(t, notes, `Keyword: not exported: parameter name "lambda" is not a Python identifier`)
	assert.Contains(t, notes, "Odd: not exported: unknown directive //pybuf:frobnicate")
	assert.NotContains(t, notes, "Hidden")
}

func TestModuleNameMustBePython(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "zg.go"), []byte(zeroGlue), 0o644))
	_, err := GenerateWith(dir, Options{Module: "zero-glue"})
	assert.ErrorContains(t, err, `-module "zero-glue" is not a Python module name`)
}

func TestSnakeCase(t *testing.T) {
	for goName, py := range map[string]string{"Add": "add", "SleepMs": "sleep_ms", "LivePins": "live_pins",
		"MatMulABC": "mat_mul_abc", "FFT2": "fft2", "ParseHTTPHeader": "parse_http_header"} {
		assert.Equal(t, py, snakeCase(goName), goName)
	}
}

func TestHandRegisteredArrayParameterIsTyped(t *testing.T) {
	res := generateIn(t, `package zg
import "github.com/pybuf-go/pybuf/pybuf/pymod"
func init() { pymod.Module("zg", "", pymod.Func("tr", Trace, "m"), pymod.Func("n", Named, "m")) }
type grid = pymod.Array[float64]
func Trace(m pymod.Array[float64]) float64 { return 0 }
func Named(m grid) float64 { return 0 }
`, Options{})
	assert.Contains(t, string(res.Source), "pymod.Typed(Trace,")
	assert.Equal(t, []string{"Named: calls go through reflection: parameter 1 has type grid, which pymodgen does not spell"},
		res.Notes)
}
