package pymod

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pybuf-go/pybuf/pybuf/status"
)

var keptFunc func(float64) float64

func init() {
	Module("pymodcb", "Python callables as Go funcs.",
		Func("apply", func(f func(float64) float64, x float64) float64 { return f(x) + f(2*x) }, "f", "x"),
		Func("fill", func(g func(x []float64, k int) float64, n int) (float64, []float64) {
			x := make([]float64, n)
			for i := range x {
				x[i] = float64(i)
			}
			s := g(x, 100)
			return s, x
		}, "g", "n"),
		Func("checked", func(f func(float64) (float64, error)) (float64, error) {
			v, err := f(1)
			if err != nil {
				return 0, errors.Join(errors.New("wrapped"), err)
			}
			return v, nil
		}, "f"),
		Func("swallow", func(f func(float64) (float64, error)) float64 { _, _ = f(1); return 7 }, "f"),
		Func("elsewhere", func(f func(float64) float64) float64 {
			done := make(chan float64)
			go func() { a := f(1); done <- a + f(2) }()
			return <-done
		}, "f"),
		Func("keep", func(f func(float64) float64) { keptFunc = f }, "f"),
		Func("call_kept", func() float64 { return keptFunc(1) }),
	)
}

func mode(m int64) testArg { return testArg{Callable: &m} }

func TestCallbackIsCalled(t *testing.T) {
	useTestCallback()
	r, st, msg := callForTest(idOf(t, "pymodcb", "apply"), []testArg{mode(0), {F: 1.5}}, []bool{false})
	require.Zero(t, st, msg)
	assert.Equal(t, 4.5, r[0].F)
}

func TestCallbackFillsASlice(t *testing.T) {
	useTestCallback()
	r, st, msg := callForTest(idOf(t, "pymodcb", "fill"), []testArg{mode(0), {I: 4}}, []bool{false, true})
	require.Zero(t, st, msg)
	assert.Equal(t, 106.0, r[0].F, "0+1+2+3 and k")
	assert.Equal(t, []float64{0, 2, 4, 6}, r[1].Array.Floats(4), "the callable wrote the Go slice")
	r[1].Array.Release()
}

func TestCallbackThatRaisesFailsTheCall(t *testing.T) {
	useTestCallback()
	for _, name := range []string{"apply", "checked", "swallow", "elsewhere"} {
		args := []testArg{mode(1)}
		if name == "apply" {
			args = append(args, testArg{F: 1})
		}
		_, st, msg := callForTest(idOf(t, "pymodcb", name), args, []bool{false})
		assert.EqualValues(t, status.KindCallback, st, name)
		assert.Contains(t, msg, "pymodcb."+name+": ", name)
		if name != "apply" {
			assert.Contains(t, msg, "the callable given for argument 'f' raised ValueError: mode 1", name)
		}
	}
}

func TestCallbackOnAnotherGoroutineWorks(t *testing.T) {
	useTestCallback()
	r, st, msg := callForTest(idOf(t, "pymodcb", "elsewhere"), []testArg{mode(0)}, []bool{false})
	require.Zero(t, st, msg)
	assert.Equal(t, 3.0, r[0].F)
}

func TestCallbackKeptAfterItsCallIsRefused(t *testing.T) {
	useTestCallback()
	_, st, msg := callForTest(idOf(t, "pymodcb", "keep"), []testArg{mode(0)}, nil)
	require.Zero(t, st, msg)
	_, st, msg = callForTest(idOf(t, "pymodcb", "call_kept"), nil, []bool{false})
	assert.EqualValues(t, status.KindRuntime, st)
	assert.Contains(t, msg, "pymodcb.call_kept: Go panic: pymodcb.keep: the func given for argument 'f' was called "+
		"after that call returned")
	keptFunc = nil
}

func TestCallbackTypesAreChecked(t *testing.T) {
	Module("pymodcbbad", "",
		Func("strs", func(f func(string) float64) {}, "f"),
		Func("sliceout", func(f func() []float64) {}, "f"),
	)
	_, _, err := describedForTest("pymodcbbad")
	require.Error(t, err)
	assert.ErrorContains(t, err, "pymodcbbad.strs: parameter f: type func(string) float64: parameter 1: string is not")
	assert.ErrorContains(t, err, "pymodcbbad.sliceout: parameter f: type func() []float64: result 1: []float64 is not "+
		"a bool, integer or float")
	stub, err := Stub("pymodcb")
	require.NoError(t, err)
	assert.Contains(t, stub, "def apply(f: Callable[[float], float], x: float) -> float:")
	assert.Contains(t, stub, "def fill(g: Callable[[npt.NDArray[Any], int], float], n: int)")
}

func TestCallbackRunningWhenTheCallReturnsIsWaitedFor(t *testing.T) {
	useTestCallback()
	cs := newCallState("pymodcb.wait")
	cs.inflight.RLock() // a callback in flight
	closed := make(chan struct{})
	go func() { cs.close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("close returned while a callback ran")
	default:
	}
	cs.inflight.RUnlock()
	<-closed
	assert.True(t, cs.closed.Load())
}
