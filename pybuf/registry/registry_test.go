package registry

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeCounts stands in for the shim's atomic pybuf_counts.
type fakeCounts struct {
	buffers, exports, nbytes, state atomic.Int64
}

func (c *fakeCounts) Load() (int64, int64, int64, int64) {
	return c.buffers.Load(), c.exports.Load(), c.nbytes.Load(), c.state.Load()
}

func counts(buffers, exports, nbytes, state int64) *fakeCounts {
	c := &fakeCounts{}
	c.buffers.Store(buffers)
	c.exports.Store(exports)
	c.nbytes.Store(nbytes)
	c.state.Store(state)
	return c
}

func TestRegisterIDsAreNonZeroAndNeverReused(t *testing.T) {
	r := New()
	seen := map[uint64]bool{}
	for i := 0; i < 100; i++ {
		id := r.Register("o", -1, "", nil)
		require.NotZero(t, id)
		require.False(t, seen[id], "id %d reused", id)
		seen[id] = true
		if i%2 == 0 {
			r.Unregister(id)
		}
	}
	assert.Len(t, r.Live(), 50)
}

func TestLiveReadsCountsAndSortsByID(t *testing.T) {
	r := New()
	a := r.Register("alloc", 4096, "a.py:1 in MainThread", counts(2, 3, 99, 0))
	b := r.Register("wrapped", -1, "", counts(1, 0, 80, StateClosed))
	r.Register("gone", -1, "", counts(0, 0, 0, StateClosed|StateReleased))
	c := r.Register("", -7, "", nil)

	live := r.Live()
	require.Len(t, live, 3, "released owners are not live")
	assert.Equal(t, Info{ID: a, Name: "alloc", Buffers: 2, Exports: 3, Nbytes: 4096,
		CreatedAt: "a.py:1 in MainThread", Holders: []Holder{}}, live[0])
	assert.Equal(t, Info{ID: b, Name: "wrapped", Closed: true, Buffers: 1, Nbytes: 80,
		Holders: []Holder{}}, live[1])
	assert.Equal(t, c, live[2].ID)
	assert.Zero(t, live[2].Nbytes, "any negative nbytes means the sum over buffers")
}

func TestLiveSeesCountersChange(t *testing.T) {
	r := New()
	fc := counts(0, 0, 0, 0)
	id := r.Register("o", -1, "", fc)
	fc.buffers.Add(1)
	fc.nbytes.Add(24)
	info, ok := r.Info(id)
	require.True(t, ok)
	assert.EqualValues(t, 1, info.Buffers)
	assert.EqualValues(t, 24, info.Nbytes)

	fc.state.Store(StateClosed | StateReleased)
	_, ok = r.Info(id)
	assert.False(t, ok)
	_, ok = r.Info(12345)
	assert.False(t, ok)
}

func TestTraceOnlyWhileTracingAndForKnownOwners(t *testing.T) {
	r := New()
	id := r.Register("o", -1, "", nil)
	assert.False(t, r.Tracing())
	assert.Zero(t, r.Trace(id, KindBuffer, "x.py:1 in MainThread"), "tracing is off")

	r.SetTrace(true)
	assert.True(t, r.Tracing())
	assert.Zero(t, r.Trace(id+1000, KindBuffer, "x"), "unknown owner")
	assert.Zero(t, r.Trace(id, Kind(7), "x"), "unknown kind")
	tok := r.Trace(id, KindExport, "x.py:2 in MainThread")
	require.NotZero(t, tok)
	assert.NotEqual(t, id, tok)

	info, _ := r.Info(id)
	assert.Equal(t, []Holder{{KindExport, "x.py:2 in MainThread"}}, info.Holders)

	// Turning tracing off keeps what was recorded.
	r.SetTrace(false)
	info, _ = r.Info(id)
	assert.Len(t, info.Holders, 1)

	r.Untrace(tok)
	r.Untrace(tok)
	r.Untrace(0)
	info, _ = r.Info(id)
	assert.Empty(t, info.Holders)
}

func TestUnregisterDropsTraces(t *testing.T) {
	r := New()
	r.SetTrace(true)
	id := r.Register("o", -1, "", nil)
	toks := []uint64{r.Trace(id, KindBuffer, "a"), r.Trace(id, KindExport, "b")}
	r.Unregister(id)
	assert.Empty(t, r.tokens)
	for _, tok := range toks {
		r.Untrace(tok) // must not panic nor resurrect anything
	}
	r.Unregister(id)
	assert.Empty(t, r.Live())
	assert.Empty(t, r.Holders(id))
}

