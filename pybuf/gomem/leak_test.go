package gomem

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The runtime panics, in a finalizer, when a Pinner still holding pins
// becomes garbage; nothing can recover that panic, so it is provoked in a
// re-executed copy of this test binary.
const leakEnv = "GOMEM_TEST_LEAK_CHILD"

func collectFor(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
}

func leakAPinner() {
	p := new(runtime.Pinner)
	p.Pin(&make([]float64, 16)[0])
}

func TestPinnerDroppedWhilePinnedKillsTheProcess(t *testing.T) {
	if os.Getenv(leakEnv) == "1" {
		leakAPinner()
		collectFor(5 * time.Second)
		os.Exit(0) // not reached when the runtime's check works
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPinnerDroppedWhilePinnedKillsTheProcess$")
	cmd.Env = append(os.Environ(), leakEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the child exited cleanly:\n%s", out)
	assert.Equal(t, 2, exit.ExitCode(), "%s", out)
	assert.Contains(t, string(out), "runtime.Pinner: found leaking pinned pointer")
}

// An export nobody holds on the Go side is not a leaked Pinner: the table
// keeps it reachable until pybuf releases it.
func TestExportedPinnerIsNotALeak(t *testing.T) {
	d, err := ExportSlice(make([]float64, 16))
	require.NoError(t, err)
	a := adoptForTest(d.Pointer())
	d = nil
	collectFor(200 * time.Millisecond)
	a.Release()
	collectFor(50 * time.Millisecond)
}
