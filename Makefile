# pybuf developer entry points. Everything installs from nothing:
#   make demo   the seed scenario, done safely
#   make test   go vet, go test ./..., mypy, then the test legs two at a time: pytest on
#               python3, under ASan/UBSan, on CPython 3.12, 3.13 and free-threaded
#               3.13t; wheel and sdist checks, then the aarch64 wheel under qemu
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
GO ?= go
export CGO_ENABLED := 1

.PHONY: dev install test test-prepare test-legs leg-py leg-asan leg-dist go-test py-test test-pythons typecheck demo shm-demo bench clean fuzz goext gostats sdist wheel test-dist stress memcheck test-asan wheel-2014 wheel-2014-x86_64 wheel-2014-aarch64 wheel-2014-ft wheels test-aarch64 install-ft test-ft ft-python leg-ft test-setup test-setup-tree cross-fetch bench-ft install-tsan test-tsan

$(VENV)/.deps: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements-dev.txt
	touch $@

# Rebuilds the Go core and the extension into the virtualenv.
install: $(VENV)/.deps
	$(GO) mod download
	$(PIP) install --no-build-isolation --no-deps --force-reinstall .

dev: install

# The Go module example: pip builds examples/gostats (its own Go module) into the
# Python module gostats with pybuf.gobuild, against the pybuf just installed.
gostats: install
	$(PIP) install --no-build-isolation --no-deps --force-reinstall ./examples/gostats

go-test:
	$(GO) vet ./...
	$(GO) test ./...
	cd examples/gostats && $(GO) vet . && $(GO) test .
	cd examples/goptim && $(GO) vet . && $(GO) test .
	for m in gotext govec; do (cd examples/$$m && $(GO) vet .) || exit 1; done

py-test: install gostats
	$(PY) -m pytest -q tests_py

# The pytest suite against the C shim built with AddressSanitizer and
# UndefinedBehaviorSanitizer, asserts on (no NDEBUG), into build/asan; the installed
# package is untouched. Fails on any sanitizer finding, in pytest or in a process a
# test starts (tests_py/sanitize/run.py; what it skips: tests_py/sanitize/skips.py).
test-asan: install gostats
	$(PY) tests_py/sanitize/run.py

# The pytest suite again on pyenv's CPython 3.12 and 3.13, each in its own
# virtualenv (.venv-3.12, .venv-3.13): the subinterpreter tests need 3.12+,
# own-GIL ones 3.13, and are skipped on older interpreters only.
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)
EXTRA_PYTHONS ?= 3.12.1 3.13.0
test-pythons:
	for v in $(EXTRA_PYTHONS); do \
		$(MAKE) --no-print-directory py-test PYTHON=$(PYENV_ROOT)/versions/$$v/bin/python3 \
			VENV=.venv-$${v%.*} || exit 1; \
	done

# The pytest suite on free-threaded CPython 3.13t with the GIL off (docs/INTERPRETERS.md):
# the interpreter is built once into ~/.cache/pybuf (about 15 minutes), .venv-3.13t holds
# NumPy 2.3.5 and what else has a cp313t wheel; tests needing the rest are skipped by
# name there (tests_py/free_threaded.py).
FT_VENV := .venv-3.13t
# the state machine's examples in the suite: each collects the whole heap several times
# there, and late in the suite the heap is large (500 took 18 min; make stress runs more)
FT_SM_EXAMPLES ?= 100
install-ft:
	packaging/free_threaded_venv.sh $(FT_VENV)
	$(MAKE) --no-print-directory gostats PYTHON=$(FT_VENV)/bin/python VENV=$(FT_VENV)

test-ft: install-ft
	PYTHON_GIL=0 PYBUF_EXPECT_FREE_THREADED=1 PYBUF_SM_EXAMPLES=$(FT_SM_EXAMPLES) \
		$(FT_VENV)/bin/python -m pytest -q tests_py

# The examples are what users copy: they must pass mypy --strict (gostats through
# the stubs its build generated). Package bases: each Go module example has a setup.py.
typecheck: install gostats
	$(PY) -m mypy --strict --explicit-package-bases --exclude '/build/' examples/

# Release artifacts in dist/ (docs/PACKAGING.md); PYTHON picks the CPython.
sdist:
	PYTHON=$(PYTHON) packaging/build_sdist.sh

# The sdist, then a manylinux wheel built from it.
wheel:
	PYTHON=$(PYTHON) packaging/build_wheel.sh

