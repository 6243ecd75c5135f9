package gomem

import (
	"reflect"
	"runtime"
	"sync"
	"testing"
	"unsafe"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pybuf-go/pybuf/pybuf/layout"
)

// exportOf exports s and adopts the descriptor at once, as Python would.
func exportOf[T Element](t *testing.T, s []T, shape ...int) adopted {
	t.Helper()
	d, err := ExportSlice(s, shape...)
	require.NoError(t, err)
	return adoptForTest(d.Pointer())
}

func formatOf[T Element](t *testing.T) (string, uintptr) {
	var zero T
	a := exportOf(t, []T{zero})
	a.Release()
	return a.Format, unsafe.Sizeof(zero)
}

func TestFormatsFollowTheElementType(t *testing.T) {
	type myFloat float64 // named types export as their underlying type
	cases := []struct {
		want string
		get  func(*testing.T) (string, uintptr)
	}{
		{"d", formatOf[float64]}, {"f", formatOf[float32]},
		{"b", formatOf[int8]}, {"h", formatOf[int16]}, {"i", formatOf[int32]}, {"q", formatOf[int64]},
		{"B", formatOf[uint8]}, {"H", formatOf[uint16]}, {"I", formatOf[uint32]}, {"Q", formatOf[uint64]},
		{"?", formatOf[bool]}, {"Zf", formatOf[complex64]}, {"Zd", formatOf[complex128]},
		{"d", formatOf[myFloat]},
	}
	for _, c := range cases {
		got, size := c.get(t)
		assert.Equal(t, c.want, got)
		f, err := layout.ParseFormat(got)
		require.NoError(t, err, got)
		assert.Equal(t, int64(size), f.Itemsize, got)
	}
	// Platform-sized integers take the fixed-size code of their size.
	got, size := formatOf[int](t)
	assert.Equal(t, map[uintptr]string{4: "i", 8: "q"}[size], got)
	got, size = formatOf[uint](t)
	assert.Equal(t, map[uintptr]string{4: "I", 8: "Q"}[size], got)
}

func TestExportSliceDescribesTheSlice(t *testing.T) {
	s := make([]float64, 6)
	before := ReadStats()
	d, err := ExportSlice(s, 2, 3)
	require.NoError(t, err)
	a := adoptForTest(d.SetName("grid").SetReadonly(true).Pointer())
	assert.Nil(t, d.Pointer(), "a descriptor is handed over once")
	assert.Equal(t, uint64(uintptr(unsafe.Pointer(&s[0]))), a.Address)
	assert.Equal(t, []int64{2, 3}, a.Shape)
	assert.Equal(t, "d", a.Format)
	assert.Equal(t, "grid", a.Name)
	assert.True(t, a.Readonly)
	assert.True(t, a.HasRelease)
	assert.Equal(t, before.LivePins+1, LivePins())

	a.Release()
	after := ReadStats()
	assert.Equal(t, before.LivePins, after.LivePins)
	assert.Equal(t, before.Live, after.Live)
	assert.Equal(t, before.Releases+1, after.Releases)
}

func TestDoubleReleaseIsCountedNotRun(t *testing.T) {
	a := exportOf(t, []int32{1, 2, 3})
	before := ReadStats()
	a.Release()
	a.Release()
	after := ReadStats()
	assert.Equal(t, before.LivePins-1, after.LivePins)
	assert.Equal(t, before.Releases+1, after.Releases)
	assert.Equal(t, before.UnknownReleases+1, after.UnknownReleases)
}

// The slice stays reachable while exported, even with no Go reference left,
// and becomes collectable once released.
func TestSliceIsCollectableOnlyAfterRelease(t *testing.T) {
	s := make([]float64, 1<<16)
	w := weak.Make(&s[0])
	d, err := ExportSlice(s)
	require.NoError(t, err)
	s = nil
	a := adoptForTest(d.Pointer())
	for range 3 {
		runtime.GC()
	}
	require.NotNil(t, w.Value(), "collected while exported")

	a.Release()
	for i := 0; i < 10 && w.Value() != nil; i++ {
		runtime.GC()
	}
	assert.Nil(t, w.Value(), "still reachable after the release")
}

func TestEmptySlicesPinNothing(t *testing.T) {
	before := LivePins()
	a := exportOf(t, []float64{})
	assert.Equal(t, []int64{0}, a.Shape)
	assert.Equal(t, before, LivePins())
	a.Release()
	a = exportOf(t, make([]float64, 0, 4), 0, 5)
	assert.Equal(t, []int64{0, 5}, a.Shape)
	a.Release()
	assert.Equal(t, before, LivePins())
}

func TestShapeMustHoldTheSlice(t *testing.T) {
	s := make([]uint8, 12)
	before := ReadStats()
	for _, shape := range [][]int{{5}, {3, 5}, {-1, -12}, {0, 12}, {1 << 62, 1 << 62, 4}} {
		_, err := ExportSlice(s, shape...)
		assert.Error(t, err, "%v", shape)
	}
	_, err := ExportSlice([]uint8{}, 1<<62, 1<<62)
	assert.Error(t, err)
	_, err = ExportSlice(s, make([]int, 65)...)
	assert.Error(t, err)
	assert.Equal(t, before, ReadStats(), "a failed export keeps nothing")
}

type particle struct {
	ID    int32
	Pos   [3]float64
	Alive bool
	_     [2]byte
	Mass  float32
}

