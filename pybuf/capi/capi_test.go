package capi

import (
	"encoding/json"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pybuf-go/pybuf/pybuf/layout"
	"github.com/pybuf-go/pybuf/pybuf/registry"
	"github.com/pybuf-go/pybuf/pybuf/status"
	"github.com/pybuf-go/pybuf/pybuf/version"
)

func ptr(s string) *string { return &s }

// freshRegistry gives a test its own Default registry.
func freshRegistry(t *testing.T) {
	prev := registry.Default
	registry.Default = registry.New()
	t.Cleanup(func() { registry.Default = prev })
}

func TestHeaderNumbersMatchGoPackages(t *testing.T) {
	assert.Equal(t, []int32{0, int32(layout.KindValue), int32(layout.KindOverflow),
		int32(layout.KindType), int32(layout.KindBuffer), int32(layout.KindNotPEP3118), int32(status.KindNotFound),
		int32(status.KindKey), int32(status.KindIndex), int32(status.KindRuntime), int32(status.KindNamed), int32(status.KindCallback)}, headerStatuses())
	buffer, export := headerTraceKinds()
	assert.Equal(t, int32(registry.KindBuffer), buffer)
	assert.Equal(t, int32(registry.KindExport), export)
	closed, released := headerStateBits()
	assert.EqualValues(t, registry.StateClosed, closed)
	assert.EqualValues(t, registry.StateReleased, released)
	assert.Equal(t, layout.MaxDim, headerMaxDim())
	assert.Equal(t, []int32{layout.DLNone, layout.DLInt, layout.DLUint, layout.DLFloat,
		layout.DLComplex, layout.DLBool}, headerDLCodes())
}

func TestAbiAndVersion(t *testing.T) {
	assert.Equal(t, headerABI(), int32(callAbi()))
	assert.Positive(t, callAbi())
	assert.Equal(t, version.Version, callVersion())
	assert.Regexp(t, `^\d+\.\d+\.\d+$`, callVersion())
}

// The whole struct as the core leaves it: every output field, and the inputs
// untouched.
func TestLayoutPlainWithFormat(t *testing.T) {
	in := layoutCase{Format: ptr("<d"), Ndim: 2, Shape: []int64{3, 4}, Address: 0x1000}
	out, status, msg, _ := callLayout(in)
	require.Zero(t, status, msg)
	assert.Empty(t, msg)
	want := in
	want.Strides, want.Itemsize, want.DLCode, want.DLBits = []int64{32, 8}, 8, 2, 64
	want.Nbytes, want.Lo, want.Hi = 96, 0, 96
	want.CContiguous, want.ElementStrides = true, true
	assert.Equal(t, want, out)
}

func TestLayoutGivenStridesAndNullFormat(t *testing.T) {
	in := layoutCase{
		Ndim: 2, Shape: []int64{3, 4}, HasStrides: true, Strides: []int64{4, 12},
		Address: 0x2000, Itemsize: 4, DLCode: 0, DLBits: 32,
	}
	out, status, msg, _ := callLayout(in)
	require.Zero(t, status, msg)
	want := in // a NULL format keeps the itemsize and the DLPack type
	want.Nbytes, want.Lo, want.Hi = 48, 0, 48
	want.FContiguous, want.ElementStrides = true, true
	assert.Equal(t, want, out)

	in.Strides = []int64{6, 18} // 1.5 items apart: no DLPack export
	out, status, msg, _ = callLayout(in)
	require.Zero(t, status, msg)
	assert.False(t, out.ElementStrides)
}

func TestLayoutRegion(t *testing.T) {
	out, status, msg, _ := callLayout(layoutCase{
		IsRegion: true, ParentLo: 0x1000, ParentHi: 0x1000 + 96, Off: 16,
		Format: ptr("i"), Ndim: 1, Shape: []int64{4},
	})
	require.Zero(t, status, msg)
	assert.EqualValues(t, 0x1010, out.Address)
	assert.Equal(t, []int64{4}, out.Strides)
	assert.EqualValues(t, 16, out.Nbytes)

	_, status, msg, _ = callLayout(layoutCase{
		IsRegion: true, ParentLo: 0x1000, ParentHi: 0x1000 + 96, Off: 90,
		Format: ptr("i"), Ndim: 1, Shape: []int64{4},
	})
	assert.EqualValues(t, layout.KindValue, status)
	assert.NotEmpty(t, msg)
}

