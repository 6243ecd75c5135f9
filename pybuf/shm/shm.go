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

// AttachOptions are what the caller of Attach decides.
type AttachOptions struct {
	// Readonly maps PROT_READ, so a write through the mapping faults in the
	// kernel's eyes and NumPy's (the shim exports it read-only).
	Readonly bool
	// AllowForeign maps a segment another user owns. Off by default: its
	// owner can truncate it at any time, and every reader of a view then dies
	// of SIGBUS; a name that arrives from a pickle or a Dask header never
	// turns it on.
	AllowForeign bool
}

// euid is this process's effective uid; tests replace it to see their own
// segments as another user's.
var euid = unix.Geteuid

// Attach maps an existing segment, whole. A name is data from anywhere (a
// pickle, a Dask header): whatever /dev/shm holds under it must not block,
// redirect or outlive the checks here (see openSegment).
func Attach(name string, opts AttachOptions) (Mapping, error) {
	n, err := CleanName(name)
	if err != nil {
		return Mapping{}, err
	}
	fd, size, err := openSegment(n, opts)
	if err != nil {
		return Mapping{}, err
	}
	defer unix.Close(fd)
	prot := unix.PROT_READ | unix.PROT_WRITE
	if opts.Readonly {
		prot = unix.PROT_READ
	}
	addr, err := unix.MmapPtr(fd, 0, nil, uintptr(size), prot, unix.MAP_SHARED)
	if err != nil {
		return Mapping{}, status.Errorf(status.KindValue, "name", "name %q: cannot map the segment: %v", n, err)
	}
	return Mapping{Name: n, Addr: addr, Size: size}, nil
}

// openSegment opens the cleaned name n and checks, on the descriptor (so no
// rename in between matters), that it is a regular file of a usable size
// owned by this user (unless opts.AllowForeign). Anyone may mkfifo in
// /dev/shm, and a plain open of a FIFO waits for a writer forever: the open is
// non-blocking, and the flag is cleared once the file is known to be regular.
func openSegment(n string, opts AttachOptions) (fd int, size uint64, err error) {
	flags := unix.O_RDWR
	if opts.Readonly {
		flags = unix.O_RDONLY
	}
	fd, err = unix.Open(path(n), flags|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case err == unix.ENOENT:
		return -1, 0, status.Errorf(status.KindNotFound, "name", "name %q: no such shared-memory segment", n)
	case err == unix.EACCES && !opts.Readonly:
		return -1, 0, status.Errorf(status.KindValue, "name", "name %q: permission denied for read-write access (readonly=True may work)", n)
	case err == unix.ELOOP:
		return -1, 0, status.Errorf(status.KindValue, "name", "name %q is a symbolic link, not a shared-memory segment", n)
	case err == unix.ENXIO:
		// a FIFO or socket without a peer (O_NONBLOCK): not a segment either way
		return -1, 0, status.Errorf(status.KindValue, "name", "name %q is not a shared-memory segment", n)
	case err != nil:
		return -1, 0, status.Errorf(status.KindValue, "name", "name %q: cannot open the segment: %v", n, err)
	}
	size, err = checkSegment(fd, n, opts)
	if err == nil {
		err = clearNonblock(fd, n)
	}
	if err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	return fd, size, nil
}

// checkSegment is openSegment's verdict on what the descriptor is.
func checkSegment(fd int, n string, opts AttachOptions) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, status.Errorf(status.KindValue, "name", "name %q: cannot stat the segment: %v", n, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, status.Errorf(status.KindValue, "name", "name %q is not a shared-memory segment", n)
	}
	if me := euid(); int64(st.Uid) != int64(me) && !opts.AllowForeign {
		return 0, status.Errorf(status.KindValue, "name",
			"name %q: the segment belongs to uid %d, not to this process's uid %d; its owner can truncate it "+
				"under every reader (SIGBUS). Pass allow_foreign=True to attach it anyway", n, st.Uid, me)
	}
	if st.Size <= 0 {
		// mmap refuses length 0; a creator that has not sized it yet is the usual cause
		return 0, status.Errorf(status.KindValue, "name", "name %q: the segment is empty (size 0)", n)
	}
	return uint64(st.Size), nil
}

// clearNonblock leaves the descriptor as a blocking open would have, so
// nothing later depends on how it was opened.
func clearNonblock(fd int, n string) error {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	}
	if err != nil {
		return status.Errorf(status.KindValue, "name", "name %q: cannot set up the descriptor: %v", n, err)
	}
	return nil
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
