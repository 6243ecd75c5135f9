package pyname

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsIdentifier(t *testing.T) {
	for _, s := range []string{"x", "_x", "matmul", "a1", "Nonlocal", "__init__"} {
		assert.True(t, IsIdentifier(s), s)
	}
	for _, s := range []string{"", "1a", "lambda", "None", "a-b", "é", "a b"} {
		assert.False(t, IsIdentifier(s), s)
	}
}
