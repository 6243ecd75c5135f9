package layout

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Itemsizes pinned against CPython 3.11 struct.calcsize (x86-64 Linux) and
// NumPy 2.x's _dtype_from_pep3118.
func TestParseFormatItemsize(t *testing.T) {
	cases := []struct {
		format string
		size   int64
	}{
		// struct.calcsize: native mode aligns items but never pads the end.
		{"B", 1}, {"b", 1}, {"?", 1}, {"c", 1}, {"h", 2}, {"e", 2}, {"i", 4}, {"f", 4},
		{"l", 8}, {"L", 8}, {"q", 8}, {"d", 8}, {"n", 8}, {"N", 8}, {"P", 8},
		{"<l", 4}, {"=L", 4}, {"!q", 8}, {">d", 8}, {"@l", 8}, {"4?", 4},
		{"@bi", 8}, {"bi", 8}, {"ib", 5}, {"=ib", 5}, {"<ib", 5}, {"iqb", 17},
		{"@hq", 16}, {"<hq", 10}, {"ch", 4}, {"!ld", 12}, {"b l", 16}, {" i i ", 8},
		{"llh0l", 24}, {"b0i", 4}, {"xi", 8}, {"ix", 5}, {"3x", 3}, {"3s", 3},
		{"10s", 10}, {"5p", 5}, {"<p", 1}, {"nNP", 24}, {"bP", 16}, {"0si", 4},
		// NumPy: '@' also pads the end; other orders never align.
		{"T{<i:x:<d:y:}", 12}, {"T{i:x:=d:y:}", 12}, {"T{<b:a:xxx<i:b:}", 8},
		{"T{<i:a:(2,3)<d:b:}", 52}, {"T{i:x:xxxxd:y:}", 16}, {"T{h:a:T{=f:p:B:q:}:n:}", 7},
		{"(2,3)d", 48}, {"(2,3)<d", 48}, {"Zf", 8}, {"Zd", 16}, {"Zg", 32}, {"g", 16},
		{"bg", 32}, {"bZg", 48}, {"^bZg", 33}, {"^ib", 5}, {"i<b", 5},
		{"T{bi}b", 12}, {"3T{bi}", 24}, {"b3T{bi}", 28}, {"4T{ih}", 32}, {"T{b}T{i}", 8},
		{"T{i:a:}:a:", 4}, {"3w", 12}, {"bw", 8}, {"(2)i", 8}, {"b(2)i", 12},
		{"T{@i<b}i", 9}, {"T{i<b}@i", 12}, {"i b:a: ", 8}, {"T{}i", 4}, {"(2,0)i:a:b", 4},
		{"2 i", 8}, {" <i", 4}, {"i::", 4}, {"i:a b:", 4}, {"2T{}b", 1},
		// Native-only struct codes inside NumPy-only syntax keep their native sizes.
		{"T{bP}", 16}, {"T{np}", 16}, {"T{5p}", 5},
	}
	for _, c := range cases {
		f, err := ParseFormat(c.format)
		if assert.NoError(t, err, "%q", c.format) {
			assert.Equal(t, c.size, f.Itemsize, "%q", c.format)
		}
	}
}

func TestParseFormatDLPack(t *testing.T) {
	cases := []struct {
		format     string
		code, bits int32
	}{
		{"b", DLInt, 8}, {"h", DLInt, 16}, {"<i", DLInt, 32}, {"l", DLInt, 64}, {"=l", DLInt, 32},
		{"q", DLInt, 64}, {"n", DLInt, 64}, {"B", DLUint, 8}, {"@H", DLUint, 16}, {"I", DLUint, 32},
		{"L", DLUint, 64}, {"<L", DLUint, 32}, {"Q", DLUint, 64}, {"N", DLUint, 64},
		{"e", DLFloat, 16}, {"f", DLFloat, 32}, {"<d", DLFloat, 64}, {"Zf", DLComplex, 64},
		{"Zd", DLComplex, 128}, {"?", DLBool, 8}, {" i ", DLInt, 32}, {"1i", DLInt, 32},
		{"^d", DLFloat, 64},
		{">i", -1, 0}, {"!d", -1, 0}, {"g", -1, 0}, {"Zg", -1, 0}, {"c", -1, 0},
		{"s", -1, 0}, {"x", -1, 0}, {"P", -1, 0}, {"w", -1, 0}, {"2i", -1, 0},
		{"(1)i", -1, 0}, {"T{i}", -1, 0}, {"i:a:", -1, 0}, {"ii", -1, 0}, {"<>i", -1, 0},
	}
	for _, c := range cases {
		f, err := ParseFormat(c.format)
		if err != nil {
			var e *Error
			require.ErrorAs(t, err, &e, "%q", c.format)
			assert.Equal(t, int32(-1), c.code, "%q: %v", c.format, err)
			continue
		}
		assert.Equal(t, c.code, f.DLCode, "%q", c.format)
		assert.Equal(t, c.bits, f.DLBits, "%q", c.format)
	}
}

