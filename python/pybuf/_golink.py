"""How every Go library that embeds pybuf's core is linked (setup.py, pybuf.gobuild, tests).

Asynchronous preemption is off. Go preempts goroutines with SIGURG, and a Python thread
that called into Go keeps a Go M set up on the signal stack the thread had then: with
faulthandler on, faulthandler's, which it frees at interpreter exit. A SIGURG after that
kills the process ("non-Go code disabled sigaltstack"; about 1 run in 100 of a short script
under ``-X faulthandler``). Go functions are still preempted at function calls. The setting
is the runtime's compiled-in GODEBUG default (``//go:debug`` does not accept this key), so a
user's own ``GODEBUG=asyncpreemptoff=0`` still wins. Nothing here imports anything: setup.py
reads it before pybuf is built.
"""

LDFLAGS = "-X=runtime.godebugDefault=asyncpreemptoff=1"