# The manylinux2014 (glibc 2.17) wheels, built with zig from the sdist (docs/PACKAGING.md):
# x86_64 for PYTHON, aarch64 for AARCH64_PYTHON (a CPython 3.11: Debian's arm64 headers
# are 3.11's). `make wheels`: those, and x86_64 for every other CPython in WHEEL_PYTHONS.
# What they need is fetched once into ~/.cache/pybuf/cross (packaging/cross_fetch.sh).
AARCH64_PYTHON ?= $(PYTHON)
WHEEL_PYTHONS ?= $(PYENV_ROOT)/versions/3.12.1/bin/python3 $(PYENV_ROOT)/versions/3.13.0/bin/python3
wheel-2014: wheel-2014-x86_64 wheel-2014-aarch64
wheel-2014-x86_64: wheel
	PYTHON=$(PYTHON) packaging/build_cross_wheel.sh x86_64
wheel-2014-aarch64: wheel
	PYTHON=$(AARCH64_PYTHON) packaging/build_cross_wheel.sh aarch64

# The free-threaded wheel, cp313-cp313t manylinux2014_x86_64, built the same way with
# CPython 3.13t (packaging/free_threaded_python.sh: built once into ~/.cache/pybuf).
wheel-2014-ft: wheel
	py=$$(packaging/free_threaded_python.sh) && PYTHON=$$py packaging/build_cross_wheel.sh x86_64

wheels: wheel-2014 wheel-2014-ft
	for py in $(WHEEL_PYTHONS); do PYTHON=$$py packaging/build_cross_wheel.sh x86_64 || exit 1; done

# The wheels (native and manylinux2014_x86_64) on a PATH without Go (NumPy 2.x, 1.26,
# none), the cp313t one on 3.13t with the GIL left off, and the sdist built with Go but
# no network, each in a brand-new virtualenv.
test-dist: wheel wheel-2014-x86_64 wheel-2014-ft
	PYTHON=$(PYTHON) packaging/test_dist.sh

# The aarch64 wheel on Debian's arm64 CPython 3.11 under qemu-user: the self-check
# and a pytest subset (AARCH64_TESTS in packaging/test_aarch64.sh).
test-aarch64: wheel-2014-aarch64
	PYTHON=$(AARCH64_PYTHON) packaging/test_aarch64.sh

# make test: what needs the tree to itself first (go vet/test, mypy, then every
# interpreter's virtualenv built one after the other: pip and the compilers write into
# the tree), then the legs, which only run tests, two at a time (the machines have 2
# cores); -O prints each leg's output whole when it ends. The longest legs start first.
TEST_LEGS := leg-ft leg-asan leg-py $(addprefix leg-py-,$(basename $(EXTRA_PYTHONS))) leg-dist
test:
	$(MAKE) --no-print-directory -j2 test-setup
	$(MAKE) --no-print-directory -j2 -O test-legs

# Beside the steps that need the tree, one after the other, what is slow to obtain and
# lives outside the tree is obtained (once: ~/.cache/pybuf): the free-threaded CPython
# (built from source, its logs in the cache) and the cross toolchain and arm64 sysroot.
test-setup: test-setup-tree ft-python cross-fetch
test-setup-tree:
	$(MAKE) --no-print-directory -j1 dev go-test typecheck test-prepare
ft-python:
	packaging/free_threaded_python.sh >/dev/null
cross-fetch:
	PYTHON=$(PYTHON) packaging/cross_fetch.sh >/dev/null

test-prepare: gostats
	for v in $(EXTRA_PYTHONS); do \
		$(MAKE) --no-print-directory gostats PYTHON=$(PYENV_ROOT)/versions/$$v/bin/python3 \
			VENV=.venv-$${v%.*} || exit 1; \
	done

test-legs: $(TEST_LEGS)

leg-py:
	$(PY) -m pytest -q tests_py

# The thread tests on free-threaded CPython 3.13t built with ThreadSanitizer, the GIL
# off, the shim rebuilt with -fsanitize=thread into build/tsan (tests_py/sanitize/tsan.py;
# docs/RELIABILITY.md). The interpreter is built once into ~/.cache/pybuf (about 30
# minutes on 2 cores): a part of make stress, not of make test.
TSAN_VENV := .venv-3.13t-tsan
install-tsan:
	packaging/free_threaded_venv.sh --tsan $(TSAN_VENV)
	$(MAKE) --no-print-directory install PYTHON=$(TSAN_VENV)/bin/python VENV=$(TSAN_VENV)

test-tsan: install-tsan
	$(TSAN_VENV)/bin/python tests_py/sanitize/tsan.py

leg-asan:
	$(PY) tests_py/sanitize/run.py

leg-py-%:
	.venv-$*/bin/python -m pytest -q tests_py