func TestParseFormatErrors(t *testing.T) {
	cases := []struct {
		format string
		kind   Kind
	}{
		{"", KindValue}, {"0i", KindValue}, {"@", KindValue}, {"T{}", KindValue}, {"0s", KindValue},
		{"i:a:i:a:", KindValue}, {"T{b:x:i:x:}", KindValue},
		{"(1)0i", KindValue}, {"(2)0s", KindValue}, {"(2)0T{}", KindValue},
		{"O", KindType}, {"iO", KindType}, {"T{d:a:O:b:}", KindType}, {"(2)O", KindType},
		{"99999999999999999999i", KindOverflow}, {"9223372036854775807q", KindOverflow},
		{"(4294967296,4294967296)i", KindOverflow}, {"T{9223372036854775807s}b", KindOverflow},
		{"4611686018427387904ib", KindOverflow},
		{"f8", KindNotPEP3118}, {"i4", KindNotPEP3118}, {"float64", KindNotPEP3118},
		{"u", KindNotPEP3118}, {"a", KindNotPEP3118}, {"&i", KindNotPEP3118}, {"t", KindNotPEP3118},
		{"X{}", KindNotPEP3118}, {"T{i", KindNotPEP3118}, {"i}", KindNotPEP3118}, {"i}x", KindNotPEP3118},
		{"(2,3", KindNotPEP3118}, {"(2,)i", KindNotPEP3118}, {"()i", KindNotPEP3118},
		{"(+2)i", KindNotPEP3118}, {"<(2)d", KindNotPEP3118}, {"i:a", KindNotPEP3118},
		{"Zi", KindNotPEP3118}, {"Z", KindNotPEP3118}, {"<g", KindNotPEP3118}, {"<Zg", KindNotPEP3118},
		{"<n", KindNotPEP3118}, {"=P", KindNotPEP3118}, {"<>i", KindNotPEP3118}, {"i<", KindNotPEP3118},
		{"i\x00", KindNotPEP3118}, {"F", KindNotPEP3118}, {"<M8[ns]", KindNotPEP3118}, {"T", KindNotPEP3118},
		// Malformed wins over every other problem.
		{"O$", KindNotPEP3118}, {"99999999999999999999F", KindNotPEP3118}, {"i:a:i:a:?!", KindNotPEP3118},
	}
	for _, c := range cases {
		_, err := ParseFormat(c.format)
		var e *Error
		if !assert.ErrorAs(t, err, &e, "%q", c.format) {
			continue
		}
		assert.Equal(t, c.kind, e.Kind, "%q: %v", c.format, err)
		assert.Equal(t, "dtype", e.Arg, "%q", c.format)
		assert.Contains(t, e.Msg, "dtype", "%q", c.format)
		assert.Equal(t, e.Msg, e.Error())
		switch c.kind {
		case KindNotPEP3118:
			assert.True(t, strings.HasPrefix(e.Msg, "dtype: not a PEP 3118 format: "), e.Msg)
		case KindType:
			assert.Contains(t, e.Msg, "foreign memory")
		}
	}
}

func TestErrorIsComparable(t *testing.T) {
	_, err := ParseFormat("O")
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, KindType, e.Kind)
}
