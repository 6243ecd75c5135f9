package layout

import (
	"encoding/binary"
	"math"
	"math/big"
	"strings"
	"testing"
)

func checkError(t *testing.T, err error) {
	t.Helper()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %T is not *Error: %v", err, err)
	}
	if e.Arg == "" || !strings.Contains(e.Msg, e.Arg) || e.Kind < KindValue || e.Kind > KindNotPEP3118 {
		t.Fatalf("malformed error %+v", e)
	}
}

func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{"B", "<d", "Zd", "T{<i:x:<d:y:}", "(2,3)<d", "3s10x", "@bi0l"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseFormat(s)
		if err != nil {
			checkError(t, err)
			if e := err.(*Error); e.Arg != "dtype" {
				t.Fatalf("format error names %q", e.Arg)
			}
			return
		}
		if got.Itemsize <= 0 {
			t.Fatalf("%q: itemsize %d", s, got.Itemsize)
		}
		switch got.DLCode {
		case -1:
			if got.DLBits != 0 {
				t.Fatalf("%q: bits %d without a DLPack type", s, got.DLBits)
			}
		case DLInt, DLUint, DLFloat, DLComplex, DLBool:
			if int64(got.DLBits) != got.Itemsize*8 {
				t.Fatalf("%q: %d bits for itemsize %d", s, got.DLBits, got.Itemsize)
			}
		default:
			t.Fatalf("%q: DLPack code %d", s, got.DLCode)
		}
		// Where struct and NumPy both read a string, NumPy only adds
		// trailing padding, which is less than the largest alignment (8).
		if st, ok, ovf := structCalcsize(s); ok && !ovf && !strings.ContainsAny(s, "nNpP") {
			np, perr := pep3118Itemsize(s)
			if perr != nil {
				t.Fatalf("%q: struct size %d but NumPy dialect fails: %v", s, st, perr)
			}
			if np < st || np-st >= 8 {
				t.Fatalf("%q: struct size %d, NumPy size %d", s, st, np)
			}
		}
	})
}

// decodeInts turns fuzz bytes into int64s, mostly small (so layouts are often
// valid) and sometimes raw 64-bit values (so overflow paths are reached).
func decodeInts(b []byte) []int64 {
	var out []int64
	for len(b) > 0 && len(out) <= MaxDim+1 {
		tag := b[0]
		b = b[1:]
		if tag >= 0xF0 && len(b) >= 8 {
			out = append(out, int64(binary.LittleEndian.Uint64(b)))
			b = b[8:]
			continue
		}
		out = append(out, int64(int8(tag)))
	}
	return out
}

// refExtent is an independent, arbitrary-precision model of Check without
// the address; ok reports whether Check must accept the layout.
type refExtent struct {
	lo, hi, nbytes *big.Int
	empty, ok      bool
}

var (
	bigMaxInt64  = big.NewInt(math.MaxInt64)
	bigMinInt64  = big.NewInt(math.MinInt64)
	bigMaxUint64 = new(big.Int).SetUint64(math.MaxUint64)
)

func fitsInt64(x *big.Int) bool { return x.Cmp(bigMinInt64) >= 0 && x.Cmp(bigMaxInt64) <= 0 }

func reference(s Spec) refExtent {
	r := refExtent{lo: new(big.Int), hi: new(big.Int), nbytes: big.NewInt(s.Itemsize)}
	if s.Itemsize <= 0 || len(s.Shape) > MaxDim || s.Strides != nil && len(s.Strides) != len(s.Shape) {
		return r
	}
	asIfFull := big.NewInt(s.Itemsize)
	strides := make([]*big.Int, len(s.Shape))
	for i := len(s.Shape) - 1; i >= 0; i-- {
		d := s.Shape[i]
		if d < 0 {
			return r
		}
		strides[i] = new(big.Int).Set(asIfFull)
		if s.Strides != nil {
			strides[i].SetInt64(s.Strides[i])
		}
		r.empty = r.empty || d == 0
		asIfFull.Mul(asIfFull, big.NewInt(max(d, 1)))
		r.nbytes.Mul(r.nbytes, big.NewInt(d))
	}
	if !fitsInt64(asIfFull) {
		return r
	}
	if r.empty {
		r.ok = true
		return r
	}
	for i, d := range s.Shape {
		span := new(big.Int).Mul(big.NewInt(d-1), strides[i])
		if span.Sign() < 0 {
			r.lo.Add(r.lo, span)
		} else {
			r.hi.Add(r.hi, span)
		}
	}
	r.hi.Add(r.hi, big.NewInt(s.Itemsize))
	r.ok = fitsInt64(r.lo) && fitsInt64(r.hi) && fitsInt64(new(big.Int).Sub(r.hi, r.lo))
	return r
}

