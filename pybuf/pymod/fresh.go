package pymod

import "github.com/pybuf-go/pybuf/pybuf/gomem"

// Fresh is a new zeroed []T of n elements for a result, in memory pybuf
// owns rather than Go's heap (gomem.Fresh): Go does not zero it (the
// kernel's pages are zero until first touched), pin it or scan it. Returned
// from the function, it becomes the NumPy array's memory without a copy and
// is freed after the last view is gone. After returning it, do not use it
// from Go. A Fresh slice that is not returned (an error path) is given back
// with FreeFresh.
func Fresh[T any](n int) ([]T, error) { return gomem.Fresh[T](n) }

// Empty is Fresh without the zeroing, as numpy.empty (gomem.Empty): for a
// result the function writes entirely.
func Empty[T any](n int) ([]T, error) { return gomem.Empty[T](n) }

// FreshArray is Fresh laid out in C order with the given shape.
func FreshArray[T any](shape ...int) (Array[T], error) { return shaped(gomem.Fresh[T], shape) }

// EmptyArray is Empty laid out in C order with the given shape.
func EmptyArray[T any](shape ...int) (Array[T], error) { return shaped(gomem.Empty[T], shape) }

func shaped[T any](alloc func(int) ([]T, error), shape []int) (Array[T], error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return Array[T]{}, ValueError.Errorf("shape %v has a negative dimension", shape)
		}
		if d != 0 && n > (1<<47)/d {
			return Array[T]{}, ValueError.Errorf("shape %v is too large", shape)
		}
		n *= d
	}
	data, err := alloc(n)
	if err != nil {
		return Array[T]{}, ValueError.Wrap(err)
	}
	return NDArray(data, shape...), nil
}

// FreeFresh gives back a slice of Fresh or Empty that will not be returned.
func FreeFresh[T any](s []T) bool { return gomem.FreeFresh(s) }
