// Package goptim minimizes Python functions with gonum/optimize: a Python
// callable is a Go func for the optimizer, called with the GIL taken back.
package goptim

// The module (pymod_invokers.go): every exported function, registered by
// pymodgen from its signature and doc comment.
//go:generate go run github.com/pybuf-go/pybuf/pybuf/cmd/pymodgen -module goptim

import (
	"slices"

	"gonum.org/v1/gonum/optimize"
)

// Minimize is a local minimum of f, from x0, by Nelder-Mead (no gradient
// needed): the point and f there. An exception raised by f is raised as it
// is; an optimizer failure raises RuntimeError.
func Minimize(f func(x []float64) float64, x0 []float64) ([]float64, float64, error) {
	p := optimize.Problem{Func: f}
	res, err := optimize.Minimize(p, slices.Clone(x0), nil, &optimize.NelderMead{})
	if err != nil {
		return nil, 0, err
	}
	return res.X, res.F, nil
}

// MinimizeGrad is Minimize by BFGS with grad(g, x), a callable that writes
// the gradient of f at x into g (a NumPy array).
func MinimizeGrad(f func(x []float64) float64, grad func(g, x []float64), x0 []float64) ([]float64, float64, error) {
	p := optimize.Problem{Func: f, Grad: grad}
	res, err := optimize.Minimize(p, slices.Clone(x0), nil, &optimize.BFGS{})
	if err != nil {
		return nil, 0, err
	}
	return res.X, res.F, nil
}

// Evaluations counts the calls of f that Minimize makes from x0.
func Evaluations(f func(x []float64) float64, x0 []float64) (int, error) {
	p := optimize.Problem{Func: f}
	res, err := optimize.Minimize(p, slices.Clone(x0), nil, &optimize.NelderMead{})
	if err != nil {
		return 0, err
	}
	return res.Stats.FuncEvaluations, nil
}
