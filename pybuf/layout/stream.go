package layout

// Formats that arrive from a stream (a pickle, a Dask header) are data from
// whoever wrote the stream. Every format ParseFormat accepts is safe for pybuf
// itself, but NumPy's PEP 3118 reader is super-quadratic in fields without a
// name: "i"*3000 in a 15 KB pickle keeps np.asarray busy for seconds (named
// fields stay linear). A stream's format is therefore bounded, in length and in
// unnamed fields; formats given by local code are not.
const (
	// MaxStreamFormatLen is the longest format accepted from a stream, in bytes.
	MaxStreamFormatLen = 1 << 16
	// MaxStreamUnnamedFields is the most items without a ":name:" a stream's
	// format may have, counted over every level of nesting; NumPy reads 256 in
	// well under a tenth of a second.
	MaxStreamUnnamedFields = 256
)

// CheckStreamFormat checks a format that arrived from a stream: one
// ParseFormat accepts, within the bounds above. Errors name "format".
func CheckStreamFormat(s string) error {
	if len(s) > MaxStreamFormatLen {
		return errorf(KindValue, "format", "format from a stream is %d bytes long; at most %d are accepted",
			len(s), MaxStreamFormatLen)
	}
	if _, err := ParseFormat(s); err != nil {
		return err
	}
	if n := unnamedFields(s); n > MaxStreamUnnamedFields {
		return errorf(KindValue, "format", "format from a stream has %d fields without a name; at most %d are "+
			"accepted (NumPy's reader of such formats takes time growing faster than their square)",
			n, MaxStreamUnnamedFields)
	}
	return nil
}

// unnamedFields counts the items without a name at every level of a format
// ParseFormat accepted: what NumPy has to invent names for. Every format the
// struct module reads is also read by the PEP 3118 parser; should one not be,
// its length is the count (a bound: an item takes at least one byte).
func unnamedFields(s string) int {
	p := &pepParser{orig: s, s: stripSpace(s), order: '@'}
	if _, _, err := p.parseStruct(false); err != nil {
		return len(p.s)
	}
	return p.unnamed
}
