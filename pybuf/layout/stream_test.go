package layout

import (
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
		"format from a stream has 257 fields without a name; at most 256")
	requireStreamRefusal(t, strings.Repeat("i", 3000), KindValue, "3000 fields without a name")
}

func TestStreamFormatCountsEveryLevel(t *testing.T) {
	inner := "T{" + strings.Repeat("i", 200) + "}"
	// 2 structs, each unnamed, with 200 unnamed fields inside: 402
	requireStreamRefusal(t, inner+inner, KindValue, "402 fields without a name")
	assert.Equal(t, 1, unnamedFields("3000i"), "a repeat count is one sub-array field")
	assert.Equal(t, 1, unnamedFields("(1000,1000)d"))
	assert.Equal(t, 2, unnamedFields("T{i:a:d}"))
}

func TestStreamFormatNamedFieldsAreLinearForNumPy(t *testing.T) {
	var b strings.Builder
	b.WriteString("T{")
	for i := range 2000 {
		b.WriteString("<i:f" + strings.Repeat("x", 3) + itoa(i) + ":")
	}
	b.WriteString("}")
	assert.NoError(t, CheckStreamFormat(b.String()))
	assert.Equal(t, 1, unnamedFields(b.String()))
}

func TestStreamFormatLengthBounded(t *testing.T) {
	long := "T{<i:" + strings.Repeat("n", MaxStreamFormatLen) + ":}"
	requireStreamRefusal(t, long, KindValue, "at most 65536 are accepted")
	assert.True(t, strings.HasPrefix(CheckStreamFormat(long).Error(), "format"))
}

func TestStreamFormatMustParse(t *testing.T) {
	requireStreamRefusal(t, "T{i", KindNotPEP3118, "not a PEP 3118 format")
	requireStreamRefusal(t, "O", KindType, "object")
	require.NoError(t, CheckStreamFormat("<d"))
}

func TestUnnamedFieldsOfStructFormats(t *testing.T) {
	assert.Equal(t, 3, unnamedFields("<i h 2d"))
	assert.Equal(t, 3, unnamedFields(" T{i"), "unparsable: the length without spaces is the bound")
}

func itoa(i int) string {
	s := ""
	for {
		s = string(rune('0'+i%10)) + s
		if i /= 10; i == 0 {
			return s
		}
	}
}