func TestHoldersGroupsAndCounts(t *testing.T) {
	r := New()
	id := r.Register("o", -1, "", nil)
	assert.Empty(t, r.Holders(id), "nothing traced")

	r.SetTrace(true)
	r.Trace(id, KindExport, "foo.py:12 in MainThread")
	r.Trace(id, KindBuffer, "foo.py:10 in MainThread")
	r.Trace(id, KindExport, "foo.py:12 in MainThread")
	r.Trace(id, KindExport, "bar.py:3 in worker")
	r.Trace(id, KindBuffer, "")
	assert.Equal(t,
		"1 buffer created at foo.py:10 in MainThread; "+
			"1 buffer created at an unknown site; "+
			"2 exports created at foo.py:12 in MainThread; "+
			"1 export created at bar.py:3 in worker",
		r.Holders(id))
}

func TestReportLeaks(t *testing.T) {
	r := New()
	var out bytes.Buffer
	assert.Zero(t, r.ReportLeaks(&out))
	assert.Empty(t, out.String(), "silent when nothing leaked")

	r.SetTrace(true)
	a := r.Register("cache", 4096, "a.py:1 in MainThread", counts(1, 2, 0, StateClosed))
	r.Trace(a, KindExport, "a.py:5 in MainThread")
	r.Register("", -1, "", counts(1, 0, 1, 0))
	r.Register("done", -1, "", counts(0, 0, 0, StateReleased))
	r.Apply([]Registration{{ID: 9, Name: "sub", Nbytes: 8, Counts: counts(0, 1, 0, StateClosed),
		Interp: 3}}, nil)

	assert.Equal(t, 3, r.ReportLeaks(&out))
	assert.Equal(t, "pybuf: 3 owner(s) never released:\n"+
		"  sub (closed, 0 buffers, 1 export, 8 bytes, in subinterpreter 3)\n"+
		"  cache (closed, 1 buffer, 2 exports, 4096 bytes, created at a.py:1 in MainThread;"+
		" held by 1 export created at a.py:5 in MainThread)\n"+
		"  <unnamed> (open, 1 buffer, 0 exports, 1 byte)\n",
		out.String())
}

func TestDefaultRegistryFunctions(t *testing.T) {
	prev := Default
	Default = New()
	t.Cleanup(func() { Default = prev })

	const id = 7
	Apply([]Registration{{ID: id, Name: "d", Nbytes: 8}}, nil)
	SetTrace(true)
	assert.True(t, Tracing())
	tok := Trace(id, KindBuffer, "s")
	assert.Equal(t, "1 buffer created at s", Holders(id))
	Untrace(tok)
	require.Len(t, Live(), 1)
	var out bytes.Buffer
	assert.Equal(t, 1, ReportLeaks(&out))
	Apply(nil, []uint64{id})
	assert.Empty(t, Live())
}

func TestConcurrentUse(t *testing.T) {
	r := New()
	r.SetTrace(true)
	const workers, rounds = 8, 200
	var wg sync.WaitGroup
	ids := make(chan uint64, workers*rounds)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				fc := counts(1, 0, 8, 0)
				id := r.Register(fmt.Sprintf("w%d-%d", w, i), -1, "site", fc)
				ids <- id
				tok := r.Trace(id, KindBuffer, "t.py:1 in T")
				fc.exports.Add(1)
				_ = r.Holders(id)
				_ = r.Live()
				if i%3 == 0 {
					r.Untrace(tok)
				}
				if i%2 == 0 {
					r.Unregister(id)
				}
				if i%50 == 0 {
					r.SetTrace(i%100 == 0)
					_ = r.Tracing()
					r.ReportLeaks(&bytes.Buffer{})
				}
			}
		}(w)
	}
	wg.Wait()
	close(ids)

	seen := map[uint64]bool{}
	for id := range ids {
		require.False(t, seen[id], "id %d handed out twice", id)
		seen[id] = true
	}
	assert.Len(t, r.Live(), workers*rounds/2)
	for _, o := range r.owners {
		for tok := range o.traces {
			assert.Same(t, o, r.tokens[tok])
		}
	}
}

func TestApplyKeepsTheParentOfAChild(t *testing.T) {
	r := New()
	r.Apply([]Registration{
		{ID: 1, Name: "doc", Nbytes: -1, Counts: counts(0, 0, 0, 0)},
		{ID: 2, Name: "node", Nbytes: -1, Counts: counts(1, 0, 8, 0), Parent: 1},
	}, nil)
	live := r.Live()
	require.Len(t, live, 2)
	assert.Zero(t, live[0].Parent, "a root owner has no parent")
	assert.EqualValues(t, 1, live[1].Parent)
}
