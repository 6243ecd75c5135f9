package layout

import (
	"math"
	"math/bits"
)

// Checked int64 arithmetic. ok is false when the exact result does not fit.

func add64(a, b int64) (int64, bool) {
	s := a + b
	// Overflow iff both operands have the same sign and the sum's differs.
	return s, (a >= 0) != (b >= 0) || (s >= 0) == (a >= 0)
}

func mul64(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	neg := (a < 0) != (b < 0)
	hi, lo := bits.Mul64(abs64(a), abs64(b))
	if hi != 0 {
		return 0, false
	}
	if neg {
		if lo > 1<<63 {
			return 0, false
		}
		return int64(-lo), true // -(1<<63) wraps to MinInt64 exactly
	}
	if lo > math.MaxInt64 {
		return 0, false
	}
	return int64(lo), true
}

// abs64 returns |a| as uint64, which is exact even for MinInt64.
func abs64(a int64) uint64 {
	if a < 0 {
		return -uint64(a)
	}
	return uint64(a)
}

// alignUp rounds a non-negative offset up to a multiple of align (> 0).
func alignUp(off, align int64) (int64, bool) {
	r := off % align
	if r == 0 {
		return off, true
	}
	return add64(off, align-r)
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
