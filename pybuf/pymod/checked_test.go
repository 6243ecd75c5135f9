package pymod

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pybuf-go/pybuf/pybuf/status"
)

var keptForTest []float64

func init() {
	Module("pymodchecked", "Misuse that checked mode catches.",
		Func("keep", func(x []float64) { keptForTest = x }, "x"),
		Func("kept_sum", func() float64 {
			s := 0.0
			for _, v := range keptForTest {
				s += v
			}
			return s
		}),
		Func("scribble", func(x []float64) { x[0] = 1 }, "x"),
		Func("scale", func(x []float64, k float64) {
			for i := range x {
				x[i] *= k
			}
		}, "x", "k").Writes("x"),
		Func("trace", func(m Array[float64]) float64 { return m.Data[m.Offset] + m.Data[0] }, "m"),
	)
}

func withChecked(t *testing.T) {
	prev := checked
	checked = true
	t.Cleanup(func() { checked = prev })
}

func floatsArg(x ...float64) testArg { return testArg{Floats: x, Format: strp("d"), Ndim: 1} }

func TestCheckedKeptSliceIsAPanicNamingItsCall(t *testing.T) {
	withChecked(t)
	_, st, msg := callForTest(idOf(t, "pymodchecked", "keep"), []testArg{floatsArg(1, 2, 3)}, nil)
	require.Zero(t, st, msg)
	_, st, msg = callForTest(idOf(t, "pymodchecked", "kept_sum"), nil, []bool{false})
	assert.EqualValues(t, status.KindRuntime, st)
	assert.Contains(t, msg, "pymodchecked.kept_sum: Go panic: memory borrowed from argument 'x' of "+
		"pymodchecked.keep was used after that call returned")
	keptForTest = nil
}

func TestCheckedWriteWithoutWritesIsAPanic(t *testing.T) {
	withChecked(t)
	_, st, msg := callForTest(idOf(t, "pymodchecked", "scribble"), []testArg{floatsArg(5)}, nil)
	assert.EqualValues(t, status.KindRuntime, st)
	assert.Contains(t, msg, "pymodchecked.scribble: Go panic: argument 'x' was written, but pymodchecked.scribble "+
		"does not declare it in Writes")
}

func TestCheckedCallsStillWork(t *testing.T) {
	withChecked(t)
	_, st, msg := callForTest(idOf(t, "pymodchecked", "scale"), []testArg{floatsArg(1, 2), {F: 3}}, nil)
	assert.Zero(t, st, msg)
	m := testArg{Floats: []float64{1, 2, 3, 4}, Format: strp("d"), Ndim: 2, Shape: []int64{2, 2},
		Strides: []int64{-16, -8}, Offset: 24}
	r, st, msg := callForTest(idOf(t, "pymodchecked", "trace"), []testArg{m}, []bool{false})
	require.Zero(t, st, msg)
	assert.Equal(t, 5.0, r[0].F, "element (0, 0) is 4, the lowest element the view reaches is 1")
	r, st, msg = callForTest(idOf(t, "pymodtest", "sum"), []testArg{floatsArg(1, 2, 3.5)}, []bool{false})
	require.Zero(t, st, msg)
	assert.Equal(t, 6.5, r[0].F)
}

func TestCheckedModeIsOffByDefault(t *testing.T) {
	assert.False(t, Checked(), "PYBUF_GO_CHECKED is not set for the tests")
}
