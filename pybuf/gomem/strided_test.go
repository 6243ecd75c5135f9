package gomem

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExportStridedIsASubmatrix(t *testing.T) {
	g := make([]float64, 4*5)
	before := ReadStats()
	d, err := ExportStrided(g, 1*5+2, []int{2, 3}, []int{5, 1})
	require.NoError(t, err)
	a := adoptForTest(d.Pointer())
	assert.Equal(t, uint64(uintptr(unsafe.Pointer(&g[7]))), a.Address)
	assert.Equal(t, []int64{2, 3}, a.Shape)
	assert.Equal(t, []int64{40, 8}, a.Strides)
	assert.Equal(t, before.LivePins+1, LivePins())
	a.Release()
	assert.Equal(t, before.LivePins, LivePins())
}

func TestExportStridedNegativeAndTrailingDims(t *testing.T) {
	rows := make([][2]float32, 6)
	d, err := ExportStrided(rows, 5, []int{3}, []int{-2}) // rows 5, 3, 1
	require.NoError(t, err)
	a := adoptForTest(d.Pointer())
	defer a.Release()
	assert.Equal(t, uint64(uintptr(unsafe.Pointer(&rows[5]))), a.Address)
	assert.Equal(t, []int64{3, 2}, a.Shape)
	assert.Equal(t, []int64{-16, 4}, a.Strides)
	assert.Equal(t, "f", a.Format)
}

func TestExportStridedStaysInsideTheSlice(t *testing.T) {
	s := make([]int32, 10)
	before := ReadStats()
	for _, c := range []struct {
		offset         int
		shape, strides []int
	}{
		{2, []int{5}, []int{2}},       // index 10
		{0, []int{2}, []int{-1}},      // index -1
		{10, []int{1}, []int{1}},      // the offset itself is outside
		{-1, []int{1}, []int{1}},      // negative offset
		{0, []int{2, 2}, []int{1}},    // strides do not match
		{0, []int{-1}, []int{1}},      // negative dimension
		{0, []int{2}, []int{1 << 62}}, // a huge stride cannot wrap around
		{0, []int{1 << 62}, []int{1 << 2}},
	} {
		_, err := ExportStrided(s, c.offset, c.shape, c.strides)
		assert.Error(t, err, "%+v", c)
	}
	assert.Equal(t, before, ReadStats(), "a refused export keeps nothing")
	d, err := ExportStrided(s, 0, []int{3}, []int{4})
	require.NoError(t, err)
	d.Discard()
	d, err = ExportStrided(s, 10, []int{0, 3}, []int{1, 1}) // empty: any offset up to len
	require.NoError(t, err)
	d.Discard()
}

func TestExportValueAndElementFormat(t *testing.T) {
	d, err := ExportValue(reflect.ValueOf([]uint16{1, 2, 3, 4}), 0, []int{2, 2}, nil)
	require.NoError(t, err)
	a := adoptForTest(d.Pointer())
	assert.Equal(t, []int64{2, 2}, a.Shape)
	assert.Nil(t, a.Strides)
	a.Release()
	_, err = ExportValue(reflect.ValueOf(3), 0, nil, nil)
	assert.ErrorContains(t, err, "not a slice")
	f, err := ElementFormat(reflect.TypeFor[int16]())
	require.NoError(t, err)
	assert.Equal(t, "h", f)
}

func TestRecordFieldsTakeTheirTagName(t *testing.T) {
	type tagged struct {
		ID  int32   `pybuf:"id"`
		X   float64 `pybuf:"x"`
		Bad float32 `pybuf:"a:b"` // not a usable name: the Go name stays
	}
	f, err := ElementFormat(reflect.TypeFor[tagged]())
	require.NoError(t, err)
	assert.Equal(t, "T{=i:id:4xd:x:f:Bad:4x}", f)
}
