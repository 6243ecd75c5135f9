package shm

import (
	"crypto/rand"
	"encoding/hex"
	"github.com/pybuf-go/pybuf/pybuf/status"
	"strings"
)

// MaxNameLen is the longest name accepted, in bytes: the C ABI hands names
// back in a 128-byte field (PYBUF_NAMELEN) that also holds the NUL.
const MaxNameLen = 127

// Dir is where Linux keeps POSIX shared memory; shm_open(3) opens
// Dir/<name>, so segments made here and by shm_open (Python's SharedMemory,
// C programs) are the same objects.
const Dir = "/dev/shm"

// CleanName returns name without its optional leading '/', or an error when
// it is not a usable segment name. A '/' anywhere else would reach another
// directory than Dir, so it is refused rather than interpreted.
func CleanName(name string) (string, error) {
	n := strings.TrimPrefix(name, "/")
	switch {
	case n == "":
		return "", status.Errorf(status.KindValue, "name", "name %q is empty: give a segment name such as \"frames\"", name)
	case strings.ContainsRune(n, '/'):
		return "", status.Errorf(status.KindValue, "name", "name %q: '/' is only allowed as the first character", name)
	case strings.ContainsRune(n, 0):
		return "", status.Errorf(status.KindValue, "name", "name %q contains a NUL character", name)
	case n == "." || n == "..":
		return "", status.Errorf(status.KindValue, "name", "name %q is not a segment name", name)
	case len(n) > MaxNameLen:
		return "", status.Errorf(status.KindValue, "name", "name %.40q... is %d bytes long; at most %d are allowed",
			n, len(n), MaxNameLen)
	}
	return n, nil
}

// path is the file behind an already cleaned name.
func path(name string) string { return Dir + "/" + name }

// randomName is a fresh name for create(name=None); 64 random bits make a
// clash (retried by the caller anyway) practically impossible.
func randomName() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails on Linux (getrandom)
	return "pybuf_" + hex.EncodeToString(b[:])
}
