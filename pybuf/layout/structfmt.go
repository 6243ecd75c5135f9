package layout

import (
	"math"
	"strings"
)

// structCalcsize mirrors CPython's Modules/_struct.c (prepare_s and align) for
// x86-64 Linux. ok is false when the struct module would reject the string;
// overflow reports its "total struct size too long".
func structCalcsize(s string) (size int64, ok, overflow bool) {
	native := true
	i := 0
	if s != "" && strings.IndexByte("@=<>!", s[0]) >= 0 {
		native = s[0] == '@'
		i = 1
	}
	for i < len(s) {
		c := s[i]
		i++
		if isSpace(c) {
			continue
		}
		num := int64(1)
		if isDigit(c) {
			num = int64(c - '0')
			for ; i < len(s) && isDigit(s[i]); i++ {
				d := int64(s[i] - '0')
				if num > (math.MaxInt64-d)/10 {
					overflow = true
				}
				num = num*10 + d // garbage once overflow is set; only syntax matters then
			}
			if i == len(s) {
				return 0, false, false // repeat count without a format character
			}
			c = s[i]
			i++
		}
		esize, ealign := structEntry(c, native)
		if esize == 0 {
			return 0, false, false
		}
		if overflow {
			continue
		}
		// _struct.c aligns even for a zero count: "0l" pads to a long boundary.
		if ealign > 1 && size > 0 {
			var good bool
			if size, good = alignUp(size, ealign); !good {
				overflow = true
				continue
			}
		}
		if num > (math.MaxInt64-size)/esize {
			overflow = true
			continue
		}
		size += num * esize
	}
	return size, true, overflow
}

// structEntry gives a struct format character's size and alignment (0 size:
// not a struct character). Standard modes have no alignment and no n, N, P.
func structEntry(c byte, native bool) (size, align int64) {
	if !strings.ContainsRune("xcbB?hHiIlLqQnNefdspP", rune(c)) {
		return 0, 0
	}
	code := string(c)
	if !native && (c == 'n' || c == 'N' || c == 'P') {
		return 0, 0
	}
	size = scalarSize(code, native)
	if native {
		align = size // true of every native struct type on x86-64
	}
	return size, align
}
