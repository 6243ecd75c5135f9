package shm

import (
	"fmt"
	"github.com/pybuf-go/pybuf/pybuf/status"
	"math"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func requireKind(t *testing.T, err error, kind status.Kind, arg, contains string) {
	t.Helper()
	var e *status.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, kind, e.Kind, e.Msg)
	assert.Equal(t, arg, e.Arg, e.Msg)
	assert.True(t, strings.HasPrefix(e.Msg, arg), "message names the argument first: %q", e.Msg)
	assert.Contains(t, e.Msg, contains)
}

// bytesOf is the mapping as a Go slice, for reading and writing in tests.
func bytesOf(m Mapping) []byte { return unsafe.Slice((*byte)(m.Addr), m.Size) }

// mapped creates a segment and removes it (name and mapping) after the test.
func mapped(t *testing.T, name string, size uint64) Mapping {
	t.Helper()
	m, err := Create(name, size, 0o600)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = Unlink(m.Name)
		require.NoError(t, unix.MunmapPtr(m.Addr, uintptr(m.Size)))
	})
	return m
}

func uniqueName(t *testing.T) string {
	return strings.ReplaceAll("pybuf_gotest_"+t.Name(), "/", "_")
}

func TestCreateRandomNameIsZeroFilledAndSized(t *testing.T) {
	m := mapped(t, "", 10000)
	assert.Regexp(t, `^pybuf_[0-9a-f]{16}$`, m.Name)
	assert.EqualValues(t, 10000, m.Size)
	assert.Equal(t, make([]byte, 10000), bytesOf(m))
	fi, err := os.Stat(Dir + "/" + m.Name)
	require.NoError(t, err)
	assert.EqualValues(t, 10000, fi.Size())
	assert.Zero(t, fi.Mode().Perm()&^0o600, "no permission beyond mode (less the umask)")
}

func TestAttachSeesTheCreatorsWrites(t *testing.T) {
	m := mapped(t, "/"+uniqueName(t), 4096)
	assert.Equal(t, uniqueName(t), m.Name, "the leading '/' is dropped")
	copy(bytesOf(m), "hello")

	a, err := Attach(m.Name, AttachOptions{})
	require.NoError(t, err)
	defer unix.MunmapPtr(a.Addr, uintptr(a.Size))
	assert.NotEqual(t, m.Addr, a.Addr, "a second mapping of the same pages")
	assert.EqualValues(t, 4096, a.Size)
	assert.Equal(t, "hello", string(bytesOf(a)[:5]))
	bytesOf(a)[0] = 'J'
	assert.Equal(t, "Jello", string(bytesOf(m)[:5]))
}

func TestUnlinkKeepsMappingsValidAndIsIdempotent(t *testing.T) {
	m := mapped(t, uniqueName(t), 64)
	require.NoError(t, Unlink("/"+m.Name))
	require.NoError(t, Unlink(m.Name), "a second unlink is fine")
	bytesOf(m)[63] = 7
	assert.EqualValues(t, 7, bytesOf(m)[63])
	_, err := Attach(m.Name, AttachOptions{})
	requireKind(t, err, status.KindNotFound, "name", "no such shared-memory segment")
}

func TestReadonlyAttachMapsReadOnly(t *testing.T) {
	m := mapped(t, uniqueName(t), 4096)
	bytesOf(m)[0] = 42
	a, err := Attach(m.Name, AttachOptions{Readonly: true})
	require.NoError(t, err)
	defer unix.MunmapPtr(a.Addr, uintptr(a.Size))
	assert.EqualValues(t, 42, bytesOf(a)[0])
	// The kernel shows the mapping as read-only and shared.
	maps, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	for _, line := range strings.Split(string(maps), "\n") {
		if strings.HasSuffix(line, Dir+"/"+m.Name) && strings.HasPrefix(line, fmt.Sprintf("%x-", uintptr(a.Addr))) {
			assert.Contains(t, line, " r--s ")
			return
		}
	}
	t.Fatalf("mapping of %s not found in /proc/self/maps", m.Name)
}

func TestCreateRefusesAnExistingName(t *testing.T) {
	m := mapped(t, uniqueName(t), 64)
	_, err := Create(m.Name, 64, 0o600)
	requireKind(t, err, status.KindValue, "name", "already exists")
}

func TestCreateBadArguments(t *testing.T) {
	_, err := Create("", 0, 0o600)
	requireKind(t, err, status.KindValue, "size", "not 0")
	_, err = Create("", math.MaxInt64+1, 0o600)
	requireKind(t, err, status.KindOverflow, "size", "too large")
	_, err = Create("", 64, 0o4600)
	requireKind(t, err, status.KindValue, "mode", "0o777")
	_, err = Create("a/b", 64, 0o600)
	requireKind(t, err, status.KindValue, "name", "'/'")
}

func TestCreateTooLargeForDevShmFailsCleanly(t *testing.T) {
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(Dir, &st))
	size := st.Blocks*uint64(st.Bsize) + 1<<30 // more than the file system holds
	name := uniqueName(t)
	_, err := Create(name, size, 0o600)
	requireKind(t, err, status.KindValue, "size", "")
	_, statErr := os.Stat(Dir + "/" + name)
	assert.True(t, os.IsNotExist(statErr), "a failed create leaves no name behind")
}

