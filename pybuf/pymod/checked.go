package pymod

/*
#include "pybuf_core.h"
#include <string.h>
#include <sys/mman.h>

// An arena is address space reserved once and never given back: a guard
// region's addresses are never reused for anything else, so a slice kept
// past its call can only ever fault.
static void *pymod_arena_reserve(size_t n)
{
    void *p = mmap(NULL, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int pymod_guard_open(void *p, size_t n, int writable)
{
    return mprotect(p, n, writable ? PROT_READ | PROT_WRITE : PROT_READ);
}

static int pymod_guard_make_writable(void *p, size_t n) { return mprotect(p, n, PROT_READ | PROT_WRITE); }

// Closed: no access, and the pages' memory goes back to the system.
static void pymod_guard_close(void *p, size_t n)
{
    mprotect(p, n, PROT_NONE);
    madvise(p, n, MADV_DONTNEED);
}
*/
import "C"

import (
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"unsafe"

	"github.com/pybuf-go/pybuf/pybuf/status"
)

// Checked mode (PYBUF_GO_CHECKED=1 in the environment when the Go library
// loads) catches a borrowed slice used after its call. Each array argument
// is copied into a guard region, fresh pages of an arena that is address
// space reserved for nothing else, and the function borrows the copy:
// read-only unless it declared Writes. After the call the copy is written
// back (Writes parameters only) and the region is closed (no access, its
// memory returned) for good. A later read or write through a kept slice
// faults on a closed page; the call runs with debug.SetPanicOnFault, so the
// fault is a Go panic, raised in Python as RuntimeError naming the function
// and parameter that lent the memory. Writing a parameter not declared in
// Writes faults the same way during the call. Freed NumPy memory is never
// read: the function never sees it.
//
// What it costs: a copy of every array argument each way and two mprotect
// calls per argument; address space (not memory) grows with the bytes lent.
// What it does not catch: a kept slice used in a goroutine of your own (no
// SetPanicOnFault there: Go ends the process, as it would without checked
// mode, though never reading freed memory).
var checked = os.Getenv("PYBUF_GO_CHECKED") == "1"

// Checked reports whether checked mode is on.
func Checked() bool { return checked }

const (
	pageSize  = 4096 // mprotect granularity on every platform pybuf builds for (Linux, amd64/arm64 4 KiB pages)
	arenaSize = 64 << 30
	// regionNames bounds the memory spent on naming retired regions; an
	// older region still faults, with a message that cannot name it.
	regionNames = 1 << 14
)

// region is one argument's copy.
type region struct {
	base, size uintptr // page-aligned
	p          unsafe.Pointer
	qual       string
	param      string
	writable   bool
	live       bool // during its call
}

var guards = struct {
	sync.Mutex
	arenas    [][2]uintptr // [base, end) of every arena
	arenaPtrs []unsafe.Pointer
	next, end uintptr   // the bump pointer in the current arena
	regions   []*region // the most recent regionNames, oldest first (read only to explain a fault)
}{}

// guardCall is one call's guard regions.
type guardCall struct {
	f       *function
	args    []C.pybuf_go_arg
	regions []*region
	orig    []unsafe.Pointer // each region's argument data, to write back
	offs    []uintptr        // where the argument's first byte sits in its copy
	lens    []uintptr
}

// guardArgs moves every array argument of the call into a guard region.
func guardArgs(f *function, a []C.pybuf_go_arg) (*guardCall, *status.Error) {
	g := &guardCall{f: f, args: a}
	for i := range a {
		p := &f.sig.params[i]
		lo, hi := viewBytes(p, &a[i])
		if p.kind != kindArray || lo == hi {
			continue
		}
		r, err := openRegion(hi-lo, f.qual, p.name, p.writable)
		if err != nil {
			g.finish()
			return nil, status.Errorf(status.KindRuntime, p.name, "%s: checked mode: %v", f.qual, err)
		}
		data := unsafe.Pointer(a[i].data)
		off := uintptr(data) - lo // where the view's data pointer sits in the bytes it reaches
		C.memcpy(r.p, unsafe.Add(data, -int(off)), C.size_t(hi-lo))
		if !p.writable {
			C.pymod_guard_open(r.p, C.size_t(r.size), 0)
		}
		g.regions = append(g.regions, r)
		g.orig = append(g.orig, data)
		g.offs = append(g.offs, off)
		g.lens = append(g.lens, hi-lo)
		a[i].data = unsafe.Add(r.p, off)
	}
	return g, nil
}

