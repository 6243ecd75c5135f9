package capi

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/pybuf-go/pybuf/pybuf/shm"
	"github.com/pybuf-go/pybuf/pybuf/status"
)

func TestShmKindsMatchHeaderStatuses(t *testing.T) {
	st := headerStatuses()
	assert.EqualValues(t, st[status.KindValue], status.KindValue)
	assert.EqualValues(t, st[status.KindOverflow], status.KindOverflow)
	assert.Equal(t, shm.MaxNameLen+1, headerNameLen())
}

// unmapAfter does at the end of a test what the shim does at release.
func unmapAfter(t *testing.T, r shmResult) {
	t.Cleanup(func() {
		_ = shm.Unlink(r.Name)
		require.NoError(t, unix.MunmapPtr(r.Address, uintptr(r.Size)))
	})
}

func TestShmCreateAttachUnlinkThroughTheABI(t *testing.T) {
	for _, name := range []*string{nil, ptr("")} {
		r := callShmCreate(name, 100, 0o600)
		require.Zero(t, r.Status, r.Msg)
		unmapAfter(t, r)
		assert.Empty(t, r.Msg)
		assert.True(t, r.NameNUL)
		assert.True(t, strings.HasPrefix(r.Name, "pybuf_"), r.Name)
		assert.EqualValues(t, 100, r.Size)
		assert.NotZero(t, r.Address)
	}

	r := callShmCreate(ptr("/pybuf_gotest_capi"), 4096, 0o600)
	require.Zero(t, r.Status, r.Msg)
	unmapAfter(t, r)
	assert.Equal(t, "pybuf_gotest_capi", r.Name, "the leading '/' is dropped")

	a := callShmAttach(ptr("pybuf_gotest_capi"), true)
	require.Zero(t, a.Status, a.Msg)
	unmapAfter(t, a)
	assert.Equal(t, "pybuf_gotest_capi", a.Name)
	assert.EqualValues(t, 4096, a.Size)

	u := callShmUnlink(ptr("/pybuf_gotest_capi"))
	require.Zero(t, u.Status, u.Msg)
	u = callShmUnlink(ptr("pybuf_gotest_capi"))
	require.Zero(t, u.Status, "unlink is idempotent: %s", u.Msg)
}

func TestShmErrorsThroughTheABI(t *testing.T) {
	const value, overflow = 1, 2
	for _, c := range []struct {
		r      shmResult
		status int32
		msg    string
	}{
		{callShmCreate(nil, 0, 0o600), value, "size must be at least 1 byte"},
		{callShmCreate(nil, 1<<63, 0o600), overflow, "size 9223372036854775808 is too large"},
		{callShmCreate(nil, 8, 0o1000), value, "mode 01000"},
		{callShmCreate(ptr("a/b"), 8, 0o600), value, `name "a/b": '/' is only allowed`},
		{callShmAttach(nil, false), value, `name "" is empty`},
		{callShmAttach(ptr("pybuf_gotest_capi_missing"), false), int32(status.KindNotFound),
			`name "pybuf_gotest_capi_missing": no such shared-memory segment`},
		{callShmUnlink(ptr("/x/y")), value, `name "/x/y"`},
	} {
		assert.Equal(t, c.status, c.r.Status, c.r.Msg)
		assert.True(t, strings.HasPrefix(c.r.Msg, c.msg), "%q should start with %q", c.r.Msg, c.msg)
	}
}
