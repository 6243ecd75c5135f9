package pymod

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pybuf-go/pybuf/pybuf/gomem"
	"github.com/pybuf-go/pybuf/pybuf/status"
	"github.com/pybuf-go/pybuf/pybuf/version"
)

type rec struct {
	ID int32   `pybuf:"id"`
	X  float64 `pybuf:"x"`
}

type celsius float64

func init() {
	Module("pymodtest", "A test module.",
		Func("add", func(a, b int) int { return a + b }, "a", "b").Doc("Adds."),
		Func("addf", func(a int8, b uint16, c float32, d celsius) float64 {
			return float64(a) + float64(b) + float64(c) + float64(d)
		}, "a", "b", "c", "d"),
		Func("cplx", func(z complex128, ok bool) (complex128, bool) { return z * 2, !ok }, "z", "ok"),
		Func("upper", func(s string) (string, []byte, int) { return strings.ToUpper(s), []byte(s), len(s) }, "s"),
		Func("sum", func(x []float64) float64 {
			t := 0.0
			for _, v := range x {
				t += v
			}
			return t
		}, "x"),
		Func("double", func(x []int64) {
			for i := range x {
				x[i] *= 2
			}
		}, "x").Writes("x"),
		Func("seq", func(n int) []float64 {
			s := make([]float64, n)
			for i := range s {
				s[i] = float64(i)
			}
			return s
		}, "n"),
		Func("records", func(n int) []rec { return make([]rec, n) }, "n"),
		Func("matrix", func(rows, cols int) Array[float64] {
			g := make([]float64, rows*cols)
			for i := range g {
				g[i] = float64(i)
			}
			return Strided(g, cols+1, []int{rows - 1, cols - 1}, []int{cols, 1})
		}, "rows", "cols"),
		Func("outside", func() Array[float64] { return Strided(make([]float64, 4), 0, []int{3}, []int{2}) }),
		Func("fails", func(which string) (int, error) {
			switch which {
			case "key":
				return 0, KeyError.New("no such key")
			case "index":
				return 0, IndexError.Errorf("index %d", 7)
			case "value":
				return 0, fmt.Errorf("wrapped: %w", ValueError.New("bad value"))
			case "type":
				return 0, TypeError.Wrap(errors.New("bad type"))
			case "plain":
				return 0, errors.New("plain error")
			case "prefixed":
				return 0, errors.New("pymodtest.fails: already prefixed")
			case "named":
				return 0, Class("numpy.linalg.LinAlgError", ValueError).New("singular")
			case "badname":
				return 0, Class("not a name", KeyError).New("fallback")
			}
			return 1, nil
		}, "which"),
		Func("boom", func() { panic("kaboom") }),
		Func("fresh2d", func(rows, cols int) (Array[float64], error) {
			a, err := FreshArray[float64](rows, cols)
			if err == nil {
				a.Data[len(a.Data)-1] = 1
			}
			return a, err
		}, "rows", "cols"),
		Func("trace", func(m Array[float64]) float64 {
			t := 0.0
			for i := 0; i < m.Shape[0] && i < m.Shape[1]; i++ {
				t += m.Data[m.Offset+i*m.Strides[0]+i*m.Strides[1]]
			}
			return t
		}, "m"),
		Func("same", func(x []float64) []float64 { return x[1:] }, "x"),
		Func("sameND", func(m Array[float64]) Array[float64] { return m }, "m"),
		Func("fresh", func(x []float64) []float64 { return append([]float64(nil), x...) }, "x"),
		Func("describe", func(m Array[int64]) (int, int, int, bool) {
			return len(m.Data), m.Offset, len(m.Shape), m.Readonly
		}, "m"),
	)
	Module("pymodbad", "",
		Func("ok", func() {}),
		Func("m", func(map[string]int) {}, "m"),
		Func("names", func(a, b int) {}, "a"),
		Func("writes", func(a int) {}, "a").Writes("a"),
		Func("kw", func(a int) {}, "class"),
		Func("variadic", func(a ...int) {}, "a"),
		Func("ok", func() {}),
		Func("ptrs", func() []*int { return nil }),
		Func("__all__", func() {}),
	)
}

func idOf(t *testing.T, module, name string) uint64 {
	t.Helper()
	_, funcs, err := describedForTest(module)
	require.NoError(t, err)
	for _, f := range funcs {
		if f.Name == name {
			return f.ID
		}
	}
	t.Fatalf("no function %s.%s", module, name)
	return 0
}

func strp(s string) *string { return &s }

