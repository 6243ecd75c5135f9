package goptim

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pybuf-go/pybuf/pybuf/pymod/gen"
)

// pymod_invokers.go is what go generate writes today; every function takes
// a Python callable, so every call goes through reflection.
func TestModuleIsCurrent(t *testing.T) {
	want, err := gen.GenerateWith(".", gen.Options{Module: "goptim"})
	require.NoError(t, err)
	assert.Len(t, want.Notes, 3)
	got, err := os.ReadFile(gen.OutputFile)
	require.NoError(t, err)
	assert.Equal(t, string(want.Source), string(got), "run go generate")
}

func rosenbrock(x []float64) float64 {
	a, b := 1-x[0], x[1]-x[0]*x[0]
	return a*a + 100*b*b
}

func TestMinimizeFindsRosenbrocksMinimum(t *testing.T) {
	x, f, err := Minimize(rosenbrock, []float64{-1.2, 1})
	require.NoError(t, err)
	assert.InDelta(t, 1, x[0], 1e-3)
	assert.InDelta(t, 1, x[1], 1e-3)
	assert.InDelta(t, 0, f, 1e-6)
}

func TestMinimizeGradUsesTheGradient(t *testing.T) {
	grad := func(g, x []float64) {
		g[0] = -2*(1-x[0]) - 400*x[0]*(x[1]-x[0]*x[0])
		g[1] = 200 * (x[1] - x[0]*x[0])
	}
	x, _, err := MinimizeGrad(rosenbrock, grad, []float64{-1.2, 1})
	require.NoError(t, err)
	assert.InDelta(t, 1, x[0], 1e-4)
	assert.InDelta(t, 1, x[1], 1e-4)
}