func verifyResult(t *testing.T, s Spec, ref refExtent, got Result) {
	t.Helper()
	if len(got.Strides) != len(s.Shape) || got.Nbytes != ref.nbytes.Int64() {
		t.Fatalf("%+v: strides %v nbytes %d, want nbytes %v", s, got.Strides, got.Nbytes, ref.nbytes)
	}
	whole := true
	for _, st := range got.Strides {
		whole = whole && st%s.Itemsize == 0
	}
	if got.ElementStrides != whole {
		t.Fatalf("%+v: ElementStrides %v for strides %v", s, got.ElementStrides, got.Strides)
	}
	if ref.empty {
		if got.Lo != 0 || got.Hi != 0 || !got.CContiguous || !got.FContiguous {
			t.Fatalf("%+v: empty layout gave %+v", s, got)
		}
		return
	}
	if got.Lo != ref.lo.Int64() || got.Hi != ref.hi.Int64() || got.Lo > 0 || got.Hi-got.Lo < s.Itemsize {
		t.Fatalf("%+v: extent [%d, %d), want [%v, %v)", s, got.Lo, got.Hi, ref.lo, ref.hi)
	}
	// A C- or F-contiguous layout covers exactly its bytes from address up.
	if (got.CContiguous || got.FContiguous) && (got.Lo != 0 || got.Hi != got.Nbytes) {
		t.Fatalf("%+v: contiguous but extent [%d, %d) for %d bytes", s, got.Lo, got.Hi, got.Nbytes)
	}
	if s.Strides == nil && !got.CContiguous {
		t.Fatalf("%+v: computed strides %v are not C-contiguous", s, got.Strides)
	}
}

func specFrom(itemsize int64, shape, strides []byte, withStrides bool) Spec {
	s := Spec{Itemsize: itemsize, Shape: decodeInts(shape)}
	if withStrides {
		s.Strides = decodeInts(strides)
		if s.Strides == nil {
			s.Strides = []int64{}
		}
	}
	return s
}

func FuzzCheck(f *testing.F) {
	f.Add(uint64(0x1000), int64(8), []byte{2, 3}, []byte{}, false)
	f.Add(uint64(0x1000), int64(8), []byte{4, 3}, []byte{0xd0, 16}, true)
	f.Add(uint64(0), int64(4), []byte{0, 5}, []byte{}, false)
	f.Add(uint64(math.MaxUint64-7), int64(8), []byte{1}, []byte{}, false)
	f.Add(uint64(8), int64(1), []byte{0xff, 0, 0, 0, 0, 0, 0, 0, 0x40}, []byte{}, false)
	f.Fuzz(func(t *testing.T, address uint64, itemsize int64, shape, strides []byte, withStrides bool) {
		s := specFrom(itemsize, shape, strides, withStrides)
		ref := reference(s)
		inRange := ref.ok
		if ref.ok && !ref.empty {
			a := new(big.Int).SetUint64(address)
			inRange = address != 0 &&
				new(big.Int).Add(a, ref.lo).Sign() >= 0 &&
				new(big.Int).Add(a, ref.hi).Cmp(bigMaxUint64) <= 0
		}
		got, err := Check(address, s)
		if err != nil {
			checkError(t, err)
			if inRange {
				t.Fatalf("%#x %+v: rejected a valid layout: %v", address, s, err)
			}
			return
		}
		if !inRange {
			t.Fatalf("%#x %+v: accepted an invalid layout: %+v", address, s, got)
		}
		verifyResult(t, s, ref, got)
	})
}

func FuzzCheckRegion(f *testing.F) {
	f.Add(uint64(0x1000), uint64(96), uint64(16), int64(8), []byte{2, 5}, []byte{}, false)
	f.Add(uint64(0x1000), uint64(96), uint64(88), int64(8), []byte{12}, []byte{0xf8}, true)
	f.Add(uint64(0x1000), uint64(96), uint64(96), int64(8), []byte{0}, []byte{}, false)
	f.Add(uint64(0x1000), uint64(96), uint64(90), int64(8), []byte{1}, []byte{}, false)
	f.Fuzz(func(t *testing.T, lo, size, offset uint64, itemsize int64, shape, strides []byte, withStrides bool) {
		if lo > math.MaxUint64-size {
			return
		}
		s := specFrom(itemsize, shape, strides, withStrides)
		ref := reference(s)
		inside := ref.ok && offset <= math.MaxInt64 && offset <= size
		if inside && !ref.empty {
			off := new(big.Int).SetUint64(offset)
			inside = new(big.Int).Add(off, ref.lo).Sign() >= 0 &&
				new(big.Int).Add(off, ref.hi).Cmp(new(big.Int).SetUint64(size)) <= 0 &&
				lo+offset != 0
		}
		addr, got, err := CheckRegion(lo, lo+size, offset, s)
		if err != nil {
			checkError(t, err)
			if inside {
				t.Fatalf("[%#x+%d) @%d %+v: rejected a valid region: %v", lo, size, offset, s, err)
			}
			return
		}
		if !inside || addr != lo+offset {
			t.Fatalf("[%#x+%d) @%d %+v: accepted at %#x: %+v", lo, size, offset, s, addr, got)
		}
		verifyResult(t, s, ref, got)
	})
}