func TestHeaderKindsAgree(t *testing.T) {
	assert.Equal(t, []int32{kindBool, kindInt, kindUint, kindFloat, kindComplex, kindString, kindBytes, kindArray},
		headerKinds())
}

func TestDescriptionCarriesSignatures(t *testing.T) {
	doc, funcs, err := describedForTest("pymodtest")
	require.NoError(t, err)
	assert.Equal(t, "A test module.", doc)
	byName := map[string]describedFunc{}
	for _, f := range funcs {
		byName[f.Name] = f
	}
	assert.Equal(t, "add(a, b)\n--\n\nAdds.", byName["add"].Doc)
	assert.Equal(t, []describedParam{{"a", kindInt, 8, false}, {"b", kindUint, 16, false},
		{"c", kindFloat, 0, false}, {"d", kindFloat, 0, false}}, byName["addf"].Params)
	assert.Equal(t, []describedParam{{"x", kindArray, 0, true}}, byName["double"].Params)
	assert.Equal(t, []describedParam{{"", kindString, 0, false}, {"", kindBytes, 0, false}, {"", kindInt, 64, false}},
		byName["upper"].Results)
	assert.Len(t, byName["fails"].Results, 1, "the error is not a result")
}

func TestRegistrationMistakesAreImportErrors(t *testing.T) {
	_, _, err := describedForTest("pymodbad")
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		"pymodbad.m: parameter m: type map[string]int cannot be a parameter",
		"pymodbad.names: 1 parameter names given for 2 parameters",
		`pymodbad.writes: Writes("a"): only slice parameters can be written`,
		`pymodbad.kw: parameter name "class" is not a Python identifier`,
		"pymodbad.variadic: variadic functions cannot be registered",
		"pymodbad.ok: the name is registered twice",
		"pymodbad.ptrs: result 1: type []*int cannot be a result",
		"pymodbad.__all__: names starting with __ belong to Python",
	} {
		assert.Contains(t, msg, want)
	}
	_, err = Stub("pymodbad")
	assert.Error(t, err)
	_, _, err = describedForTest("nosuchmodule")
	assert.ErrorContains(t, err, `no module "nosuchmodule"`)
	assert.ErrorContains(t, err, "pymodtest")
}

func TestModuleRegisteredTwiceIsRefused(t *testing.T) {
	Module("pymodtwice", "")
	Module("pymodtwice", "")
	_, _, err := describedForTest("pymodtwice")
	assert.ErrorContains(t, err, "registered twice")
}

func TestScalarCalls(t *testing.T) {
	r, st, msg := callForTest(idOf(t, "pymodtest", "add"), []testArg{{I: 40}, {I: 2}}, []bool{false})
	require.Zero(t, st, msg)
	assert.Equal(t, int64(42), r[0].I)

	r, st, msg = callForTest(idOf(t, "pymodtest", "addf"), []testArg{{I: -3}, {U: 65535}, {F: 0.5}, {F: 0.25}}, []bool{false})
	require.Zero(t, st, msg)
	assert.Equal(t, 65532.75, r[0].F)

	r, st, msg = callForTest(idOf(t, "pymodtest", "cplx"), []testArg{{F: 1.5, Imag: -2}, {I: 1}}, []bool{false, false})
	require.Zero(t, st, msg)
	assert.Equal(t, 3.0, r[0].F)
	assert.Equal(t, -4.0, r[0].Imag)
	assert.Equal(t, int64(0), r[1].I)
}

func TestStringsAndBytes(t *testing.T) {
	r, st, msg := callForTest(idOf(t, "pymodtest", "upper"), []testArg{{Str: strp("héllo")}}, []bool{false, false, false})
	require.Zero(t, st, msg)
	assert.Equal(t, "HÉLLO", string(r[0].Bytes))
	assert.Equal(t, "héllo", string(r[1].Bytes))
	assert.Equal(t, int64(6), r[2].I)
	r, st, _ = callForTest(idOf(t, "pymodtest", "upper"), []testArg{{Str: strp("")}}, []bool{false, false, false})
	require.Zero(t, st)
	assert.Nil(t, r[0].Bytes)
}

