package layout

import (
	"errors"
	"strings"
)

// Formats that arrive from a stream (a pickle, a Dask header) are data from
// whoever wrote the stream. Every format ParseFormat accepts is safe for pybuf
// itself, but NumPy's PEP 3118 reader takes time growing faster than the
// square of the number of fields, and much faster for fields without a name:
// "i"*3000 in a 15 KB pickle keeps np.asarray busy for many seconds (NumPy 2.4:
// 128 unnamed fields 0.04 s, 256 0.3 s; 1,000 named 0.16 s, 4,000 1.2 s). A
// stream's format is therefore bounded; formats given by local code are not.
const (
	// MaxStreamFormatLen is the longest format accepted from a stream, in bytes.
	MaxStreamFormatLen = 1 << 16
	// MaxStreamFields is the most items a stream's format may have, counted
	// over every level of nesting.
	MaxStreamFields = 1024
	// MaxStreamUnnamedFields is the most of those without a ":name:".
	MaxStreamUnnamedFields = 128
	// MaxStreamDtypeLen bounds a string that is no PEP 3118 format, which the
	// shim hands to numpy.dtype(): Dask sends a NumPy array's dtype.str
	// ("<f8", "<M8[ns]"), and a short string makes few fields ("i,i,...").
	MaxStreamDtypeLen = 64
)

// CheckStreamFormat checks a format that arrived from a stream: one
// ParseFormat accepts, within the bounds above, or a short string for
// numpy.dtype(). Bound errors name "format".
func CheckStreamFormat(s string) error {
	if len(s) > MaxStreamFormatLen {
		return errorf(KindValue, "format", "format from a stream is %d bytes long; at most %d are accepted",
			len(s), MaxStreamFormatLen)
	}
	if _, err := ParseFormat(s); err != nil {
		var e *Error
		switch {
		case !errors.As(err, &e) || e.Kind != KindNotPEP3118 || strings.IndexByte(s, 0) >= 0:
			return err
		case len(s) <= MaxStreamDtypeLen:
			return nil // numpy.dtype's to read (or refuse), as for local code
		default:
			return errorf(KindValue, "format", "format from a stream is not PEP 3118 and is %d bytes long; "+
				"at most %d are accepted for a NumPy dtype string", len(s), MaxStreamDtypeLen)
		}
	}
	fields, unnamed := countFields(s)
	switch {
	case unnamed > MaxStreamUnnamedFields:
		return errorf(KindValue, "format", "format from a stream has %d fields without a name; at most %d are "+
			"accepted (NumPy's reader takes time growing faster than their square)", unnamed, MaxStreamUnnamedFields)
	case fields > MaxStreamFields:
		return errorf(KindValue, "format", "format from a stream has %d fields; at most %d are "+
			"accepted (NumPy's reader takes time growing faster than their number)", fields, MaxStreamFields)
	}
	return nil
}

// countFields counts the items, and those without a name, at every level of a
// format ParseFormat accepted: what NumPy makes fields of (and has to invent
// names for). Every format the struct module reads is also read by the PEP
// 3118 parser; should one not be, its length is both counts (a bound: an item
// takes at least one byte).
func countFields(s string) (fields, unnamed int) {
	p := &pepParser{orig: s, s: stripSpace(s), order: '@'}
	if _, _, err := p.parseStruct(false); err != nil {
		return len(p.s), len(p.s)
	}
	return p.fields, p.unnamed
}
