// Package shm creates, maps and removes POSIX shared-memory segments for
// pybuf.shm. It maps but never unmaps: the C shim munmaps a segment when its
// owner is released, which also happens in a process forked after the Go
// runtime started, where no Go code can run. MmapPtr is used because it keeps
// no record of the mapping that an munmap from C would leave stale.
package shm

import (
	"errors"
	"github.com/pybuf-go/pybuf/pybuf/status"
	"math"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Mapping is one whole segment mapped into this process.
type Mapping struct {
	Name string
	Addr unsafe.Pointer
	Size uint64
}

// createAttempts bounds the retries when a random name is already taken.
const createAttempts = 16

// Create makes a new segment of size bytes with permission bits mode (less
// the umask, as with shm_open) and maps it read-write. An empty name picks a
// fresh "pybuf_<hex>" one. An existing segment is never reused: two creators
// of one name would each believe they own it.
func Create(name string, size uint64, mode uint32) (Mapping, error) {
	if size == 0 {
		return Mapping{}, status.Errorf(status.KindValue, "size", "size must be at least 1 byte, not 0")
	}
	if size > math.MaxInt64 {
		return Mapping{}, status.Errorf(status.KindOverflow, "size", "size %d is too large", size)
	}
	if mode&^0o777 != 0 {
		return Mapping{}, status.Errorf(status.KindValue, "mode", "mode %#o has bits other than permissions (0o777)", mode)
	}
	if name != "" {
		n, err := CleanName(name)
		if err != nil {
			return Mapping{}, err
		}
		return create(n, size, mode)
	}
	for range createAttempts - 1 {
		m, err := create(randomName(), size, mode)
		var e *status.Error
		if !errors.As(err, &e) || e.Arg != "name" {
			return m, err
		}
	}
	return create(randomName(), size, mode)
}

func create(name string, size uint64, mode uint32) (Mapping, error) {
	p := path(name)
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	switch {
	case err == unix.EEXIST:
		return Mapping{}, status.Errorf(status.KindValue, "name", "name %q: a shared-memory segment of that name already exists", name)
	case err != nil:
		return Mapping{}, status.Errorf(status.KindValue, "name", "name %q: cannot create the segment: %v", name, err)
	}
	defer unix.Close(fd) // the mapping does not need the descriptor
	done := false
	defer func() {
		if !done {
			_ = unix.Unlink(p) // nobody got the name: leave nothing behind
		}
	}()
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return Mapping{}, status.Errorf(status.KindValue, "size", "size %d: cannot size the segment: %v", size, err)
	}
	if err := reserve(fd, size); err != nil {
		return Mapping{}, err
	}
	addr, err := unix.MmapPtr(fd, 0, nil, uintptr(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return Mapping{}, status.Errorf(status.KindValue, "size", "size %d: cannot map the segment: %v", size, err)
	}
	done = true
	return Mapping{Name: name, Addr: addr, Size: size}, nil
}

// reserve allocates the segment's pages now. A tmpfs file is sparse: without
// this, a segment larger than the free room in /dev/shm (64 MiB in a default
// Docker container) is created fine and the process dies of SIGBUS when it
// first touches a page that cannot be backed.
func reserve(fd int, size uint64) error {
	err := unix.Fallocate(fd, 0, 0, int64(size))
	switch {
	case err == nil, err == unix.EOPNOTSUPP, err == unix.ENOSYS:
		return nil // a file system without fallocate: nothing better to do
	case err == unix.ENOSPC, err == unix.ENOMEM:
		var st unix.Statfs_t
		free := "unknown"
		if unix.Fstatfs(fd, &st) == nil {
			free = formatBytes(st.Bavail * uint64(st.Bsize))
		}
		return status.Errorf(status.KindValue, "size", "size %d: not enough room in %s (%s free)", size, Dir, free)
	default:
		return status.Errorf(status.KindValue, "size", "size %d: cannot allocate the segment: %v", size, err)
	}
}

// Attach maps an existing segment, whole; read-only mappings are PROT_READ,
// so a write through one faults in the kernel's eyes and NumPy's (the shim
// exports them read-only).
func Attach(name string, readonly bool) (Mapping, error) {
	n, err := CleanName(name)
	if err != nil {
		return Mapping{}, err
	}
	flags, prot := unix.O_RDWR, unix.PROT_READ|unix.PROT_WRITE
	if readonly {
		flags, prot = unix.O_RDONLY, unix.PROT_READ
	}
	fd, err := unix.Open(path(n), flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case err == unix.ENOENT:
		return Mapping{}, status.Errorf(status.KindNotFound, "name", "name %q: no such shared-memory segment", n)
	case err == unix.EACCES && !readonly:
		return Mapping{}, status.Errorf(status.KindValue, "name", "name %q: permission denied for read-write access (readonly=True may work)", n)
	case err == unix.ELOOP:
		return Mapping{}, status.Errorf(status.KindValue, "name", "name %q is a symbolic link, not a shared-memory segment", n)
	case err != nil:
		return Mapping{}, status.Errorf(status.KindValue, "name", "name %q: cannot open the segment: %v", n, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return Mapping{}, status.Errorf(status.KindValue, "name", "name %q: cannot stat the segment: %v", n, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return Mapping{}, status.Errorf(status.KindValue, "name", "name %q is not a shared-memory segment", n)
	}
	if st.Size <= 0 {
		// mmap refuses length 0; a creator that has not sized it yet is the usual cause
		return Mapping{}, status.Errorf(status.KindValue, "name", "name %q: the segment is empty (size 0)", n)
	}
	size := uint64(st.Size)
	addr, err := unix.MmapPtr(fd, 0, nil, uintptr(size), prot, unix.MAP_SHARED)
	if err != nil {
		return Mapping{}, status.Errorf(status.KindValue, "name", "name %q: cannot map the segment: %v", n, err)
	}
	return Mapping{Name: n, Addr: addr, Size: size}, nil
}

// Unlink removes a segment's name. Processes that map it keep their memory;
// the kernel frees it after the last unmap. A missing name is not an error,
// so that every party may unlink when it is done with the name.
func Unlink(name string) error {
	n, err := CleanName(name)
	if err != nil {
		return err
	}
	if err := unix.Unlink(path(n)); err != nil && err != unix.ENOENT {
		return status.Errorf(status.KindValue, "name", "name %q: cannot unlink the segment: %v", n, err)
	}
	return nil
}
