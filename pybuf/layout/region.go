package layout

import "math"

// CheckRegion validates a sub-layout of a parent whose bytes are
// [parentLo, parentHi). offset counts bytes from parentLo to the region's
// element (0, ..., 0); the region's whole extent, which negative strides may
// put below that element, must lie inside the parent. It returns that
// element's absolute address.
func CheckRegion(parentLo, parentHi, offset uint64, s Spec) (uint64, Result, error) {
	if parentHi < parentLo {
		return 0, Result{}, errorf(KindValue, "offset", "offset: the parent's extent [%#x, %#x) is inverted", parentLo, parentHi)
	}
	size := parentHi - parentLo
	// Python offsets are Py_ssize_t; larger ones can only be overflowed values.
	if offset > math.MaxInt64 {
		return 0, Result{}, errorf(KindOverflow, "offset", "offset %d does not fit in a signed 64-bit size", offset)
	}
	if offset > size {
		return 0, Result{}, errorf(KindValue, "offset", "offset %d is past the end of the parent (%d bytes)", offset, size)
	}
	r, err := extent(s)
	if err != nil {
		return 0, Result{}, err
	}
	// Compare relative to parentLo so nothing can wrap: offset <= MaxInt64
	// and Lo <= 0 <= Hi.
	if r.Lo < -int64(offset) {
		return 0, Result{}, errorf(KindValue, "offset", "region outside its parent: at offset %d its strides reach %d bytes below the parent's start", offset, abs64(r.Lo)-offset)
	}
	if end := offset + uint64(r.Hi); end > size {
		return 0, Result{}, errorf(KindValue, "shape", "region outside its parent: with this shape and strides it ends at byte %d of a %d-byte parent", end, size)
	}
	address := parentLo + offset
	if err := checkAddress(address, r); err != nil {
		return 0, Result{}, err
	}
	return address, r, nil
}
