package pymod

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pybuf-go/pybuf/pybuf/gomem"
	"github.com/pybuf-go/pybuf/pybuf/status"
)

// Functions with typed invokers written as pymodgen writes them (its own
// output is checked in package gen); the Frame path must behave exactly as
// reflection's.

func frameSeq(n int) ([]float64, error) {
	if n < 0 {
		return nil, ValueError.New("negative")
	}
	s := make([]float64, n)
	for i := range s {
		s[i] = float64(i)
	}
	return s, nil
}

func frameEcho(x []float64) []float64 { return x }

func frameKinds(a int8, s string, z complex64) (uint64, string, []byte, complex128, bool) {
	return uint64(a) * 2, s + "!", []byte(s), complex128(z) * 2, a < 0
}

func frameScale(a int8, b float32) float64 { return float64(a) * float64(b) }

func frameTwo(n int) ([]float64, Array[float64]) {
	return make([]float64, n), Strided(make([]float64, 2), 0, []int{n}, []int{1})
}

func init() {
	Typed(frameSeq, func(c *Frame) {
		a0 := int(c.Int(0))
		if c.Failed() {
			return
		}
		r0, err := frameSeq(a0)
		if err != nil {
			c.Fail(err)
			return
		}
		SetSlice(c, 0, r0)
	})
	Module("pymodframe", "",
		Func("seq", frameSeq, "n"),
		Func("echo", frameEcho, "x"),
		Func("kinds", frameKinds, "a", "s", "z"),
		Func("two", frameTwo, "n"),
		Func("scale", frameScale, "a", "b"),
	)
	Typed(frameScale, func(c *Frame) {
		a0 := int8(c.Int(0))
		a1 := float32(c.Float(1))
		if c.Failed() {
			return
		}
		c.SetFloat(0, frameScale(a0, a1))
	})
	// After the registration, as pymodgen's init may run: picked up all the same.
	Typed(frameEcho, func(c *Frame) {
		a0 := Slice[float64](c, 0)
		if c.Failed() {
			return
		}
		SetSlice(c, 0, frameEcho(a0))
	})
	Typed(frameKinds, func(c *Frame) {
		a0 := int8(c.Int(0))
		a1 := c.String(1)
		a2 := complex64(c.Complex(2))
		if c.Failed() {
			return
		}
		r0, r1, r2, r3, r4 := frameKinds(a0, a1, a2)
		c.SetUint(0, r0)
		c.SetString(1, r1)
		c.SetBytes(2, r2)
		c.SetComplex(3, r3)
		c.SetBool(4, r4)
	})
	Typed(frameTwo, func(c *Frame) {
		a0 := int(c.Int(0))
		if c.Failed() {
			return
		}
		r0, r1 := frameTwo(a0)
		SetSlice(c, 0, r0)
		SetArray(c, 1, r1)
	})
}

func TestTypedInvokersAreAttachedWhicheverRunsFirst(t *testing.T) {
	for _, name := range []string{"seq", "echo", "kinds", "two"} {
		f := funcByID(idOf(t, "pymodframe", name))
		require.NotNil(t, f.invoke, name)
	}
	Typed(nil, nil) // ignored: never a panic in an init function
	Typed(3, func(*Frame) {})
}

func TestFrameResultsOfEveryKind(t *testing.T) {
	r, st, msg := callForTest(idOf(t, "pymodframe", "kinds"), []testArg{{I: -3}, {Str: strp("go")}, {F: 1, Imag: 2}},
		[]bool{false, false, false, false, false})
	require.Zero(t, st, msg)
	assert.Equal(t, uint64(0xfffffffffffffffa), r[0].U)
	assert.Equal(t, "go!", string(r[1].Bytes))
	assert.Equal(t, "go", string(r[2].Bytes))
	assert.Equal(t, [2]float64{2, 4}, [2]float64{r[3].F, r[3].Imag})
	assert.Equal(t, int64(1), r[4].I)
}

func TestFrameExportsAndErrors(t *testing.T) {
	before := gomem.ReadStats()
	seq := idOf(t, "pymodframe", "seq")
	r, st, msg := callForTest(seq, []testArg{{I: 3}}, []bool{true})
	require.Zero(t, st, msg)
	assert.Equal(t, []float64{0, 1, 2}, r[0].Array.Floats(3))
	r[0].Array.Release()
	_, st, msg = callForTest(seq, []testArg{{I: -1}}, []bool{true})
	assert.EqualValues(t, status.KindValue, st)
	assert.Equal(t, "pymodframe.seq: negative", msg)

	_, st, msg = callForTest(idOf(t, "pymodframe", "two"), []testArg{{I: 3}}, []bool{true, true})
	assert.EqualValues(t, status.KindValue, st)
	assert.Contains(t, msg, "pymodframe.two: result 2: gomem: shape [3] with strides [1]")
	after := gomem.ReadStats()
	assert.Equal(t, before.LivePins, after.LivePins, "the first result, exported, was taken back")
	assert.Equal(t, before.Live, after.Live)
}

func TestFrameArgumentChecksAndBorrowedResults(t *testing.T) {
	echo := idOf(t, "pymodframe", "echo")
	_, st, msg := callForTest(echo, []testArg{{Ints: []int64{1}, Format: strp("q"), Ndim: 1}}, []bool{true})
	assert.EqualValues(t, status.KindType, st)
	assert.Contains(t, msg, "pymodframe.echo() argument 'x' must hold float64 elements")
	_, st, msg = callForTest(echo, []testArg{{Floats: []float64{1, 2}, Format: strp("d"), Ndim: 1}}, []bool{true})
	assert.EqualValues(t, status.KindValue, st)
	assert.Equal(t, "pymodframe.echo: result 1 is memory borrowed from argument 'x', which is Python's and only "+
		"lent for the call: return a copy (slices.Clone)", msg)
}

func TestFrameRefusesAnInvokerOfAnotherSignature(t *testing.T) {
	f := funcByID(idOf(t, "pymodframe", "echo"))
	c := Frame{f: f}
	assert.Nil(t, Slice[int32](&c, 0))
	require.True(t, c.Failed())
	assert.EqualValues(t, status.KindRuntime, c.err.Kind)
	assert.Contains(t, c.err.Msg, "run go generate again")
}