func TestBorrowedSlices(t *testing.T) {
	sum := idOf(t, "pymodtest", "sum")
	r, st, msg := callForTest(sum, []testArg{{Floats: []float64{1, 2, 3.5}, Format: strp("d"), Ndim: 1}}, []bool{false})
	require.Zero(t, st, msg)
	assert.Equal(t, 6.5, r[0].F)
	// NumPy's formats: native "<d", "=d" name float64 too.
	_, st, msg = callForTest(sum, []testArg{{Floats: []float64{1}, Format: strp("<d"), Ndim: 1}}, []bool{false})
	assert.Zero(t, st, msg)

	cases := []struct {
		arg  testArg
		kind status.Kind
		want string
	}{
		{testArg{Ints: []int64{1}, Format: strp("q"), Ndim: 1}, status.KindType,
			`pymodtest.sum() argument 'x' must hold float64 elements (format "d"), not format "q"`},
		{testArg{Floats: []float64{1}, Format: strp(">d"), Ndim: 1}, status.KindType, `not format ">d"`},
		{testArg{Floats: []float64{1}, Format: strp("not a format"), Ndim: 1}, status.KindType, "argument 'x'"},
		{testArg{Floats: []float64{1, 2}, Format: strp("d"), Ndim: 2, Shape: []int64{1, 2}}, status.KindValue,
			"argument 'x' must be 1-dimensional, not 2-dimensional"},
		{testArg{Floats: []float64{1, 2, 3, 4}, Format: strp("d"), Ndim: 1, Shape: []int64{2}, Strides: []int64{16}},
			status.KindValue, "argument 'x' must be contiguous (its stride is 16 bytes"},
	}
	for _, c := range cases {
		_, st, msg := callForTest(sum, []testArg{c.arg}, []bool{false})
		assert.EqualValues(t, c.kind, st, msg)
		assert.Contains(t, msg, c.want)
	}
}

func TestWritableSlicesAreWrittenInPlace(t *testing.T) {
	double := idOf(t, "pymodtest", "double")
	_, st, msg := callForTest(double, []testArg{{Ints: []int64{1, 2}, Format: strp("q"), Ndim: 1}}, nil)
	assert.Zero(t, st, msg)
}

func TestFormatCacheStopsGrowing(t *testing.T) {
	sum := idOf(t, "pymodtest", "sum")
	for i := range 2 * maxFormats {
		f := fmt.Sprintf("T{d:f%d:}", i) // a record of one float64: refused, but parsed
		_, st, _ := callForTest(sum, []testArg{{Floats: []float64{1}, Format: &f, Ndim: 1}}, []bool{false})
		assert.EqualValues(t, status.KindType, st)
	}
	n := 0
	formats.Range(func(any, any) bool { n++; return true })
	assert.LessOrEqual(t, n, int(maxFormats))
}

func TestSliceResultsAreExportedAndPinned(t *testing.T) {
	before := gomem.LivePins()
	r, st, msg := callForTest(idOf(t, "pymodtest", "seq"), []testArg{{I: 5}}, []bool{true})
	require.Zero(t, st, msg)
	a := r[0].Array
	require.NotNil(t, a)
	assert.Equal(t, []int64{5}, a.Shape)
	assert.Equal(t, []int64{8}, a.Strides)
	assert.Equal(t, "d", a.Format)
	assert.Equal(t, int64(40), a.Nbytes)
	assert.True(t, a.CContig)
	assert.Equal(t, [2]int32{2, 64}, [2]int32{a.DLCode, a.DLBits})
	assert.Equal(t, []float64{0, 1, 2, 3, 4}, a.Floats(5))
	assert.Equal(t, before+1, gomem.LivePins())
	a.Release()
	assert.Equal(t, before, gomem.LivePins())
}

func TestRecordsAndStridedResults(t *testing.T) {
	r, st, msg := callForTest(idOf(t, "pymodtest", "records"), []testArg{{I: 3}}, []bool{true})
	require.Zero(t, st, msg)
	assert.Equal(t, "T{=i:id:4xd:x:}", r[0].Array.Format)
	assert.Equal(t, int64(16), r[0].Array.Itemsize)
	r[0].Array.Release()

	r, st, msg = callForTest(idOf(t, "pymodtest", "matrix"), []testArg{{I: 3}, {I: 4}}, []bool{true})
	require.Zero(t, st, msg)
	m := r[0].Array
	assert.Equal(t, []int64{2, 3}, m.Shape)
	assert.Equal(t, []int64{32, 8}, m.Strides)
	assert.False(t, m.CContig)
	assert.Equal(t, 5.0, m.At(0, 0))
	assert.Equal(t, 11.0, m.At(1, 2))
	m.Release()

	before := gomem.ReadStats()
	_, st, msg = callForTest(idOf(t, "pymodtest", "outside"), nil, []bool{true})
	assert.EqualValues(t, status.KindValue, st)
	assert.Contains(t, msg, "pymodtest.outside: result 1: gomem: shape [3] with strides [2]")
	assert.Equal(t, before, gomem.ReadStats(), "a refused result pins nothing")
}

