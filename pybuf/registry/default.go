package registry

import "io"

// The functions below act on Default, the registry of the C ABI.

// Apply applies a batch of changes to Default; see Registry.Apply.
func Apply(regs []Registration, gone []uint64) { Default.Apply(regs, gone) }

// SetTrace turns tracing of Default on or off.
func SetTrace(on bool) { Default.SetTrace(on) }

// Tracing reports whether Default records creation sites.
func Tracing() bool { return Default.Tracing() }

// Trace records a holder in Default; see Registry.Trace.
func Trace(ownerID uint64, kind Kind, site string) uint64 {
	return Default.Trace(ownerID, kind, site)
}

// Untrace forgets a holder in Default.
func Untrace(token uint64) { Default.Untrace(token) }

// Live describes the owners of Default.
func Live() []Info { return Default.Live() }

// LiveIn describes the owners of Default that one interpreter created.
func LiveIn(interp int64) []Info { return Default.LiveIn(interp) }

// Holders is the strict-close message for an owner of Default.
func Holders(id uint64) string { return Default.Holders(id) }

// ReportLeaks lists the owners of Default on w.
func ReportLeaks(w io.Writer) int { return Default.ReportLeaks(w) }