func TestExportRecordsSpellsGoLayout(t *testing.T) {
	ps := make([]particle, 4)
	d, err := ExportRecords(ps)
	require.NoError(t, err)
	a := adoptForTest(d.Pointer())
	defer a.Release()
	assert.Equal(t, "T{=i:ID:4x(3)d:Pos:?:Alive:2x1xf:Mass:}", a.Format)
	f, err := layout.ParseFormat(a.Format)
	require.NoError(t, err)
	assert.Equal(t, int64(unsafe.Sizeof(particle{})), f.Itemsize)
}

func TestExportRecordsArraysBecomeDimensions(t *testing.T) {
	rows := make([][3][2]float32, 5)
	d, err := ExportRecords(rows)
	require.NoError(t, err)
	a := adoptForTest(d.Pointer())
	defer a.Release()
	assert.Equal(t, "f", a.Format)
	assert.Equal(t, []int64{5, 3, 2}, a.Shape)
}

func TestExportRecordsRefusesPointers(t *testing.T) {
	type withPtr struct {
		X float64
		P *float64
	}
	type withString struct{ S string }
	_, err := ExportRecords(make([]withPtr, 1))
	assert.ErrorContains(t, err, "not a NumPy type")
	_, err = ExportRecords(make([]withString, 1))
	assert.Error(t, err)
	_, err = ExportRecords(make([]*int, 1))
	assert.Error(t, err)
	_, err = ExportRecords(make([]struct{}, 1))
	assert.ErrorContains(t, err, "size 0")
}

func TestFormatCacheIsPerType(t *testing.T) {
	l1, err := layoutOf(reflect.TypeFor[particle]())
	require.NoError(t, err)
	l2, _ := layoutOf(reflect.TypeFor[particle]())
	assert.Equal(t, l1, l2)
}

func TestExportCReleasesOnce(t *testing.T) {
	mem := make([]byte, 64) // stands in for C memory: only the address matters here
	runs := 0
	d, err := ExportC(unsafe.Pointer(&mem[0]), "<i", []int{4, 4}, func() { runs++ })
	require.NoError(t, err)
	before := ReadStats()
	a := adoptForTest(d.Pointer())
	assert.Equal(t, "<i", a.Format)
	assert.Equal(t, []int64{4, 4}, a.Shape)
	assert.Equal(t, before.LivePins, LivePins(), "C memory is not pinned")
	a.Release()
	a.Release()
	assert.Equal(t, 1, runs)
	assert.Equal(t, before.Live-1, ReadStats().Live)
}

func TestExportCWithoutReleaseIsBorrowed(t *testing.T) {
	var x [8]int64
	before := ReadStats()
	d, err := ExportC(unsafe.Pointer(&x[0]), "q", []int{8}, nil)
	require.NoError(t, err)
	a := adoptForTest(d.Pointer())
	assert.False(t, a.HasRelease)
	assert.Equal(t, before, ReadStats())
}

func TestExportCErrorsTakeNothing(t *testing.T) {
	var x [8]int64
	runs := 0
	rel := func() { runs++ }
	for _, c := range []struct {
		ptr    unsafe.Pointer
		format string
		shape  []int
	}{
		{nil, "d", []int{3}},
		{unsafe.Pointer(&x[0]), "not a format", []int{1}},
		{unsafe.Pointer(&x[0]), "d", []int{-1}},
		{unsafe.Pointer(&x[0]), "d", []int{1 << 62, 1 << 62}},
	} {
		_, err := ExportC(c.ptr, c.format, c.shape, rel)
		assert.Error(t, err, "%+v", c)
	}
	assert.Equal(t, 0, runs)
}

func TestDiscardRunsTheRelease(t *testing.T) {
	before := ReadStats()
	d, err := ExportSlice(make([]float64, 10))
	require.NoError(t, err)
	d.Discard()
	d.Discard()
	assert.Equal(t, before.LivePins, LivePins())
	assert.Equal(t, before.Releases+1, ReadStats().Releases)
}

func TestReleasePanicIsContained(t *testing.T) {
	var x int64
	d, err := ExportC(unsafe.Pointer(&x), "q", []int{1}, func() { panic("boom") })
	require.NoError(t, err)
	a := adoptForTest(d.Pointer())
	assert.NotPanics(t, a.Release)
}

func TestConcurrentExportsAndReleases(t *testing.T) {
	before := ReadStats()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				d, err := ExportSlice(make([]complex128, 7))
				if err != nil {
					t.Error(err)
					return
				}
				adoptForTest(d.Pointer()).Release()
			}
		})
	}
	wg.Wait()
	after := ReadStats()
	assert.Equal(t, before.LivePins, after.LivePins)
	assert.Equal(t, before.Releases+8*500, after.Releases)
	assert.Equal(t, before.UnknownReleases, after.UnknownReleases)
}

func TestADescriptorIsTakenOnce(t *testing.T) {
	d, err := ExportSlice(make([]float64, 4))
	require.NoError(t, err)
	addr := d.Address()
	require.NoError(t, takeForTest(uint64(addr)))
	err = takeForTest(uint64(addr))
	assert.ErrorContains(t, err, "is not a descriptor waiting for adoption: it was adopted already")
	assert.Error(t, takeForTest(uint64(addr)&0xffffffff+1), "a truncated or made-up address")
	assert.Error(t, takeForTest(0))
	releaseID(d.id)
}

func TestMovedFreesWithoutReleasing(t *testing.T) {
	before := ReadStats()
	d, err := ExportSlice(make([]float64, 4))
	require.NoError(t, err)
	require.NotNil(t, d.Peek())
	d.Moved()
	assert.Nil(t, d.Peek())
	assert.Equal(t, before.LivePins+1, LivePins(), "the release is someone else's now")
	releaseID(d.id)
	assert.Equal(t, before.LivePins, LivePins())
}