func TestLayoutErrorsLeaveTheStructAlone(t *testing.T) {
	in := layoutCase{Format: ptr("<d"), Ndim: 2, Shape: []int64{3, -4}, Address: 0x1000,
		Itemsize: 77, Nbytes: 5}
	out, status, msg, _ := callLayout(in)
	assert.EqualValues(t, layout.KindValue, status)
	assert.Contains(t, msg, "shape")
	assert.EqualValues(t, 77, out.Itemsize)
	assert.EqualValues(t, 5, out.Nbytes)
}

func TestLayoutStatusIsTheErrorKind(t *testing.T) {
	_, status, msg, _ := callLayout(layoutCase{Format: ptr("not a format!"), Ndim: 1, Shape: []int64{1}, Address: 8})
	assert.Contains(t, []int32{int32(layout.KindValue), int32(layout.KindNotPEP3118)}, status, msg)
	assert.NotEmpty(t, msg)

	_, status, msg, _ = callLayout(layoutCase{Format: ptr("B"), Ndim: 2,
		Shape: []int64{1 << 62, 1 << 62}, Address: 8})
	assert.EqualValues(t, layout.KindOverflow, status, msg)
}

func TestLayoutBadNdim(t *testing.T) {
	for _, ndim := range []int32{-1, int32(headerMaxDim()) + 1} {
		_, status, msg, _ := callLayout(layoutCase{Format: ptr("B"), Ndim: ndim})
		assert.EqualValues(t, layout.KindValue, status)
		assert.Contains(t, msg, "shape")
	}
}

func TestLayoutNullArguments(t *testing.T) {
	status, msg := callLayoutNil(false)
	assert.EqualValues(t, layout.KindValue, status)
	assert.Contains(t, msg, "layout")
	status, _ = callLayoutNil(true)
	assert.EqualValues(t, layout.KindValue, status)
}

func TestWriteErrTruncatesOnRuneBoundary(t *testing.T) {
	limit := headerErrLen() - 1
	assert.Equal(t, []byte("short"), writeErrRaw("short"))
	assert.Len(t, writeErrRaw(strings.Repeat("x", 1000)), limit)

	// "é" is two bytes and the limit is odd: a plain cut would halve the last.
	require.Equal(t, 1, limit%2)
	msg := strings.Repeat("é", 400)
	got := writeErrRaw(msg)
	assert.True(t, utf8.Valid(got))
	assert.Len(t, got, limit-1)
	assert.True(t, strings.HasPrefix(msg, string(got)))
}

func TestRegisterAndLiveJSON(t *testing.T) {
	freshRegistry(t)
	assert.Equal(t, "[]", callLiveJSON())

	c := newTestCounts(2, 1, 64, 0)
	defer c.free()
	a := callRegister(ptr("alloc"), 4096, ptr("a.py:1 in MainThread"), &c)
	b := callRegister(nil, -1, nil, &c)
	callRegister(ptr("no counts"), -1, nil, nil)
	require.NotZero(t, a)
	require.NotEqual(t, a, b)

	callSetTrace(1)
	tok := callTrace(a, 2, ptr("a.py:9 in MainThread"))
	require.NotZero(t, tok)
	callTrace(a, 1, nil)

	var got []map[string]any
	require.NoError(t, json.Unmarshal([]byte(callLiveJSON()), &got))
	require.Len(t, got, 3)
	assert.Equal(t, map[string]any{
		"id": float64(a), "interp": 0.0, "parent": nil, "name": "alloc", "closed": false, "buffers": 2.0,
		"exports": 1.0, "nbytes": 4096.0, "created_at": "a.py:1 in MainThread",
		"holders": []any{
			map[string]any{"kind": "export", "site": "a.py:9 in MainThread"},
			map[string]any{"kind": "buffer", "site": nil},
		},
	}, got[0])
	assert.Equal(t, map[string]any{
		"id": float64(b), "interp": 0.0, "parent": nil, "name": "", "closed": false, "buffers": 2.0,
		"exports": 1.0, "nbytes": 64.0, "created_at": nil, "holders": []any{},
	}, got[1])
	assert.Equal(t, 0.0, got[2]["nbytes"])

	// The counters are read live, and a released owner is gone at once.
	c.set(0, 0, 0, 1|2)
	require.NoError(t, json.Unmarshal([]byte(callLiveJSON()), &got))
	assert.Len(t, got, 1)

	callUntrace(tok)
	callUnregister(a)
	callUnregister(b)
	callUnregister(a)
}

