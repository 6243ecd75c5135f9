package layout

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func requireStreamRefusal(t *testing.T, format string, kind Kind, contains string) {
	t.Helper()
	err := CheckStreamFormat(format)
	var e *Error
	require.ErrorAs(t, err, &e, "%.60q", format)
	assert.Equal(t, kind, e.Kind, e.Msg)
	assert.Contains(t, e.Msg, contains)
}

func TestStreamFormatUnnamedFieldsBounded(t *testing.T) {
	require.NoError(t, CheckStreamFormat(strings.Repeat("i", MaxStreamUnnamedFields)))
	requireStreamRefusal(t, strings.Repeat("i", MaxStreamUnnamedFields+1), KindValue,
		"format from a stream has 129 fields without a name; at most 128")
	requireStreamRefusal(t, strings.Repeat("i", 3000), KindValue, "3000 fields without a name")
}

func TestStreamFormatCountsEveryLevel(t *testing.T) {
	inner := "T{" + strings.Repeat("i", 64) + "}"
	// 2 structs, each unnamed, with 64 unnamed fields inside: 130
	requireStreamRefusal(t, inner+inner, KindValue, "130 fields without a name")
	for format, want := range map[string][2]int{
		"3000i": {1, 1}, "(1000,1000)d": {1, 1}, "T{i:a:d}": {3, 2}, "T{i:a:d:b:}:s:": {3, 0},
	} {
		fields, unnamed := countFields(format)
		assert.Equal(t, want, [2]int{fields, unnamed}, format)
	}
}

// named builds a struct format of n named one-byte fields.
func named(n int) string {
	var b strings.Builder
	b.WriteString("T{")
	for i := range n {
		b.WriteString("<b:f" + strconv.Itoa(i) + ":")
	}
	b.WriteString("}")
	return b.String()
}

func TestStreamFormatFieldsBounded(t *testing.T) {
	assert.NoError(t, CheckStreamFormat(named(MaxStreamFields-1)), "the struct itself is a field too")
	requireStreamRefusal(t, named(MaxStreamFields), KindValue, "format from a stream has 1025 fields; at most 1024")
}

func TestStreamFormatLengthBounded(t *testing.T) {
	long := "T{<i:" + strings.Repeat("n", MaxStreamFormatLen) + ":}"
	requireStreamRefusal(t, long, KindValue, "at most 65536 are accepted")
	assert.True(t, strings.HasPrefix(CheckStreamFormat(long).Error(), "format"))
}

func TestStreamFormatMustParse(t *testing.T) {
	requireStreamRefusal(t, "O", KindType, "object")
	requireStreamRefusal(t, "i\x00", KindNotPEP3118, "embedded NUL")
	require.NoError(t, CheckStreamFormat("<d"))
}

func TestStreamNumpyDtypeStringsAreShort(t *testing.T) {
	for _, s := range []string{"<f8", "<M8[ns]", "T{i", strings.Repeat("i,", MaxStreamDtypeLen/2)} {
		assert.NoError(t, CheckStreamFormat(s), "numpy.dtype() reads or refuses %q", s)
	}
	requireStreamRefusal(t, strings.Repeat("i4,", 100), KindValue,
		"format from a stream is not PEP 3118 and is 300 bytes long; at most 64 are accepted for a NumPy dtype string")
}

func TestFieldsOfStructFormats(t *testing.T) {
	fields, unnamed := countFields("<i h 2d")
	assert.Equal(t, [2]int{3, 3}, [2]int{fields, unnamed})
	fields, unnamed = countFields(" T{i")
	assert.Equal(t, [2]int{3, 3}, [2]int{fields, unnamed}, "unparsable: the length without spaces is the bound")
}