# The free-threaded leg (test-ft): the interpreter, built once (about 15 minutes on a fresh
# machine), then pybuf built into .venv-3.13t from a copy of the checkout, as the other
# legs run beside it (tests_py/checkout_copy.py), then the suite with the GIL off.
FT_SRC := build/ft-src
leg-ft:
	packaging/free_threaded_venv.sh $(FT_VENV)
	rm -rf $(FT_SRC)
	$(PY) -c 'import sys; sys.path.insert(0, "tests_py"); from checkout_copy import checkout_copy; checkout_copy("$(FT_SRC)")'
	$(MAKE) --no-print-directory -C $(FT_SRC) gostats PYTHON=$(CURDIR)/$(FT_VENV)/bin/python VENV=$(CURDIR)/$(FT_VENV)
	PYTHON_GIL=0 PYBUF_EXPECT_FREE_THREADED=1 PYBUF_SM_EXAMPLES=$(FT_SM_EXAMPLES) \
		$(FT_VENV)/bin/python -m pytest -q tests_py

# One leg: the wheels are built from the same sdist and build directories, one after
# the other (-j1: no jobs of this leg run beside each other).
leg-dist:
	$(MAKE) --no-print-directory -j1 test-dist test-aarch64

demo: install
	$(PY) examples/seed_demo.py
	$(PY) examples/shm_pipeline.py

shm-demo: install
	$(PY) examples/shm_pipeline.py

# A Go extension embedding pybuf's core (examples/goext).
goext:
	$(GO) build -buildmode=c-shared -ldflags="$$($(PY) -c 'from pybuf._golink import LDFLAGS; print(LDFLAGS)')" \
		-o build/goext/libgoext.so ./examples/goext

bench: install goext gostats
	$(PY) bench/run.py
	$(PY) bench/goslice.py --lib build/goext/libgoext.so
	$(PY) bench/gomodule.py
	$(PY) bench/dask_routes.py
	$(MAKE) --no-print-directory bench-ft

# Free-threaded figures (bench/free_threaded.py; docs/INTERPRETERS.md): the creation and
# view paths on 3.13t beside 3.13, and 1 against 2 threads on each.
bench-ft: install-ft
	$(MAKE) --no-print-directory install PYTHON=$(INTERP_PYTHON) VENV=.venv-3.13
	$(PY) bench/free_threaded.py --gil .venv-3.13/bin/python --ft $(FT_VENV)/bin/python

# A short run of every Go fuzz target (make fuzz FUZZTIME=5m for longer).
FUZZTIME ?= 30s
fuzz:
	for t in FuzzParseFormat FuzzCheck FuzzCheckRegion; do \
		$(GO) test ./pybuf/layout -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) || exit 1; \
	done

# The long reliability runs, with their figures (docs/RELIABILITY.md): 20,000 state-machine
# examples, 6 threads x 20,000 iterations, 4 own-GIL interpreters x 200,000 iterations (on
# CPython 3.13), each Go fuzz target for FUZZTIME_STRESS; the state machine and the threads
# again on free-threaded CPython 3.13t with PYTHON_GIL=0; the thread tests under
# ThreadSanitizer there (test-tsan); then -race.
FUZZTIME_STRESS ?= 60s
# 3.13t's collector walks the whole heap at each of the machine's many collections, and the
# heap grows with each example: there the examples run in processes of 250, two at a time
# (docs/RELIABILITY.md)
FT_STRESS_EXAMPLES ?= 20000
INTERP_PYTHON := $(PYENV_ROOT)/versions/3.13.0/bin/python3
stress: install
	$(MAKE) --no-print-directory install PYTHON=$(INTERP_PYTHON) VENV=.venv-3.13
	$(PY) tests_py/stress.py --examples 20000 --thread-iters 20000 --fuzztime $(FUZZTIME_STRESS) \
		--interp-python .venv-3.13/bin/python --interp-iters 200000
	$(MAKE) --no-print-directory install-ft
	PYTHON_GIL=0 $(FT_VENV)/bin/python tests_py/stress.py --parts machine,threads \
		--examples $(FT_STRESS_EXAMPLES) --chunk 250 --jobs 2 --thread-iters 20000
	$(MAKE) --no-print-directory test-tsan
	$(GO) test -race ./...

# A focused pytest subset under valgrind memcheck (needs valgrind); the Go core is built
# with -tags valgrind into a temporary directory and loaded through PYBUF_CORE.
memcheck: install
	$(PY) tests_py/valgrind/memcheck.py

clean:
	rm -rf $(VENV) .venv-3.12 .venv-3.13 $(FT_VENV) $(TSAN_VENV) build dist *.egg-info python/*.egg-info python/pybuf/*.so python/pybuf/_version.py \
		examples/gostats/build examples/gostats/*.egg-info examples/gotext/build examples/gotext/*.egg-info \
		examples/govec/build examples/govec/*.egg-info examples/goptim/build examples/goptim/*.egg-info
