package registry

import (
	"sort"
	"sync"
)

// Registry is a set of owners. The zero value is not usable; call New. The
// C ABI uses the process-wide Default; tests make their own.
type Registry struct {
	mu      sync.Mutex
	lastID  uint64 // ids and tokens come from one counter so neither is ever reused
	tracing bool
	owners  map[uint64]*owner
	tokens  map[uint64]*owner // token -> owner, so Untrace is O(1)
}

type owner struct {
	id     uint64
	interp int64 // the Python interpreter that created it
	name   string
	nbytes int64 // -1: sum over live buffers, read from counts
	site   string
	parent uint64 // the owner whose memory this one's belongs to, 0 for none
	counts Counts
	traces map[uint64]Holder // token -> holder, dropped with the owner
}

// New returns an empty registry with tracing off.
func New() *Registry {
	return &Registry{owners: map[uint64]*owner{}, tokens: map[uint64]*owner{}}
}

// Default is the registry of the process, the one pybuf.live() shows.
var Default = New()

// The shim numbers its owners below 2^63; ids made here (Register, trace
// tokens) have the top bit set, so the two never meet.
const ownIDs = 1 << 63

func (r *Registry) nextID() uint64 {
	r.lastID++
	return ownIDs | r.lastID
}

// Register adds an owner and returns its id, never 0 and never reused.
// nbytes >= 0 is a fixed allocation size; -1 means the sum over live
// buffers. site is the creation site, "" when not traced. counts may be nil
// (all zero).
func (r *Registry) Register(name string, nbytes int64, site string, counts Counts) uint64 {
	if nbytes < 0 {
		nbytes = -1
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o := &owner{id: r.nextID(), name: name, nbytes: nbytes, site: site, counts: counts}
	r.owners[o.id] = o
	return o.id
}

// Registration is an owner announced with an id its caller chose: non-zero,
// below 2^63, never reused.
type Registration struct {
	ID     uint64
	Name   string
	Nbytes int64
	Site   string
	Counts Counts
	Interp int64 // the Python interpreter that created the owner
	// Parent is the id of the owner this one is a child of (0: none).
	Parent uint64
}

// Apply registers regs and then forgets gone, under one lock: the changes
// the shim batched since its last call (one crossing from C instead of two
// per owner).
func (r *Registry) Apply(regs []Registration, gone []uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range regs {
		if g.ID == 0 || g.ID >= ownIDs {
			continue
		}
		nbytes := g.Nbytes
		if nbytes < 0 {
			nbytes = -1
		}
		r.owners[g.ID] = &owner{id: g.ID, interp: g.Interp, name: g.Name, nbytes: nbytes,
			site: g.Site, parent: g.Parent, counts: g.Counts}
	}
	for _, id := range gone {
		r.unregisterLocked(id)
	}
}

// Unregister forgets an owner and its traces. Once it returns the owner's
// Counts is never called again, so the shim may free the counters.
func (r *Registry) Unregister(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unregisterLocked(id)
}

func (r *Registry) unregisterLocked(id uint64) {
	o := r.owners[id]
	if o == nil {
		return
	}
	for tok := range o.traces {
		delete(r.tokens, tok)
	}
	delete(r.owners, id)
}

// SetTrace turns the recording of creation sites on or off. Traces taken
// while on stay until untraced even after tracing is turned off, so a
// strict close still names them.
func (r *Registry) SetTrace(on bool) {
	r.mu.Lock()
	r.tracing = on
	r.mu.Unlock()
}

// Tracing reports whether creation sites are being recorded.
func (r *Registry) Tracing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tracing
}

// Trace records a live buffer or export of an owner and returns a token for
// Untrace; 0 (nothing recorded) when tracing is off, the owner is unknown or
// the kind is not one of Kind's values.
func (r *Registry) Trace(ownerID uint64, kind Kind, site string) uint64 {
	if !kind.valid() {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.owners[ownerID]
	if !r.tracing || o == nil {
		return 0
	}
	tok := r.nextID()
	if o.traces == nil {
		o.traces = map[uint64]Holder{}
	}
	o.traces[tok] = Holder{Kind: kind, Site: site}
	r.tokens[tok] = o
	return tok
}

// Untrace forgets a trace; unknown tokens (0, or of an unregistered owner)
// are ignored.
func (r *Registry) Untrace(token uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.tokens[token]
	if o == nil {
		return
	}
	delete(o.traces, token)
	delete(r.tokens, token)
}

// Live describes every owner whose release has not run, sorted by id.
// Owners already released but not yet unregistered are left out.
func (r *Registry) Live() []Info { return r.live(func(*owner) bool { return true }) }

// LiveIn is Live restricted to the owners one Python interpreter created:
// each interpreter sees only its own.
func (r *Registry) LiveIn(interp int64) []Info {
	return r.live(func(o *owner) bool { return o.interp == interp })
}

func (r *Registry) live(keep func(*owner) bool) []Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	infos := make([]Info, 0, len(r.owners))
	for _, o := range r.owners {
		if !keep(o) {
			continue
		}
		if info, ok := o.info(); ok {
			infos = append(infos, info)
		}
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].ID < infos[j].ID })
	return infos
}

// Info describes one owner; false when it is unknown or already released.
func (r *Registry) Info(id uint64) (Info, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.owners[id]
	if o == nil {
		return Info{}, false
	}
	return o.info()
}

// info must be called with the registry's lock held (see Counts).
func (o *owner) info() (Info, bool) {
	var buffers, exports, nbytes, state int64
	if o.counts != nil {
		buffers, exports, nbytes, state = o.counts.Load()
	}
	if state&StateReleased != 0 {
		return Info{}, false
	}
	if o.nbytes >= 0 {
		nbytes = o.nbytes
	}
	return Info{
		ID:        o.id,
		Interp:    o.interp,
		Parent:    o.parent,
		Name:      o.name,
		Closed:    state&StateClosed != 0,
		Buffers:   buffers,
		Exports:   exports,
		Nbytes:    nbytes,
		CreatedAt: o.site,
		Holders:   o.holders(),
	}, true
}

// holders lists the traces oldest first: tokens grow with time.
func (o *owner) holders() []Holder {
	toks := make([]uint64, 0, len(o.traces))
	for tok := range o.traces {
		toks = append(toks, tok)
	}
	sort.Slice(toks, func(i, j int) bool { return toks[i] < toks[j] })
	hs := make([]Holder, len(toks))
	for i, tok := range toks {
		hs[i] = o.traces[tok]
	}
	return hs
}
