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

	a := callShmAttach(ptr("pybuf_gotest_capi"), shmFlags(true, false))
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
		{callShmAttach(nil, 0), value, `name "" is empty`},
		{callShmAttach(ptr("pybuf_gotest_capi_missing"), 0), int32(status.KindNotFound),
			`name "pybuf_gotest_capi_missing": no such shared-memory segment`},
		{callShmUnlink(ptr("/x/y")), value, `name "/x/y"`},
	} {
		assert.Equal(t, c.status, c.r.Status, c.r.Msg)
		assert.True(t, strings.HasPrefix(c.r.Msg, c.msg), "%q should start with %q", c.r.Msg, c.msg)
	}
}

func TestShmNamesKeepTheirNulThroughTheABI(t *testing.T) {
	r := callShmCreate(ptr("pybuf_gotest_capi_nul"), 64, 0o600)
	require.Zero(t, r.Status, r.Msg)
	unmapAfter(t, r)
	bad := ptr("pybuf_gotest_capi_nul\x00.tenant-b")
	for _, res := range []shmResult{
		callShmAttach(bad, 0), callShmUnlink(bad), callShmCreate(ptr("pybuf_gotest_capi_nul2\x00x"), 64, 0o600),
	} {
		assert.EqualValues(t, status.KindValue, res.Status)
		assert.Contains(t, res.Msg, "contains a NUL character")
		assert.True(t, strings.HasPrefix(res.Msg, "name "), res.Msg)
	}
	_, err := unix.Open(shm.Dir+"/pybuf_gotest_capi_nul2", unix.O_RDONLY, 0)
	assert.ErrorIs(t, err, unix.ENOENT, "nothing created under the name before the NUL")
	a := callShmAttach(ptr("pybuf_gotest_capi_nul"), 0)
	require.Zero(t, a.Status, "the segment itself is still there: %s", a.Msg)
	unmapAfter(t, a)
}

func TestShmNameLengthIsTheCallers(t *testing.T) {
	// Only the bytes the length covers are the name: "pybuf_x" of "pybuf_xyz".
	u := callShmUnlinkLen("pybuf_gotest_capi_len/", int64(len("pybuf_gotest_capi_len")))
	assert.Zero(t, u.Status, u.Msg)
	u = callShmUnlinkLen("pybuf_gotest_capi_len", -1)
	assert.EqualValues(t, status.KindValue, u.Status)
	assert.Equal(t, "name length -1 is negative", u.Msg)
}

func TestShmAttachFlags(t *testing.T) {
	r := callShmAttach(ptr("pybuf_gotest_capi_flags"), 4)
	assert.EqualValues(t, status.KindValue, r.Status)
	assert.Equal(t, "flags 0x4 has unknown bits", r.Msg)
	assert.Equal(t, int32(1), shmFlags(true, false))
	assert.Equal(t, int32(2), shmFlags(false, true))
}

func TestStreamFormatThroughTheABI(t *testing.T) {
	st, msg := callCheckStreamFormat(strings.Repeat("i", 300))
	assert.EqualValues(t, status.KindValue, st)
	assert.True(t, strings.HasPrefix(msg, "format from a stream has 300 fields without a name"), msg)
	st, msg = callCheckStreamFormat("T{<i:a:}")
	assert.Zero(t, st, msg)
	assert.Empty(t, msg)
	st, msg = callCheckStreamFormat("i\x00" + strings.Repeat("i", 300))
	assert.EqualValues(t, status.KindNotPEP3118, st, "the whole string is checked, NUL and all")
	assert.True(t, strings.HasPrefix(msg, `dtype: not a PEP 3118 format: "i\x00iii`), msg)
}
