package registry

// State bits of Counts.Load, the same numbers as PYBUF_STATE_* in pybuf_core.h.
const (
	StateClosed   = 1
	StateReleased = 2
)

// Counts reads the live counters of one owner. The shim's implementation
// reads C memory that is freed once Unregister returns, so the registry only
// calls Load while it holds its lock and the owner is still registered.
type Counts interface {
	Load() (buffers, exports, nbytes, state int64)
}

// Kind says what a traced object is; the numbers are pybuf_trace_kind's.
type Kind int32

const (
	KindBuffer Kind = 1
	KindExport Kind = 2
)

// String returns the name used in JSON and in messages.
func (k Kind) String() string {
	switch k {
	case KindBuffer:
		return "buffer"
	case KindExport:
		return "export"
	}
	return "unknown"
}

func (k Kind) valid() bool { return k == KindBuffer || k == KindExport }

// Holder is a traced buffer or export still alive.
type Holder struct {
	Kind Kind
	Site string
}

// Info describes one owner whose release has not run yet.
type Info struct {
	ID uint64
	// Interp is the Python interpreter that created the owner (0: the main one).
	Interp int64
	// Parent is the id of the owner whose memory this one's belongs to
	// (0: none); the shim sends it, the registry only reports it.
	Parent  uint64
	Name    string
	Closed  bool
	Buffers int64
	Exports int64
	// Nbytes is the fixed allocation size given at Register, or the sum
	// over live buffers when none was given.
	Nbytes int64
	// CreatedAt is the owner's creation site, "" when it was not traced.
	CreatedAt string
	// Holders are the traced buffers and exports, oldest first.
	Holders []Holder
}
