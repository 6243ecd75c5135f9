package layout

import "math"

// Spec is a requested array layout.
type Spec struct {
	Itemsize int64
	Shape    []int64
	Strides  []int64 // nil: C-contiguous strides are computed
}

// Result describes a validated layout.
type Result struct {
	Strides     []int64 // given or computed; never aliases Spec.Strides
	Nbytes      int64   // Itemsize * prod(Shape)
	Lo, Hi      int64   // bytes touched relative to address: [address+Lo, address+Hi); 0,0 when any dim is 0
	CContiguous bool    // as CPython's PyBuffer_IsContiguous(view, 'C')
	FContiguous bool
	// ElementStrides: every stride is a whole number of items, so the layout
	// can be described in elements (DLPack counts strides that way).
	ElementStrides bool
}

// Check validates a layout placed at address. For negative strides, address is
// the element (0, ..., 0), as in NumPy, so the extent may start below it.
func Check(address uint64, s Spec) (Result, error) {
	r, err := extent(s)
	if err != nil {
		return Result{}, err
	}
	if err := checkAddress(address, r); err != nil {
		return Result{}, err
	}
	return r, nil
}

// AddressRange is the closed range of addresses at which the layout is
// valid. Callers that cache a validated layout (the C shim) reuse it at any
// address in this range without asking again.
func (r Result) AddressRange() (lowest, highest uint64) {
	if r.Nbytes == 0 {
		return 0, math.MaxUint64 // nothing is touched, so any address (NULL included) will do
	}
	return max(1, abs64(r.Lo)), math.MaxUint64 - uint64(r.Hi)
}

func checkAddress(address uint64, r Result) *Error {
	lowest, highest := r.AddressRange()
	switch {
	case address == 0 && lowest > 0:
		return errorf(KindValue, "address", "address is NULL")
	case address < lowest:
		return errorf(KindValue, "address", "address %#x is too low: the strides reach %d bytes below it", address, abs64(r.Lo))
	case address > highest:
		return errorf(KindOverflow, "address", "address %#x plus the extent of %d bytes passes the end of the address space", address, r.Hi)
	}
	return nil
}

// CheckNdim is the one check of the number of dimensions (the C ABI's
// arrays are sized by the same constant: capi's header test).
func CheckNdim(ndim int) *Error {
	if ndim < 0 || ndim > MaxDim {
		return errorf(KindValue, "shape", "shape has %d dimensions; at most %d are supported", ndim, MaxDim)
	}
	return nil
}

// extent validates everything but the address.
func extent(s Spec) (Result, *Error) {
	ndim := len(s.Shape)
	if s.Itemsize <= 0 {
		return Result{}, errorf(KindValue, "dtype", "dtype itemsize must be > 0, got %d", s.Itemsize)
	}
	if err := CheckNdim(ndim); err != nil {
		return Result{}, err
	}
	if s.Strides != nil && len(s.Strides) != ndim {
		return Result{}, errorf(KindValue, "strides", "strides has %d entries but shape has %d", len(s.Strides), ndim)
	}
	empty := false
	for i, d := range s.Shape {
		if d < 0 {
			return Result{}, errorf(KindValue, "shape", "shape[%d] must be >= 0, got %d", i, d)
		}
		empty = empty || d == 0
	}

	// Like NumPy, size the array as if its zero dimensions were 1: an empty
	// array whose non-empty version would overflow is refused, and computed
	// strides stay meaningful (never all 0) for empty shapes.
	strides := make([]int64, ndim)
	acc := s.Itemsize
	for i := ndim - 1; i >= 0; i-- {
		strides[i] = acc
		var ok bool
		if acc, ok = mul64(acc, max(s.Shape[i], 1)); !ok {
			return Result{}, errorf(KindOverflow, "shape", "shape %v with itemsize %d: the size overflows int64", s.Shape, s.Itemsize)
		}
	}
	r := Result{Strides: strides, Nbytes: acc}
	if s.Strides != nil {
		copy(r.Strides, s.Strides)
	}
	r.ElementStrides = wholeItems(s.Itemsize, r.Strides)
	if empty {
		r.Nbytes = 0
		r.CContiguous, r.FContiguous = true, true
		return r, nil
	}

	for i, d := range s.Shape {
		span, ok := mul64(d-1, r.Strides[i])
		if ok && span < 0 {
			r.Lo, ok = add64(r.Lo, span)
		} else if ok {
			r.Hi, ok = add64(r.Hi, span)
		}
		if !ok {
			return Result{}, errorf(KindOverflow, "strides", "strides %v with shape %v: the extent overflows int64", s.Strides, s.Shape)
		}
	}
	var ok bool
	if r.Hi, ok = add64(r.Hi, s.Itemsize); !ok {
		return Result{}, errorf(KindOverflow, "strides", "strides %v with shape %v: the extent overflows int64", s.Strides, s.Shape)
	}
	if _, ok = add64(r.Hi, -r.Lo); !ok {
		// pybuf reports the extent's length as an int64; keep it representable.
		return Result{}, errorf(KindOverflow, "strides", "strides %v with shape %v: the extent overflows int64", s.Strides, s.Shape)
	}
	r.CContiguous = contiguous(s.Itemsize, s.Shape, r.Strides, ndim-1, -1)
	r.FContiguous = contiguous(s.Itemsize, s.Shape, r.Strides, 0, 1)
	return r, nil
}

// wholeItems reports whether every stride is a multiple of the itemsize
// (extent has checked that the itemsize is positive).
func wholeItems(itemsize int64, strides []int64) bool {
	for _, st := range strides {
		if st%itemsize != 0 {
			return false
		}
	}
	return true
}

// contiguous is CPython's _IsCContiguous / _IsFortranContiguous for a
// non-empty layout: dimensions of length 1 may have any stride. The running
// product cannot overflow, because it never exceeds Nbytes.
func contiguous(itemsize int64, shape, strides []int64, from, step int) bool {
	sd := itemsize
	for i := from; i >= 0 && i < len(shape); i += step {
		if shape[i] > 1 && strides[i] != sd {
			return false
		}
		sd *= shape[i]
	}
	return true
}