func TestLiveJSONNamesTheParentOfAChild(t *testing.T) {
	freshRegistry(t)
	doc := callRegisterIn(0, ptr("doc"), 8, nil, nil)
	node := callRegisterChild(doc, ptr("node"))
	var got []map[string]any
	require.NoError(t, json.Unmarshal([]byte(callLiveJSON()), &got))
	require.Len(t, got, 2)
	assert.Nil(t, got[0]["parent"])
	assert.Equal(t, float64(doc), got[1]["parent"])
	callUnregister(node)
	callUnregister(doc)
}

func TestLiveJSONOfOneInterpreter(t *testing.T) {
	freshRegistry(t)
	main := callRegisterIn(0, ptr("main"), 8, nil, nil)
	sub := callRegisterIn(3, ptr("sub"), 16, nil, nil)
	names := func(js string) []string {
		var got []map[string]any
		require.NoError(t, json.Unmarshal([]byte(js), &got))
		out := []string{}
		for _, o := range got {
			out = append(out, o["name"].(string))
		}
		return out
	}
	assert.Equal(t, []string{"main", "sub"}, names(callLiveJSON()))
	assert.Equal(t, []string{"main"}, names(callLiveJSONIn(0)))
	assert.Equal(t, []string{"sub"}, names(callLiveJSONIn(3)))
	assert.Equal(t, []string{}, names(callLiveJSONIn(7)))
	callUnregister(main)
	callUnregister(sub)
}

func TestTraceAndHolders(t *testing.T) {
	freshRegistry(t)
	id := callRegister(ptr("o"), -1, nil, nil)
	assert.Zero(t, callTrace(id, 1, ptr("x")), "tracing is off")
	assert.Equal(t, "", callHolders(id))

	callSetTrace(1)
	assert.Zero(t, callTrace(id+100, 1, ptr("x")), "unknown owner")
	assert.Zero(t, callTrace(id, 3, ptr("x")), "unknown kind")
	t1 := callTrace(id, 2, ptr("foo.py:12 in MainThread"))
	callTrace(id, 2, ptr("foo.py:12 in MainThread"))
	assert.Equal(t, "2 exports created at foo.py:12 in MainThread", callHolders(id))
	callUntrace(t1)
	assert.Equal(t, "1 export created at foo.py:12 in MainThread", callHolders(id))
	assert.Equal(t, "", callHolders(id+100))

	callSetTrace(0)
	assert.False(t, registry.Tracing())
}

func TestReportLeaksWritesToTheFd(t *testing.T) {
	freshRegistry(t)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()

	assert.Zero(t, callReportLeaks(int(w.Fd())))
	c := newTestCounts(1, 0, 8, 1)
	defer c.free()
	callRegister(ptr("leaky"), -1, nil, &c)
	assert.EqualValues(t, 1, callReportLeaks(int(w.Fd())))
	// The fd still belongs to the caller: closing it here must work.
	require.NoError(t, w.Close())

	out, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "pybuf: 1 owner(s) never released:\n  leaky (closed, 1 buffer, 0 exports, 8 bytes)\n", string(out))

	assert.EqualValues(t, 1, callReportLeaks(-1), "a bad fd loses the report, not the count")
}

func TestConcurrentExports(t *testing.T) {
	freshRegistry(t)
	callSetTrace(1)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newTestCounts(1, 0, 8, 0)
			defer c.free()
			for i := 0; i < 100; i++ {
				id := callRegister(ptr("w"), -1, ptr("s"), &c)
				tok := callTrace(id, 1, ptr("t"))
				_ = callHolders(id)
				_ = callLiveJSON()
				_, _, _, _ = callLayout(layoutCase{Format: ptr("<d"), Ndim: 1, Shape: []int64{3}, Address: 64})
				callUntrace(tok)
				callUnregister(id)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, "[]", callLiveJSON())
}
