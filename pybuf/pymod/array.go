package pymod

import "reflect"

// Array is an N-dimensional, possibly strided view of a Go slice, returned
// to Python as a NumPy array over Data (no copy). Element (i, j, ...) is
// Data[Offset + i*Strides[0] + j*Strides[1] + ...]; strides count elements,
// as gonum's mat.Dense Stride does, and may be negative. Strides nil means
// C order over exactly the elements of Data (Offset 0). Every element the
// view reaches must lie in Data, or the call raises ValueError.
type Array[T any] struct {
	Data     []T
	Offset   int
	Shape    []int
	Strides  []int
	Readonly bool // the NumPy array is read-only
}

// NDArray is Data laid out in C order with the given shape.
func NDArray[T any](data []T, shape ...int) Array[T] { return Array[T]{Data: data, Shape: shape} }

// Strided is a view of data from element offset with element strides.
func Strided[T any](data []T, offset int, shape, strides []int) Array[T] {
	return Array[T]{Data: data, Offset: offset, Shape: shape, Strides: strides}
}

// arrayParts is an Array with its element type erased.
type arrayParts struct {
	data           reflect.Value // the slice
	offset         int
	shape, strides []int
	readonly       bool
}

type arrayValue interface {
	pymodArray() arrayParts
	pymodElem() reflect.Type
}

func (a Array[T]) pymodArray() arrayParts {
	return arrayParts{data: reflect.ValueOf(a.Data), offset: a.Offset, shape: a.Shape, strides: a.Strides, readonly: a.Readonly}
}

func (Array[T]) pymodElem() reflect.Type { return reflect.TypeFor[T]() }

var arrayValueType = reflect.TypeFor[arrayValue]()
