package gomem

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"unsafe"
)

// entry is what one exported descriptor holds on the Go side until pybuf
// releases it. Being in the table is what keeps the slice (and the Pinner,
// whose finalizer would otherwise panic about a leaked pin) reachable.
type entry struct {
	pinner  *runtime.Pinner // nil for C memory and empty slices
	keep    any             // the exported slice
	release func()          // ExportC's or Fresh's release, or nil
	fresh   unsafe.Pointer  // a block of Fresh this export took over, or nil
}

// table maps the id a descriptor carries as its release argument to its
// entry. Ids, not pointers, cross into C: C cannot keep Go pointers, and an
// id that was already released is recognised instead of being trusted.
var table = struct {
	sync.Mutex
	next     uint64
	live     map[uint64]*entry
	pins     int
	releases uint64
	unknown  uint64
}{live: map[uint64]*entry{}}

// Stats is the Go-side view of the exports.
type Stats struct {
	LivePins        int    // exported slices still pinned
	Live            int    // descriptors whose release has not run (slices and C memory)
	Releases        uint64 // releases that ran
	UnknownReleases uint64 // releases of an id that was not live (a double release): ignored
}

// ReadStats returns a snapshot of the bookkeeping.
func ReadStats() Stats {
	table.Lock()
	defer table.Unlock()
	return Stats{LivePins: table.pins, Live: len(table.live), Releases: table.releases, UnknownReleases: table.unknown}
}

// LivePins is the number of exported slices still pinned: it drops by one
// right after the last Python view of a slice is gone.
func LivePins() int {
	table.Lock()
	defer table.Unlock()
	return table.pins
}

func register(e *entry) uint64 {
	table.Lock()
	defer table.Unlock()
	table.next++
	table.live[table.next] = e
	if e.pinner != nil {
		table.pins++
	}
	return table.next
}

// releaseID runs an entry's release once. It is called from C, possibly on a
// thread Go did not create and while Python waits, so it never panics: a
// panic crossing back into C would abort the interpreter.
func releaseID(id uint64) {
	table.Lock()
	e, ok := table.live[id]
	if ok {
		delete(table.live, id)
		table.releases++
		if e.pinner != nil {
			table.pins--
		}
	} else {
		table.unknown++
	}
	table.Unlock()
	if !ok {
		fmt.Fprintf(os.Stderr, "pybuf/gomem: release of unknown export %d ignored (released twice?)\n", id)
		return
	}
	if e.pinner != nil {
		e.pinner.Unpin()
	}
	if e.release != nil {
		defer func() {
			if p := recover(); p != nil {
				fmt.Fprintf(os.Stderr, "pybuf/gomem: release function panicked: %v\n", p)
			}
		}()
		e.release()
	}
}
