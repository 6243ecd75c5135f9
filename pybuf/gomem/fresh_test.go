package gomem

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFreshIsZeroedAndExportedWithoutAPin(t *testing.T) {
	for _, n := range []int{3, 1 << 20} { // calloc'd and a mapping of its own
		before := FreshBlocks()
		s, err := Fresh[float64](n)
		require.NoError(t, err)
		require.Len(t, s, n)
		assert.Equal(t, 0.0, s[0])
		assert.Equal(t, 0.0, s[n-1])
		s[n-1] = 7
		assert.Equal(t, before+1, FreshBlocks())
		pins := LivePins()
		a := exportOf(t, s, n)
		assert.Equal(t, pins, LivePins(), "Fresh memory is not Go's: nothing to pin")
		assert.Equal(t, uint64(uintptr(unsafe.Pointer(&s[0]))), a.Address)
		assert.True(t, a.HasRelease)
		assert.Equal(t, before+1, FreshBlocks())
		a.Release()
		assert.Equal(t, before, FreshBlocks(), "the release freed the block")
	}
}

func TestFreshExportedTwiceIsRefused(t *testing.T) {
	s, err := Fresh[int32](10)
	require.NoError(t, err)
	a := exportOf(t, s)
	_, err = ExportSlice(s[2:])
	assert.ErrorContains(t, err, "exported already")
	_, err = ExportStrided(s, 1, []int{3}, []int{2})
	assert.ErrorContains(t, err, "exported already")
	assert.False(t, FreeFresh(s), "Python owns it now")
	a.Release()
}

func TestFreshFailedExportGivesTheBlockBack(t *testing.T) {
	s, err := Fresh[float64](4)
	require.NoError(t, err)
	_, err = ExportSlice(s, 3) // 3 does not multiply to 4
	require.Error(t, err)
	a := exportOf(t, s) // still Go's, so it can be exported now
	a.Release()
}

func TestFreeFreshGivesBackAnUnexportedBlock(t *testing.T) {
	before := FreshBlocks()
	s, err := Fresh[complex128](100000)
	require.NoError(t, err)
	assert.False(t, FreeFresh(s[1:]), "only the slice Fresh returned")
	assert.True(t, FreeFresh(s))
	assert.False(t, FreeFresh(s), "once")
	assert.Equal(t, before, FreshBlocks())
}

func TestFreshRefusesWhatPythonCannotHold(t *testing.T) {
	_, err := Fresh[*int](1)
	assert.Error(t, err)
	_, err = Fresh[float64](-1)
	assert.ErrorContains(t, err, "-1")
	_, err = Fresh[float64](1 << 62)
	assert.ErrorContains(t, err, "too large")
	s, err := Fresh[float64](0)
	require.NoError(t, err)
	assert.Empty(t, s)
}

func TestFreshRecordsDiscardedFreeTheBlock(t *testing.T) {
	type rec struct {
		ID int32
		X  float64
	}
	before := FreshBlocks()
	s, err := Fresh[rec](5)
	require.NoError(t, err)
	d, err := ExportRecords(s)
	require.NoError(t, err)
	d.Discard()
	assert.Equal(t, before, FreshBlocks())
}

func TestEmptyIsExportedLikeFresh(t *testing.T) {
	before := FreshBlocks()
	s, err := Empty[float64](1000)
	require.NoError(t, err)
	for i := range s {
		s[i] = float64(i)
	}
	a := exportOf(t, s)
	assert.Equal(t, before+1, FreshBlocks())
	a.Release()
	assert.Equal(t, before, FreshBlocks())
}
