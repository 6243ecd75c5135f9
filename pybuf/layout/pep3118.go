package layout

import (
	"math"
	"strings"
)

// pep3118Itemsize sizes a format the struct module rejects, following NumPy's
// numpy/_core/_internal.py (__dtype_from_pep3118) after NumPy's whitespace
// stripping. It is stricter than NumPy where NumPy is merely lenient
// (unterminated "T{", text after a stray "}", "+" or "_" in sub-array dims),
// and it also sizes the native-only struct codes n, N, p, P, which NumPy lacks.
func pep3118Itemsize(orig string) (int64, *Error) {
	p := &pepParser{orig: orig, s: stripSpace(orig), order: '@'}
	size, _, err := p.parseStruct(false)
	switch {
	case err != nil:
		return 0, err
	case p.object:
		return 0, errorf(KindType, "dtype", "dtype: format %q has object fields ('O'); objects cannot come from foreign memory", orig)
	case p.dup != "":
		return 0, errorf(KindValue, "dtype", "dtype: format %q has the field name %q twice", orig, p.dup)
	case p.overflow:
		return 0, errorf(KindOverflow, "dtype", "dtype: format %q is too large: its itemsize overflows", orig)
	case p.zeroSub:
		return 0, errorf(KindValue, "dtype", "dtype: format %q repeats a zero-size item, which NumPy cannot represent", orig)
	}
	return size, nil
}

// pepParser reports syntax errors at once, but only records semantic ones
// (objects, duplicate names, overflow) so that a malformed string is always
// KindNotPEP3118, whatever else is wrong with it.
type pepParser struct {
	orig     string
	s        string
	pos      int
	order    byte // current byte order; like NumPy's stream it survives leaving a T{}
	object   bool
	dup      string
	overflow bool
	zeroSub  bool
	fields   int // items at every level, and those without a ":name:" (see countFields)
	unnamed  int
}

func (p *pepParser) fail(why string) *Error { return notPEP3118(p.orig, why) }

func (p *pepParser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

// number reads decimal digits; a value past int64 sets p.overflow.
func (p *pepParser) number() (int64, bool) {
	start := p.pos
	var v int64
	for p.pos < len(p.s) && isDigit(p.s[p.pos]) {
		d := int64(p.s[p.pos] - '0')
		if v > (math.MaxInt64-d)/10 {
			p.overflow = true
			v = 0
		}
		v = v*10 + d
		p.pos++
	}
	return v, p.pos > start
}

func (p *pepParser) mul(a, b int64) int64 {
	r, ok := mul64(a, b)
	if !ok {
		p.overflow = true
	}
	return r
}

// parseStruct returns the size and common alignment of a field list: the
// top level, or the inside of "T{...}" (nested) up to its "}".
func (p *pepParser) parseStruct(nested bool) (int64, int64, *Error) {
	var offset int64
	common := int64(1)
	names := map[string]bool{}
	for {
		if p.pos == len(p.s) {
			if nested {
				return 0, 0, p.fail(`"T{" without "}"`)
			}
			break
		}
		if p.peek() == '}' {
			if !nested {
				return 0, 0, p.fail(`"}" without "T{"`)
			}
			p.pos++
			break
		}
		size, align, err := p.parseItem()
		if err != nil {
			return 0, 0, err
		}
		p.fields++
		name, named := "", false
		if p.peek() == ':' {
			end := strings.IndexByte(p.s[p.pos+1:], ':')
			if end < 0 {
				return 0, 0, p.fail("field name without closing ':'")
			}
			name, named = p.s[p.pos+1:p.pos+1+end], true
			p.pos += end + 2
		}
		if named { // unnamed fields get fresh names from NumPy, never duplicates
			if names[name] && p.dup == "" {
				p.dup = name
			}
			names[name] = true
		} else {
			p.unnamed++
		}
		if p.overflow {
			continue // sizes are meaningless now; keep checking the syntax
		}
		if p.order == '@' {
			// Only '@' aligns ('^' is native size, unaligned). No padding
			// inside an item is needed: every aligned item's size is
			// already a multiple of its alignment.
			var ok bool
			if offset, ok = alignUp(offset, align); !ok {
				p.overflow = true
				continue
			}
			common = common / gcd(common, align) * align
		}
		var ok bool
		if offset, ok = add64(offset, size); !ok {
			p.overflow = true
		}
	}
	if p.order == '@' && !p.overflow {
		var ok bool
		if offset, ok = alignUp(offset, common); !ok {
			p.overflow = true
		}
	}
	return offset, common, nil
}

// parseItem reads "[(dims)][byteorder][count]type" and returns the item's total
// size and its alignment.
func (p *pepParser) parseItem() (size, align int64, err *Error) {
	elems, hasShape := int64(1), p.peek() == '('
	if hasShape {
		p.pos++
		for {
			d, ok := p.number()
			if !ok {
				return 0, 0, p.fail("sub-array dimensions must be decimal integers")
			}
			elems = p.mul(elems, d)
			if p.peek() == ',' {
				p.pos++
				continue
			}
			if p.peek() != ')' {
				return 0, 0, p.fail(`sub-array shape without ")"`)
			}
			p.pos++
			break
		}
	}
	if c := p.peek(); c != 0 && strings.IndexByte("@=<>^!", c) >= 0 {
		p.order = c
		p.pos++
	}
	count, hasCount := p.number()
	if !hasCount {
		count = 1
	}
	native := p.order == '@' || p.order == '^'

	var base int64
	isStruct := false
	switch c := p.peek(); {
	case c == 0:
		return 0, 0, p.fail("missing type character")
	case strings.HasPrefix(p.s[p.pos:], "T{"):
		p.pos += 2
		isStruct = true
		base, align, err = p.parseStruct(true)
		if err != nil {
			return 0, 0, err
		}
	case c == 'Z':
		code := p.s[p.pos:min(p.pos+2, len(p.s))]
		if code != "Zf" && code != "Zd" && !(native && code == "Zg") {
			return 0, 0, p.fail("unknown type " + code)
		}
		p.pos += 2
		base = scalarSize(code, native)
		align = base / 2 // a complex aligns like its real part
	case strings.IndexByte("sxpw", c) >= 0:
		// A count sizes the string itself rather than repeating it.
		p.pos++
		unit := scalarSize(string(c), native)
		base, align = p.mul(count, unit), unit
		count = 1
	case c == 'O':
		p.pos++
		p.object = true
		base, align = 8, 8
	case strings.IndexByte("?cbBhHiIlLqQefd", c) >= 0 || native && strings.IndexByte("gnNP", c) >= 0:
		p.pos++
		base = scalarSize(string(c), native)
		align = base // true of every scalar NumPy and struct know here
	case strings.IndexByte("uatX&", c) >= 0:
		return 0, 0, p.fail("type " + string(c) + " is not supported by NumPy")
	default:
		return 0, 0, p.fail("unknown type " + string(c))
	}
	// NumPy cannot make a sub-array (from a count or a shape) of a zero-size
	// element unless it is a struct, so such formats would be unreadable by
	// np.asarray.
	if count != 1 {
		p.zeroSub = p.zeroSub || base == 0 && !isStruct
		base, isStruct = p.mul(base, count), false
	}
	if hasShape {
		p.zeroSub = p.zeroSub || base == 0 && !isStruct
		base = p.mul(base, elems)
	}
	return base, align, nil
}