func TestErrorsPickTheirClass(t *testing.T) {
	fails := idOf(t, "pymodtest", "fails")
	for which, want := range map[string]struct {
		kind status.Kind
		msg  string
	}{
		"key": {status.KindKey, "pymodtest.fails: no such key"}, "index": {status.KindIndex, "pymodtest.fails: index 7"},
		"value": {status.KindValue, "pymodtest.fails: wrapped: bad value"},
		"type":  {status.KindType, "pymodtest.fails: bad type"}, "plain": {status.KindRuntime, "pymodtest.fails: plain error"},
		"prefixed": {status.KindRuntime, "pymodtest.fails: already prefixed"},
		"named":    {status.KindNamed, "numpy.linalg.LinAlgError\n1\npymodtest.fails: singular"},
		"badname":  {status.KindKey, "pymodtest.fails: fallback"},
	} {
		_, st, msg := callForTest(fails, []testArg{{Str: strp(which)}}, []bool{false})
		assert.EqualValues(t, want.kind, st, which)
		assert.Equal(t, want.msg, msg, which)
	}
	r, st, _ := callForTest(fails, []testArg{{Str: strp("none")}}, []bool{false})
	require.Zero(t, st)
	assert.Equal(t, int64(1), r[0].I)
}

func TestClassNamesAQualifiedPythonName(t *testing.T) {
	c := Class("numpy.linalg.LinAlgError", nil)
	assert.Equal(t, "numpy.linalg.LinAlgError", c.String())
	assert.Same(t, RuntimeError, c.fallback, "nil falls back to RuntimeError")
	assert.Same(t, IndexError, Class("LinAlgError", IndexError), "a bare name has no module to import")
	assert.Same(t, IndexError, Class("numpy.linalg.", IndexError))
	assert.Same(t, RuntimeError, Class("a.b", c).fallback, "a named class is no fallback")
	err := fmt.Errorf("outer: %w", c.Wrap(errors.ErrUnsupported))
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	assert.Equal(t, status.KindNamed, statusOf(err))
}

func TestPanicIsARuntimeError(t *testing.T) {
	_, st, msg := callForTest(idOf(t, "pymodtest", "boom"), nil, nil)
	assert.EqualValues(t, status.KindRuntime, st)
	assert.Equal(t, "pymodtest.boom: Go panic: kaboom", msg)
}

func TestUnknownIDIsRefused(t *testing.T) {
	_, st, msg := callForTest(1<<40, nil, nil)
	assert.EqualValues(t, status.KindValue, st)
	assert.Contains(t, msg, "no Go function has id")
}

func TestStubIsTyped(t *testing.T) {
	stub, err := Stub("pymodtest")
	require.NoError(t, err)
	for _, want := range []string{
		`"""A test module."""`,
		"def add(a: int, b: int) -> int:\n    \"\"\"Adds.\"\"\"",
		"def addf(a: int, b: int, c: float, d: float) -> float:",
		"def cplx(z: complex, ok: bool) -> tuple[complex, bool]:",
		"def upper(s: str) -> tuple[str, bytes, int]:",
		"def sum(x: npt.NDArray[np.float64]) -> float:",
		"def double(x: npt.NDArray[np.int64]) -> None:",
		"def records(n: int) -> npt.NDArray[np.void]:",
		"def matrix(rows: int, cols: int) -> npt.NDArray[np.float64]:",
		"def fails(which: str) -> int:",
		"def trace(m: npt.NDArray[np.float64]) -> float:",
	} {
		assert.Contains(t, stub, want)
	}
}

func TestManifestNamesTheCoreABI(t *testing.T) {
	m, err := Manifest("pymodtest")
	require.NoError(t, err)
	assert.JSONEq(t, fmt.Sprintf(`{"abi": %d, "core_version": %q, "modules": ["pymodtest"]}`,
		CoreABI, version.Version), string(m))
	_, err = Manifest("pymodbad")
	assert.Error(t, err)
}

