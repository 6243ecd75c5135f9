"""Rule 5 at interpreter exit: no crash, C releases of deallocated owners run, leak report."""
import pytest

from fakehelp import describe


def test_exit_with_live_views_cycles_and_pending_releases(run_isolated):
    rc, out, err = run_isolated("""
        import threading
        # closed owner whose release waits for a view
        h1 = fake.create_ints(16)
        o1 = pybuf.Owner(release=fake.lib.fake_destroy, arg=h1.h)
        a1 = np.asarray(o1.buffer(h1.ptr, 16, "i"))[2:]
        o1.close()
        # never closed owner, memoryview alive
        h2 = fake.create_ints(16)
        m2 = memoryview(pybuf.wrap(h2.ptr, 16, "i", release=fake.lib.fake_destroy, arg=h2.h))
        # a garbage cycle with a Python release that needs its wrapper
        from cycle_parts import ViewWrapper
        class W(ViewWrapper):
            def release(self):
                fake.lib.fake_destroy(self.h.h)
        def W_cycle():
            w = W(fake)
            w.me = w
            return w
        W_cycle(); W_cycle()
        w_alive = W_cycle()
        # a DLPack capsule never consumed, an alloc, a region, an ndarray(buffer=)
        h4 = fake.create_ints(16)
        b4 = pybuf.wrap(h4.ptr, 16, "i", release=fake.lib.fake_destroy, arg=h4.h)
        cap = b4.__dlpack__(max_version=(1, 0))
        nd = np.ndarray((4,), np.int32, buffer=b4.region(16, 4, "i"))
        al = np.asarray(pybuf.alloc((100, 100), "d"))
        d = np.from_dlpack(pybuf.alloc(10, "f"))
        # views held by a daemon thread's frame
        ev = threading.Event()
        def holder(v=np.asarray(pybuf.alloc(8))):
            ev.wait()
        threading.Thread(target=holder, daemon=True).start()
        pybuf.trace(True)
        print("ok", flush=True)
    """, env={"FAKELIB_LOG": "1"})
    assert rc == 0, describe(rc, out, err)
    assert "ok" in out
    assert "double destroy" not in err
    assert "Fatal Python error" not in err
    assert "Segmentation" not in err


def test_exit_runs_c_release_of_deallocated_owner(run_isolated):
    rc, out, err = run_isolated("""
        h = fake.create_ints(16)
        owner = pybuf.Owner(release=fake.lib.fake_destroy, arg=h.h)
        view = np.asarray(owner.buffer(h.ptr, 16, "i"))[::2]
        owner.close()
        h2 = fake.create_ints(16)
        buf2 = pybuf.wrap(h2.ptr, 16, "i", release=fake.lib.fake_destroy, arg=h2.h)
        print("HANDLES", hex(h.h), hex(h2.h), flush=True)
    """, env={"FAKELIB_LOG": "1"})
    assert rc == 0, describe(rc, out, err)
    handles = out.split("HANDLES", 1)[1].split()
    for hx in handles:
        assert err.count(f"fake_destroy {hx}\n") == 1, describe(rc, out, err)


def test_exit_python_release_runs_or_is_skipped_quietly(run_isolated):
    rc, out, err = run_isolated("""
        def rel():
            sys.stdout.write("released\\n")
            sys.stdout.flush()
        h = fake.create_ints(4)
        buf = pybuf.wrap(h.ptr, 4, "i", release=rel)
        a = np.asarray(buf)
    """)
    assert rc == 0, describe(rc, out, err)
    assert out.count("released") <= 1
    assert "Traceback" not in err


def test_report_leaks_names_leaked_owner(run_isolated):
    code = """
        h = fake.create_ints(4)
        owner = pybuf.Owner(release=fake.lib.fake_destroy, arg=h.h, name="leaky-owner-4242")
        buf = owner.buffer(h.ptr, 4, "i")
        # keep the owner alive past the end of finalization
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(owner))
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(buf))
        del owner, buf
        print("ok", flush=True)
    """
    rc, out, err = run_isolated(code, env={"PYBUF_REPORT_LEAKS": "1", "FAKELIB_LOG": "1"})
    assert rc == 0, describe(rc, out, err)
    assert "leaky-owner-4242" in err, describe(rc, out, err)
    assert "fake_destroy" not in err      # owners alive at the end are not released


def test_report_leaks_off_by_default(run_isolated):
    rc, out, err = run_isolated("""
        owner = pybuf.Owner(name="leaky-owner-quiet")
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(owner))
    """, env={"PYBUF_REPORT_LEAKS": ""})
    assert rc == 0, describe(rc, out, err)
    assert "leaky-owner-quiet" not in err


def test_report_leaks_silent_when_nothing_leaks(run_isolated):
    rc, out, err = run_isolated("""
        h = fake.create_ints(4)
        buf = pybuf.wrap(h.ptr, 4, "i", release=fake.lib.fake_destroy, arg=h.h,
                         name="not-leaked-owner")
        a = np.asarray(buf)
        del a, buf
        gc.collect()
        assert h.destroys == 1
    """, env={"PYBUF_REPORT_LEAKS": "1"})
    assert rc == 0, describe(rc, out, err)
    assert "not-leaked-owner" not in err


@pytest.mark.parametrize("round_", range(3))
def test_exit_while_daemon_threads_export_and_release(run_isolated, round_):
    """Interpreter exit while daemon threads still create owners, export, drop and close
    (C and Python releases), with cycles and pending releases around: exit code 0, no
    crash, no Go panic, no double destroy (the strict fake library would abort)."""
    rc, out, err = run_isolated("""
        import threading, time
        sys.setswitchinterval(1e-5)
        def churn(i):
            while True:
                h = fake.create_ints(8)
                if i % 2:
                    o = pybuf.Owner(release=fake.lib.fake_destroy, arg=h.h)
                else:
                    o = pybuf.Owner(release=lambda h=h: fake.lib.fake_destroy(h.h))
                b = o.buffer(h.ptr, 8, "i")
                a = np.asarray(b); m = memoryview(b); d = np.from_dlpack(b)
                a[i] = i
                o.close()
                class Cyc: pass
                c = Cyc(); c.me = c; c.view = m      # garbage cycle holding an export
                del a, b, d, m, o, c
        for i in range(4):
            threading.Thread(target=churn, args=(i,), daemon=True).start()
        time.sleep(0.3)
        print("exiting", flush=True)
    """, timeout=120)
    assert rc == 0, describe(rc, out, err)
    assert "exiting" in out
    for bad in ("double destroy", "Fatal Python error", "panic:", "fatal error:",
                "goroutine ", "Segmentation", "Traceback"):
        assert bad not in err, describe(rc, out, err)
