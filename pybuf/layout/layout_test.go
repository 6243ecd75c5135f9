package layout

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func requireKind(t *testing.T, err error, kind Kind, arg string) {
	t.Helper()
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, kind, e.Kind, e.Msg)
	assert.Equal(t, arg, e.Arg, e.Msg)
	assert.Contains(t, e.Msg, arg)
}

func TestCheckContiguousDefault(t *testing.T) {
	r, err := Check(0x1000, Spec{Itemsize: 8, Shape: []int64{2, 3, 4}})
	require.NoError(t, err)
	assert.Equal(t, []int64{96, 32, 8}, r.Strides)
	assert.Equal(t, int64(192), r.Nbytes)
	assert.Equal(t, int64(0), r.Lo)
	assert.Equal(t, int64(192), r.Hi)
	assert.True(t, r.CContiguous)
	assert.False(t, r.FContiguous)
}

func TestCheckScalar(t *testing.T) {
	r, err := Check(0x1000, Spec{Itemsize: 4})
	require.NoError(t, err)
	assert.Equal(t, []int64{}, r.Strides)
	assert.Equal(t, int64(4), r.Nbytes)
	assert.Equal(t, int64(4), r.Hi)
	assert.True(t, r.CContiguous && r.FContiguous)
}

func TestCheckEmptyShapes(t *testing.T) {
	// Zero dimensions count as 1 for computed strides, as in NumPy.
	r, err := Check(0, Spec{Itemsize: 4, Shape: []int64{3, 0, 5}})
	require.NoError(t, err)
	assert.Equal(t, []int64{20, 20, 4}, r.Strides)
	assert.Equal(t, int64(0), r.Nbytes)
	assert.Equal(t, int64(0), r.Lo)
	assert.Equal(t, int64(0), r.Hi)
	assert.True(t, r.CContiguous && r.FContiguous)

	// Strides of an empty array are never dereferenced, whatever they are.
	r, err = Check(0, Spec{Itemsize: 4, Shape: []int64{0, 7}, Strides: []int64{math.MinInt64, math.MaxInt64}})
	require.NoError(t, err)
	assert.Equal(t, int64(0), r.Hi)

	// ... but an empty array whose non-empty twin overflows is refused, like NumPy.
	_, err = Check(0, Spec{Itemsize: 8, Shape: []int64{0, 1 << 62, 4}})
	requireKind(t, err, KindOverflow, "shape")
}

func TestCheckNegativeStrides(t *testing.T) {
	// a[::-1, ::2] of a 4x6 float64 array, address at element (0, 0).
	r, err := Check(0x10000, Spec{Itemsize: 8, Shape: []int64{4, 3}, Strides: []int64{-48, 16}})
	require.NoError(t, err)
	assert.Equal(t, int64(-144), r.Lo)
	assert.Equal(t, int64(32+8), r.Hi)
	assert.Equal(t, int64(96), r.Nbytes)
	assert.False(t, r.CContiguous || r.FContiguous)

	_, err = Check(100, Spec{Itemsize: 8, Shape: []int64{4, 3}, Strides: []int64{-48, 16}})
	requireKind(t, err, KindValue, "address")
	_, err = Check(144, Spec{Itemsize: 8, Shape: []int64{4, 3}, Strides: []int64{-48, 16}})
	require.NoError(t, err)
}

func TestCheckZeroStrides(t *testing.T) {
	r, err := Check(8, Spec{Itemsize: 2, Shape: []int64{1000, 3}, Strides: []int64{0, 2}})
	require.NoError(t, err)
	assert.Equal(t, int64(0), r.Lo)
	assert.Equal(t, int64(6), r.Hi)
	assert.Equal(t, int64(6000), r.Nbytes)
	assert.False(t, r.CContiguous)
}

func TestCheckContiguity(t *testing.T) {
	cases := []struct {
		shape, strides []int64
		c, f           bool
	}{
		{[]int64{2, 3}, []int64{12, 4}, true, false},
		{[]int64{2, 3}, []int64{4, 8}, false, true},
		{[]int64{1, 3}, []int64{999, 4}, true, true}, // size-1 dims may have any stride
		{[]int64{3, 1}, []int64{4, -7}, true, true},  // effectively 1-d
		{[]int64{1, 1}, []int64{0, 0}, true, true},
		{[]int64{3}, []int64{-4}, false, false},
		{[]int64{3}, []int64{8}, false, false},
		{[]int64{0, 3}, []int64{5, 5}, true, true}, // empty: contiguous by definition
		{[]int64{2, 1, 3}, []int64{12, 1, 4}, true, false},
		{[]int64{2, 1, 3}, []int64{4, 0, 8}, false, true},
	}
	for _, c := range cases {
		r, err := Check(0x100, Spec{Itemsize: 4, Shape: c.shape, Strides: c.strides})
		require.NoError(t, err, "%v %v", c.shape, c.strides)
		assert.Equal(t, c.c, r.CContiguous, "C %v %v", c.shape, c.strides)
		assert.Equal(t, c.f, r.FContiguous, "F %v %v", c.shape, c.strides)
	}
}