func TestArrayParametersBorrowAnyLayout(t *testing.T) {
	tr := idOf(t, "pymodtest", "trace")
	nine := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8}
	r, st, msg := callForTest(tr, []testArg{{Floats: nine, Format: strp("d"), Ndim: 2, Shape: []int64{3, 3}}}, []bool{false})
	require.Zero(t, st, msg)
	assert.Equal(t, 12.0, r[0].F)
	// Rows upside down: element (0, 0) is the last row's first element.
	r, st, msg = callForTest(tr, []testArg{{Floats: nine, Format: strp("d"), Ndim: 2, Shape: []int64{3, 3},
		Strides: []int64{-24, 8}, Offset: 48}}, []bool{false})
	require.Zero(t, st, msg)
	assert.Equal(t, 6.0+4+2, r[0].F)
	// Every other column of a 3 x 3: a 3 x 2 view.
	r, st, msg = callForTest(tr, []testArg{{Floats: nine, Format: strp("d"), Ndim: 2, Shape: []int64{3, 2},
		Strides: []int64{24, 16}}}, []bool{false})
	require.Zero(t, st, msg)
	assert.Equal(t, 0.0+5, r[0].F)

	_, st, msg = callForTest(tr, []testArg{{Floats: nine, Format: strp("d"), Ndim: 1, Shape: []int64{4},
		Strides: []int64{12}}}, []bool{false})
	assert.EqualValues(t, status.KindValue, st)
	assert.Equal(t, "pymodtest.trace() argument 'm' has strides [12], not whole 8-byte elements", msg)
	_, st, msg = callForTest(tr, []testArg{{Ints: []int64{1}, Format: strp("q"), Ndim: 1}}, []bool{false})
	assert.EqualValues(t, status.KindType, st)
	assert.Contains(t, msg, "argument 'm' must hold float64 elements")
}

func TestArrayParameterDataSpansTheView(t *testing.T) {
	desc := idOf(t, "pymodtest", "describe")
	r, st, msg := callForTest(desc, []testArg{{Ints: make([]int64, 10), Format: strp("q"), Ndim: 1,
		Shape: []int64{3}, Strides: []int64{-16}, Offset: 64, Readonly: true}}, []bool{false, false, false, false})
	require.Zero(t, st, msg)
	assert.Equal(t, []int64{5, 4, 1, 1}, []int64{r[0].I, r[1].I, r[2].I, r[3].I},
		"elements 8, 6, 4: Data holds 4..8, element (0) is Data[4]")
	r, st, msg = callForTest(desc, []testArg{{Ints: make([]int64, 1), Format: strp("q"), Ndim: 2,
		Shape: []int64{0, 3}}}, []bool{false, false, false, false})
	require.Zero(t, st, msg)
	assert.Equal(t, []int64{0, 0, 2, 0}, []int64{r[0].I, r[1].I, r[2].I, r[3].I})
}

func TestResultsBorrowedFromArgumentsAreRefused(t *testing.T) {
	before := gomem.ReadStats()
	_, st, msg := callForTest(idOf(t, "pymodtest", "same"), []testArg{{Floats: []float64{1, 2, 3}, Format: strp("d"), Ndim: 1}},
		[]bool{true})
	assert.EqualValues(t, status.KindValue, st)
	assert.Equal(t, "pymodtest.same: result 1 is memory borrowed from argument 'x', which is Python's and only lent "+
		"for the call: return a copy (slices.Clone)", msg)
	_, st, msg = callForTest(idOf(t, "pymodtest", "sameND"), []testArg{{Floats: []float64{1, 2, 3, 4}, Format: strp("d"),
		Ndim: 2, Shape: []int64{2, 2}}}, []bool{true})
	assert.EqualValues(t, status.KindValue, st, msg)
	assert.Equal(t, before, gomem.ReadStats(), "nothing was exported")

	r, st, msg := callForTest(idOf(t, "pymodtest", "fresh"), []testArg{{Floats: []float64{1, 2}, Format: strp("d"), Ndim: 1}},
		[]bool{true})
	require.Zero(t, st, msg)
	assert.Equal(t, []float64{1, 2}, r[0].Array.Floats(2))
	r[0].Array.Release()
}

func TestFreshArrayResultIsNotPinned(t *testing.T) {
	before := gomem.FreshBlocks()
	pins := gomem.LivePins()
	r, st, msg := callForTest(idOf(t, "pymodtest", "fresh2d"), []testArg{{I: 300}, {I: 400}}, []bool{true})
	require.Zero(t, st, msg)
	assert.Equal(t, before+1, gomem.FreshBlocks())
	assert.Equal(t, pins, gomem.LivePins())
	r[0].Array.Release()
	assert.Equal(t, before, gomem.FreshBlocks())
	e, err := EmptyArray[int32](2, 3)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 3}, e.Shape)
	assert.Len(t, e.Data, 6)
	assert.True(t, FreeFresh(e.Data))
	_, err = FreshArray[float64](2, -1)
	assert.ErrorContains(t, err, "negative")
	_, err = FreshArray[float64](1<<40, 1<<40)
	assert.ErrorContains(t, err, "too large")
}