func TestAttachErrors(t *testing.T) {
	_, err := Attach("pybuf_gotest_missing_segment", AttachOptions{})
	requireKind(t, err, status.KindNotFound, "name", `"pybuf_gotest_missing_segment": no such shared-memory segment`)

	// Created by someone who has not sized it yet.
	name := uniqueName(t)
	fd, err := unix.Open(Dir+"/"+name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600)
	require.NoError(t, err)
	unix.Close(fd)
	defer Unlink(name)
	_, err = Attach(name, AttachOptions{})
	requireKind(t, err, status.KindValue, "name", "empty")
}

func TestAttachRefusesSymlinks(t *testing.T) {
	name := uniqueName(t)
	require.NoError(t, os.Symlink("/etc/passwd", Dir+"/"+name))
	defer os.Remove(Dir + "/" + name)
	_, err := Attach(name, AttachOptions{Readonly: true})
	requireKind(t, err, status.KindValue, "name", "symbolic link")
}

func TestAttachRefusesAFifoWithoutWaitingForAWriter(t *testing.T) {
	name := uniqueName(t)
	require.NoError(t, unix.Mkfifo(Dir+"/"+name, 0o600))
	defer os.Remove(Dir + "/" + name)
	for _, opts := range []AttachOptions{{Readonly: true}, {}, {AllowForeign: true}} {
		_, err := Attach(name, opts) // a blocking open would never return here
		requireKind(t, err, status.KindValue, "name", fmt.Sprintf("name %q is not a shared-memory segment", name))
	}
}

func TestAttachLeavesTheDescriptorBlocking(t *testing.T) {
	m := mapped(t, uniqueName(t), 64)
	fd, size, err := openSegment(m.Name, AttachOptions{})
	require.NoError(t, err)
	defer unix.Close(fd)
	assert.EqualValues(t, 64, size)
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	require.NoError(t, err)
	assert.Zero(t, fl&unix.O_NONBLOCK)
}

// asAnotherUser makes every segment look foreign for the rest of the test.
func asAnotherUser(t *testing.T) int {
	me := unix.Geteuid()
	euid = func() int { return me + 1 }
	t.Cleanup(func() { euid = unix.Geteuid })
	return me
}

func TestAttachRefusesAForeignSegmentNamingItsUid(t *testing.T) {
	m := mapped(t, uniqueName(t), 64)
	owner := asAnotherUser(t)
	for _, readonly := range []bool{false, true} {
		_, err := Attach(m.Name, AttachOptions{Readonly: readonly})
		requireKind(t, err, status.KindValue, "name",
			fmt.Sprintf("belongs to uid %d, not to this process's uid %d", owner, owner+1))
		assert.ErrorContains(t, err, "allow_foreign=True")
	}
}

func TestAttachMapsAForeignSegmentWhenAllowed(t *testing.T) {
	m := mapped(t, uniqueName(t), 64)
	copy(bytesOf(m), "shared")
	asAnotherUser(t)
	a, err := Attach(m.Name, AttachOptions{AllowForeign: true, Readonly: true})
	require.NoError(t, err)
	defer unix.MunmapPtr(a.Addr, uintptr(a.Size))
	assert.Equal(t, "shared", string(bytesOf(a)[:6]))
}

func TestNamesWithANulActOnNothing(t *testing.T) {
	m := mapped(t, uniqueName(t), 64)
	bad := m.Name + "\x00.tenant-b"
	_, err := Attach(bad, AttachOptions{})
	requireKind(t, err, status.KindValue, "name", "NUL")
	requireKind(t, Unlink(bad), status.KindValue, "name", "NUL")
	_, statErr := os.Stat(Dir + "/" + m.Name)
	assert.NoError(t, statErr, "the segment before the NUL is still there")
	fresh := uniqueName(t) + "_fresh"
	_, err = Create(fresh+"\x00suffix", 64, 0o600)
	requireKind(t, err, status.KindValue, "name", "NUL")
	_, statErr = os.Stat(Dir + "/" + fresh)
	assert.True(t, os.IsNotExist(statErr), "nothing was created under the name before the NUL")
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{"a": "a", "/a": "a", "pybuf_x.y-z": "pybuf_x.y-z"} {
		got, err := CleanName(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for in, why := range map[string]string{
		"": "empty", "/": "empty", "a/b": "'/'", "//a": "'/'", "a/": "'/'",
		"..": "not a segment name", "/.": "not a segment name", "a\x00b": "NUL",
		strings.Repeat("n", MaxNameLen+1): "at most 127",
	} {
		_, err := CleanName(in)
		requireKind(t, err, status.KindValue, "name", why)
	}
	got, err := CleanName("/" + strings.Repeat("n", MaxNameLen))
	require.NoError(t, err)
	assert.Len(t, got, MaxNameLen)
}

func TestUnlinkChecksTheName(t *testing.T) {
	requireKind(t, Unlink("../etc/passwd"), status.KindValue, "name", "'/'")
	assert.NoError(t, Unlink("pybuf_gotest_never_existed"))
}

func TestFormatBytes(t *testing.T) {
	assert.Equal(t, "12 B", formatBytes(12))
	assert.Equal(t, "1.5 KiB", formatBytes(1536))
	assert.Equal(t, "64.0 MiB", formatBytes(64<<20))
}