func TestCheckElementStrides(t *testing.T) {
	cases := []struct {
		shape, strides []int64
		whole          bool
	}{
		{[]int64{2, 3}, nil, true},
		{[]int64{2, 3}, []int64{-24, 8}, true},
		{[]int64{4}, []int64{0}, true},
		{[]int64{4}, []int64{12}, false},      // 1.5 items apart
		{[]int64{1, 3}, []int64{3, 8}, false}, // a size-1 dimension's stride still counts
		{[]int64{0, 3}, []int64{5, 8}, false}, // and so does an empty layout's
	}
	for _, c := range cases {
		r, err := Check(0x100, Spec{Itemsize: 8, Shape: c.shape, Strides: c.strides})
		require.NoError(t, err, "%v %v", c.shape, c.strides)
		assert.Equal(t, c.whole, r.ElementStrides, "%v %v", c.shape, c.strides)
	}
}

func TestCheckStridesAreCopied(t *testing.T) {
	strides := []int64{8}
	r, err := Check(8, Spec{Itemsize: 8, Shape: []int64{2}, Strides: strides})
	require.NoError(t, err)
	strides[0] = 1
	assert.Equal(t, []int64{8}, r.Strides)
}

func TestCheckErrors(t *testing.T) {
	big := make([]int64, MaxDim+1)
	for i := range big {
		big[i] = 1
	}
	cases := []struct {
		name    string
		address uint64
		spec    Spec
		kind    Kind
		arg     string
	}{
		{"itemsize 0", 8, Spec{Itemsize: 0, Shape: []int64{1}}, KindValue, "dtype"},
		{"itemsize <0", 8, Spec{Itemsize: -4}, KindValue, "dtype"},
		{"too many dims", 8, Spec{Itemsize: 1, Shape: big}, KindValue, "shape"},
		{"negative dim", 8, Spec{Itemsize: 1, Shape: []int64{2, -3}}, KindValue, "shape"},
		{"strides too short", 8, Spec{Itemsize: 1, Shape: []int64{2, 3}, Strides: []int64{1}}, KindValue, "strides"},
		{"strides for 0-d", 8, Spec{Itemsize: 1, Strides: []int64{1}}, KindValue, "strides"},
		{"nbytes overflow", 8, Spec{Itemsize: 8, Shape: []int64{1 << 31, 1 << 31}}, KindOverflow, "shape"},
		{"dim overflow", 8, Spec{Itemsize: 2, Shape: []int64{math.MaxInt64}}, KindOverflow, "shape"},
		{"stride span overflow", 8, Spec{Itemsize: 1, Shape: []int64{3}, Strides: []int64{math.MaxInt64/2 + 1}}, KindOverflow, "strides"},
		{"negative span overflow", 8, Spec{Itemsize: 1, Shape: []int64{3}, Strides: []int64{math.MinInt64/2 - 1}}, KindOverflow, "strides"},
		{"extent sum overflow", 8, Spec{Itemsize: 1, Shape: []int64{2, 2}, Strides: []int64{math.MaxInt64 / 2, math.MaxInt64/2 + 1}}, KindOverflow, "strides"},
		{"extent length overflow", 1 << 63, Spec{Itemsize: 1, Shape: []int64{2, 2}, Strides: []int64{math.MaxInt64 / 2, math.MinInt64 / 2}}, KindOverflow, "strides"},
		{"hi+itemsize overflow", 8, Spec{Itemsize: 2, Shape: []int64{2}, Strides: []int64{math.MaxInt64 - 1}}, KindOverflow, "strides"},
		{"NULL", 0, Spec{Itemsize: 1, Shape: []int64{1}}, KindValue, "address"},
		{"NULL scalar", 0, Spec{Itemsize: 4}, KindValue, "address"},
		{"below zero", 8, Spec{Itemsize: 1, Shape: []int64{3}, Strides: []int64{-8}}, KindValue, "address"},
		{"past 2^64", math.MaxUint64 - 3, Spec{Itemsize: 4, Shape: []int64{1}}, KindOverflow, "address"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Check(c.address, c.spec)
			requireKind(t, err, c.kind, c.arg)
		})
	}

	_, err := Check(8, Spec{Itemsize: 1, Shape: []int64{2, -3}})
	assert.EqualError(t, err, "shape[1] must be >= 0, got -3")
	_, err = Check(0, Spec{Itemsize: 1, Shape: []int64{1}})
	assert.EqualError(t, err, "address is NULL")
}

func TestCheckAddressSpaceEdges(t *testing.T) {
	// The last byte of the address space is usable; one more is not.
	r, err := Check(math.MaxUint64-3, Spec{Itemsize: 3, Shape: []int64{1}})
	require.NoError(t, err)
	assert.Equal(t, int64(3), r.Hi)
	_, err = Check(16, Spec{Itemsize: 1, Shape: []int64{3}, Strides: []int64{-8}})
	require.NoError(t, err)
	// NULL is fine when nothing is touched.
	_, err = Check(0, Spec{Itemsize: 1, Shape: []int64{0}})
	require.NoError(t, err)
}

func TestAddressRangeAgreesWithCheck(t *testing.T) {
	cases := []Spec{
		{Itemsize: 8, Shape: []int64{4}},
		{Itemsize: 4, Shape: []int64{3, 5}, Strides: []int64{-20, -4}},
		{Itemsize: 2, Shape: []int64{0, 7}},
	}
	for _, s := range cases {
		r, err := extent(s)
		require.Nil(t, err)
		lowest, highest := r.AddressRange()
		for _, a := range []uint64{0, 1, lowest, highest, lowest - 1, highest + 1, 1 << 40} {
			_, err := Check(a, s)
			inside := a >= lowest && a <= highest
			assert.Equal(t, inside, err == nil, "spec %+v address %#x", s, a)
		}
	}
}
