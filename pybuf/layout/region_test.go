package layout

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckRegionInside(t *testing.T) {
	const lo, hi = 0x1000, 0x1000 + 96
	addr, r, err := CheckRegion(lo, hi, 16, Spec{Itemsize: 8, Shape: []int64{2, 5}})
	require.NoError(t, err)
	assert.Equal(t, uint64(lo+16), addr)
	assert.Equal(t, int64(80), r.Hi)

	// The whole parent, exactly.
	_, _, err = CheckRegion(lo, hi, 0, Spec{Itemsize: 4, Shape: []int64{24}})
	require.NoError(t, err)

	// Negative strides: the element (0,) is the last one, and the extent reaches back to byte 0.
	addr, r, err = CheckRegion(lo, hi, 88, Spec{Itemsize: 8, Shape: []int64{12}, Strides: []int64{-8}})
	require.NoError(t, err)
	assert.Equal(t, uint64(lo+88), addr)
	assert.Equal(t, int64(-88), r.Lo)

	// Empty regions may sit anywhere in [0, size], the end included.
	for _, off := range []uint64{0, 50, 96} {
		addr, r, err = CheckRegion(lo, hi, off, Spec{Itemsize: 8, Shape: []int64{0, 100}})
		require.NoError(t, err)
		assert.Equal(t, uint64(lo)+off, addr)
		assert.Equal(t, int64(0), r.Nbytes)
	}
	// An empty parent still has one position.
	_, _, err = CheckRegion(lo, lo, 0, Spec{Itemsize: 1, Shape: []int64{0}})
	require.NoError(t, err)
}

func TestCheckRegionOutside(t *testing.T) {
	const lo, hi = 0x1000, 0x1000 + 96
	cases := []struct {
		name   string
		lo, hi uint64
		offset uint64
		spec   Spec
		kind   Kind
		arg    string
	}{
		{"past the end", lo, hi, 90, Spec{Itemsize: 8, Shape: []int64{1}}, KindValue, "shape"},
		{"one byte too long", lo, hi, 0, Spec{Itemsize: 97}, KindValue, "shape"},
		{"strides reach out", lo, hi, 0, Spec{Itemsize: 8, Shape: []int64{2}, Strides: []int64{96}}, KindValue, "shape"},
		{"below the start", lo, hi, 8, Spec{Itemsize: 8, Shape: []int64{3}, Strides: []int64{-8}}, KindValue, "offset"},
		{"offset past end", lo, hi, 97, Spec{Itemsize: 1, Shape: []int64{0}}, KindValue, "offset"},
		{"offset huge", lo, hi, math.MaxUint64, Spec{Itemsize: 1}, KindOverflow, "offset"},
		{"offset 2^63", lo, hi, 1 << 63, Spec{Itemsize: 1}, KindOverflow, "offset"},
		{"inverted parent", hi, lo, 0, Spec{Itemsize: 1}, KindValue, "offset"},
		{"bad shape", lo, hi, 0, Spec{Itemsize: 1, Shape: []int64{-1}}, KindValue, "shape"},
		{"bad dtype", lo, hi, 0, Spec{Itemsize: 0}, KindValue, "dtype"},
		{"huge negative stride", lo, hi, 8, Spec{Itemsize: 1, Shape: []int64{2}, Strides: []int64{-(1 << 40)}}, KindValue, "offset"},
		{"huge parent, huge extent", 1, 1 << 63, 1 << 62, Spec{Itemsize: 1, Shape: []int64{2}, Strides: []int64{math.MaxInt64 - 1}}, KindValue, "shape"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := CheckRegion(c.lo, c.hi, c.offset, c.spec)
			requireKind(t, err, c.kind, c.arg)
			assert.NotContains(t, err.Error(), "%!") // no broken format verbs
		})
	}
	_, _, err := CheckRegion(lo, hi, 90, Spec{Itemsize: 8, Shape: []int64{1}})
	assert.Contains(t, err.Error(), "region outside its parent")
}
