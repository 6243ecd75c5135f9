package gomem

/*
#include <stdlib.h>

// The C allocator, as NumPy's own arrays use it: freed blocks are reused
// (a page the process has touched costs nothing more), and calloc leaves
// the zeroing of new pages to the kernel, which hands them out zeroed at
// first touch.
static void *gomem_fresh_alloc(size_t n, int zeroed) { return zeroed ? calloc(1, n) : malloc(n); }
static void gomem_fresh_free(void *p) { free(p); }
*/
import "C"

import (
	"fmt"
	"reflect"
	"runtime"
	"sort"
	"sync"
	"unsafe"
)

// Fresh memory is for results: a block of the C allocator outside Go's
// heap (so Go neither zeroes, scans nor pins it), which becomes Python's
// when it is exported, and is freed by the export's release after the last
// view. Until then it is the Go code's, which gives back a block it does not
// export with FreeFresh.

type freshBlock struct {
	p        unsafe.Pointer // C memory: the collector ignores it
	base     uintptr
	size     uintptr
	exported bool
}

// fresh holds every live block, sorted by base, so that an export finds the
// block holding its first byte.
var fresh = struct {
	sync.Mutex
	blocks []*freshBlock
}{}

// Fresh is a new zeroed slice of n elements in memory pybuf owns (see
// above): export it (return it from a pymod function, or ExportSlice,
// ExportStrided, ...) and Python owns it, without a copy or a pin; its
// release frees it. It must not be used from Go after its export. T must
// hold no pointers.
func Fresh[T any](n int) ([]T, error) { return fresh1[T](n, true) }

// Empty is Fresh without the zeroing, as numpy.empty: its elements hold
// whatever the memory held. For a result the function fills entirely.
func Empty[T any](n int) ([]T, error) { return fresh1[T](n, false) }

func fresh1[T any](n int, zeroed bool) ([]T, error) {
	t := reflect.TypeFor[T]()
	if _, err := layoutOf(t); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("gomem: Fresh of %d elements", n)
	}
	size := t.Size()
	if n == 0 || size == 0 {
		return make([]T, n), nil // nothing to allocate: Go's own empty slice
	}
	if uintptr(n) > (1<<47)/size {
		return nil, fmt.Errorf("gomem: Fresh of %d %v elements is too large", n, t)
	}
	p, err := allocFresh(uintptr(n)*size, zeroed)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*T)(p), n), nil
}

func allocFresh(size uintptr, zeroed bool) (unsafe.Pointer, error) {
	p := C.gomem_fresh_alloc(C.size_t(size), C.int(btoi(zeroed)))
	if p == nil {
		return nil, fmt.Errorf("gomem: cannot allocate %d bytes", size)
	}
	b := &freshBlock{p: p, base: uintptr(p), size: size}
	fresh.Lock()
	i := sort.Search(len(fresh.blocks), func(i int) bool { return fresh.blocks[i].base > b.base })
	fresh.blocks = append(fresh.blocks, nil)
	copy(fresh.blocks[i+1:], fresh.blocks[i:])
	fresh.blocks[i] = b
	fresh.Unlock()
	return p, nil
}

// FreeFresh gives back a slice of Fresh or Empty that was not exported: s must start
// where Fresh's slice started. It reports whether it freed anything.
func FreeFresh[T any](s []T) bool {
	if len(s) == 0 {
		return false
	}
	fresh.Lock()
	b := blockAt(uintptr(unsafe.Pointer(unsafe.SliceData(s))))
	if b == nil || b.exported || b.base != uintptr(unsafe.Pointer(unsafe.SliceData(s))) {
		fresh.Unlock()
		return false
	}
	forget(b)
	fresh.Unlock()
	C.gomem_fresh_free(b.p)
	return true
}

// FreshBlocks counts the blocks of Fresh not yet freed (exported or not).
func FreshBlocks() int {
	fresh.Lock()
	defer fresh.Unlock()
	return len(fresh.blocks)
}

// blockAt is the live block holding address a, or nil (fresh locked).
func blockAt(a uintptr) *freshBlock {
	i := sort.Search(len(fresh.blocks), func(i int) bool { return fresh.blocks[i].base > a }) - 1
	if i < 0 || a >= fresh.blocks[i].base+fresh.blocks[i].size {
		return nil
	}
	return fresh.blocks[i]
}

func forget(b *freshBlock) {
	i := sort.Search(len(fresh.blocks), func(i int) bool { return fresh.blocks[i].base >= b.base })
	fresh.blocks = append(fresh.blocks[:i], fresh.blocks[i+1:]...)
}

// takeFresh hands the block holding data over to an export: the returned
// release frees it. ok is false for memory that is not Fresh's; an error
// for a block some earlier export already took (it would be freed twice).
func takeFresh(data unsafe.Pointer) (release func(), ok bool, err error) {
	fresh.Lock()
	defer fresh.Unlock()
	b := blockAt(uintptr(data))
	if b == nil {
		return nil, false, nil
	}
	if b.exported {
		return nil, true, fmt.Errorf("gomem: this memory of gomem.Fresh was exported already, and is Python's: export it once")
	}
	b.exported = true
	return func() {
		fresh.Lock()
		forget(b)
		fresh.Unlock()
		C.gomem_fresh_free(b.p)
	}, true, nil
}

// untakeFresh gives a block back to Go when its export failed.
func untakeFresh(data unsafe.Pointer) {
	fresh.Lock()
	defer fresh.Unlock()
	if b := blockAt(uintptr(data)); b != nil {
		b.exported = false
	}
}

// holdFor is the table entry that keeps an export's memory alive: a pin for
// Go memory, Fresh's release for a block of Fresh.
func holdFor(data unsafe.Pointer, n int, elemSize uintptr, keep any) (*entry, error) {
	e := &entry{keep: keep}
	if n == 0 || elemSize == 0 {
		return e, nil
	}
	release, ok, err := takeFresh(data)
	if err != nil {
		return nil, err
	}
	if ok {
		return &entry{release: release, fresh: data}, nil
	}
	// Pinning is what lets C memory (the descriptor, then pybuf) hold the
	// address; keeping the slice in the table keeps it alive.
	e.pinner = new(runtime.Pinner)
	e.pinner.Pin(data)
	return e, nil
}
