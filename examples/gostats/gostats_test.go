package gostats

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pybuf-go/pybuf/pybuf/pymod/gen"
)

// pymod_invokers.go is what go generate writes today: regenerate after
// adding an exported function or changing one's signature or doc comment.
// pymodgen has nothing to say about this package: every exported function
// is in the module, on a typed invoker, and keeps no borrowed slice.
func TestModuleIsCurrent(t *testing.T) {
	want, err := gen.GenerateWith(".", gen.Options{Module: "gostats"})
	require.NoError(t, err)
	assert.Empty(t, want.Notes)
	got, err := os.ReadFile(gen.OutputFile)
	require.NoError(t, err)
	assert.Equal(t, string(want.Source), string(got), "run go generate")
}

func TestHistogramCountsLikeNumPy(t *testing.T) {
	counts, err := Histogram([]float64{0, 0.5, 1, 2.5, 3, 4, -1, 5}, 4, 0, 4)
	require.NoError(t, err)
	assert.Equal(t, []int64{2, 1, 1, 2}, counts, "4 is in the last bin; -1 and 5 are outside")
	_, err = Histogram(nil, 0, 0, 1)
	assert.EqualError(t, err, "bins must be positive, not 0")
}

func TestSubmatrixIsAViewOfTheGrid(t *testing.T) {
	s, err := Submatrix(4, 5, 1, 3, 2, 5)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 3}, s.Shape)
	assert.Equal(t, []int{5, 1}, s.Strides)
	assert.Len(t, s.Data, 20)
	assert.Equal(t, 7.0, s.Data[s.Offset])
	_, err = Submatrix(4, 5, 3, 2, 0, 1)
	assert.EqualError(t, err, "[3:2, 0:1] is not inside a 4 x 5 grid")
}

func TestParticlesAndMean(t *testing.T) {
	ps, err := Particles(3)
	require.NoError(t, err)
	assert.Equal(t, []Particle{{0, 0, 0}, {1, 0.5, -1}, {2, 1, -2}}, ps)
	assert.Equal(t, 2.0, Mean([]float64{1, 2, 3}))
	assert.Equal(t, 5, Add(2, 3))
}
