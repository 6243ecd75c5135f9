package registry

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Holders is the part of a strict-close BufferError that says where the
// traced buffers and exports still holding an owner were created, e.g.
// "1 buffer created at a.py:3 in MainThread; 2 exports created at a.py:7 in
// MainThread". Identical holders are counted once per site, buffers before
// exports, each kind in order of first creation. "" when nothing is traced
// (tracing off, or the owner unknown): the caller's counts stand alone then.
func (r *Registry) Holders(id uint64) string {
	r.mu.Lock()
	o := r.owners[id]
	var hs []Holder
	if o != nil {
		hs = o.holders()
	}
	r.mu.Unlock()
	return describeHolders(hs)
}

func describeHolders(hs []Holder) string {
	type group struct {
		Holder
		n int
	}
	var groups []*group
	index := map[Holder]*group{}
	for _, kind := range []Kind{KindBuffer, KindExport} {
		for _, h := range hs {
			if h.Kind != kind {
				continue
			}
			g := index[h]
			if g == nil {
				g = &group{Holder: h}
				index[h] = g
				groups = append(groups, g)
			}
			g.n++
		}
	}
	parts := make([]string, len(groups))
	for i, g := range groups {
		site := g.Site
		if site == "" {
			site = "an unknown site"
		}
		parts[i] = fmt.Sprintf("%s created at %s", plural(int64(g.n), g.Kind.String()), site)
	}
	return strings.Join(parts, "; ")
}

// ReportLeaks writes the owners whose release has not run to w, the report
// PYBUF_REPORT_LEAKS=1 prints at interpreter exit, and returns how many there
// are. Nothing is written when there are none.
func (r *Registry) ReportLeaks(w io.Writer) int {
	infos := r.Live()
	if len(infos) == 0 {
		return 0
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "pybuf: %d owner(s) never released:\n", len(infos))
	for _, info := range infos {
		fmt.Fprintf(bw, "  %s (%s)\n", displayName(info.Name), describeOwner(info))
	}
	// A failing stderr at exit cannot be reported anywhere else.
	_ = bw.Flush()
	return len(infos)
}

func describeOwner(info Info) string {
	state := "open"
	if info.Closed {
		state = "closed"
	}
	parts := []string{
		state,
		plural(info.Buffers, "buffer"),
		plural(info.Exports, "export"),
		plural(info.Nbytes, "byte"),
	}
	if info.CreatedAt != "" {
		parts = append(parts, "created at "+info.CreatedAt)
	}
	if info.Interp != 0 { // the main interpreter's owners are the usual case
		parts = append(parts, fmt.Sprintf("in subinterpreter %d", info.Interp))
	}
	s := strings.Join(parts, ", ")
	if held := describeHolders(info.Holders); held != "" {
		s += "; held by " + held
	}
	return s
}

func displayName(name string) string {
	if name == "" {
		return "<unnamed>"
	}
	return name
}

func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