// finish writes Writes parameters back, gives every argument its own data
// again, and closes the regions.
func (g *guardCall) finish() {
	for k, r := range g.regions {
		if r.writable {
			lo := unsafe.Add(g.orig[k], -int(g.offs[k]))
			C.memcpy(lo, r.p, C.size_t(g.lens[k]))
		}
		C.pymod_guard_close(r.p, C.size_t(r.size))
	}
	guards.Lock()
	for _, r := range g.regions {
		r.live = false
	}
	guards.Unlock()
}

// explain is the message of a panic during a checked call: a fault in a
// guard region says whose memory it was.
func (g *guardCall) explain(p any) any {
	fault, ok := p.(interface{ Addr() uintptr })
	if !ok {
		return p
	}
	addr := fault.Addr()
	guards.Lock()
	defer guards.Unlock()
	inArena := false
	for _, a := range guards.arenas {
		inArena = inArena || a[0] <= addr && addr < a[1]
	}
	if !inArena {
		return p
	}
	for _, r := range guards.regions {
		if addr < r.base || addr >= r.base+r.size {
			continue
		}
		if r.live {
			return fmt.Sprintf("argument '%s' was written, but %s does not declare it in Writes (checked mode: %v)",
				r.param, r.qual, p)
		}
		return fmt.Sprintf("memory borrowed from argument '%s' of %s was used after that call returned: "+
			"copy what must outlive the call (slices.Clone) (checked mode: %v)", r.param, r.qual, p)
	}
	return fmt.Sprintf("memory borrowed from an argument of an earlier call was used after that call returned "+
		"(checked mode: %v)", p)
}

func openRegion(n uintptr, qual, param string, writable bool) (*region, error) {
	size := (n + pageSize - 1) &^ (pageSize - 1)
	guards.Lock()
	defer guards.Unlock()
	if size > arenaSize {
		return nil, fmt.Errorf("an argument of %d bytes is larger than the guard arena", n)
	}
	if guards.next+size > guards.end {
		p := C.pymod_arena_reserve(arenaSize)
		if p == nil {
			return nil, fmt.Errorf("cannot reserve %d bytes of address space", arenaSize)
		}
		guards.arenaPtrs = append(guards.arenaPtrs, p)
		guards.arenas = append(guards.arenas, [2]uintptr{uintptr(p), uintptr(p) + arenaSize})
		guards.next, guards.end = uintptr(p), uintptr(p)+arenaSize
	}
	arena := guards.arenaPtrs[len(guards.arenaPtrs)-1]
	p := unsafe.Add(arena, guards.next-guards.arenas[len(guards.arenas)-1][0])
	if C.pymod_guard_make_writable(p, C.size_t(size)) != 0 {
		return nil, fmt.Errorf("mprotect of %d bytes failed", size)
	}
	r := &region{base: uintptr(p), size: size, p: p, qual: qual, param: param, writable: writable, live: true}
	guards.next += size
	if len(guards.regions) >= regionNames {
		guards.regions = append(guards.regions[:0], guards.regions[regionNames/2:]...)
	}
	guards.regions = append(guards.regions, r)
	return r, nil
}

// runChecked runs one call in checked mode: the arguments in guard regions,
// a fault a Go panic that names what it touched (every call: a function
// without array parameters may read a slice an earlier call kept).
func (f *function) runChecked(a *C.pybuf_go_arg, msg unsafe.Pointer, run func() int32) (st int32) {
	args := unsafe.Slice(a, len(f.sig.params))
	g, err := guardArgs(f, args)
	if err != nil {
		return fail(msg, err.Kind, err.Msg)
	}
	defer g.finish()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			panic(g.explain(p))
		}
	}()
	return run()
}
