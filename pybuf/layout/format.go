package layout

import "strings"

// MaxDim matches NumPy's NPY_MAXDIMS, so every accepted layout is one NumPy can view.
const MaxDim = 64

// Format is what the rest of pybuf needs to know about a format string.
type Format struct {
	Itemsize int64
	DLCode   int32 // DLPack type code: -1 none, 0 int, 1 uint, 2 float, 5 complex, 6 bool
	DLBits   int32 // bits of the scalar when DLCode >= 0, else 0
}

// DLPack type codes (DLDataTypeCode); capi's header test checks them against
// pybuf/capi/dlpack.h.
const (
	DLNone    = -1
	DLInt     = 0
	DLUint    = 1
	DLFloat   = 2
	DLComplex = 5
	DLBool    = 6
)

// ParseFormat reads a format in the union of the struct module's grammar and
// NumPy's PEP 3118 dialect. The itemsize is struct.calcsize's wherever the
// struct module accepts the string, because that is what Python code packing
// such buffers expects; otherwise it is the size NumPy gives the format, so
// np.asarray agrees with the exported itemsize.
func ParseFormat(s string) (Format, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return Format{}, notPEP3118(s, "embedded NUL")
	}
	size, ok, overflow := structCalcsize(s)
	if !ok {
		var err *Error
		size, err = pep3118Itemsize(s)
		if err != nil {
			return Format{}, err
		}
	} else if overflow {
		return Format{}, errorf(KindOverflow, "dtype", "dtype: format %q is too large: its itemsize overflows", s)
	}
	if size == 0 {
		return Format{}, errorf(KindValue, "dtype", "dtype: format %q has itemsize 0", s)
	}
	code, nbits := dlpackType(stripSpace(s))
	return Format{Itemsize: size, DLCode: code, DLBits: nbits}, nil
}

func notPEP3118(s, why string) *Error {
	return errorf(KindNotPEP3118, "dtype", "dtype: not a PEP 3118 format: %q (%s)", s, why)
}

// isSpace is the set both CPython (Py_ISSPACE) and NumPy skip in formats.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// stripSpace drops whitespace outside :field names:, as NumPy does before
// parsing a buffer's format.
func stripSpace(s string) string {
	var b strings.Builder
	inName := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ':' {
			inName = !inName
		}
		if inName || !isSpace(c) {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// dlpackType classifies a format that describes one plain scalar in this
// machine's (little-endian) byte order; everything else has no DLPack type.
// An explicit count of 1 is still one scalar (NumPy makes no sub-array of it).
func dlpackType(s string) (int32, int32) {
	native := true
	if s != "" && strings.IndexByte("@=<^>!", s[0]) >= 0 {
		if s[0] == '>' || s[0] == '!' {
			return DLNone, 0
		}
		native = s[0] == '@' || s[0] == '^'
		s = s[1:]
	}
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	if n > 0 {
		if strings.TrimLeft(s[:n], "0") != "1" {
			return DLNone, 0
		}
		s = s[n:]
	}
	var code, size int32
	switch s {
	case "b", "h", "i", "l", "q", "n":
		code = DLInt
	case "B", "H", "I", "L", "Q", "N":
		code = DLUint
	case "e", "f", "d":
		code = DLFloat
	case "Zf", "Zd":
		code = DLComplex
	case "?":
		code = DLBool
	default:
		return DLNone, 0
	}
	if !native && (s == "n" || s == "N") {
		return DLNone, 0 // the struct module has no standard-size n/N
	}
	size = int32(scalarSize(s, native))
	return code, size * 8
}

// scalarSize is the size of a scalar type code in native or standard mode.
func scalarSize(code string, native bool) int64 {
	switch code {
	case "?", "c", "b", "B", "x", "s", "p":
		return 1
	case "h", "H", "e":
		return 2
	case "i", "I", "f", "w":
		return 4
	case "l", "L":
		if native {
			return 8 // LP64
		}
		return 4
	case "q", "Q", "d", "Zf", "n", "N", "P", "O":
		return 8
	case "Zd", "g":
		return 16
	case "Zg":
		return 32
	}
	return 0
}
