"""A library call changes nothing process-wide (issue #10 D): no ``mallopt`` heap tuning, no
parse threads left running, no module state that a later call would inherit. The heap tuning
belongs to the console entry point (``cli.main``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from vvolguard.evidence.vvold import VvoldStream

KB318662 = (
    "2024-03-14T10:02:11.418Z warning vvold[2100874] [Originator@6876 sub=Default]\n"
    "--> VasaSession::GetFreeConn: No free connections to VP pure-ct0 (url: https://10.1.1.10:8084/vasa) "
    "[#outstanding 5/5] - waiting\n"
)


def test_diagnose_from_the_library_does_not_tune_the_heap(tmp_path) -> None:
    """``mallopt`` is glibc's; a call to it from the library would change every other
    allocation of the caller's process. A child process records every ``mallopt`` call made
    while ``vvolguard.diagnose`` reads a multi-block log (the case that used to tune the heap)."""
    log = tmp_path / "vvold.log"
    log.write_bytes(KB318662.encode() * 200_000)  # > one 16 MiB block: the parallel path runs
    probe = textwrap.dedent(
        f"""
        import ctypes, threading
        calls = []
        real = ctypes.CDLL
        class Spy:
            def __init__(self, lib):
                self._lib = lib
            def __getattr__(self, name):
                if name == "mallopt":
                    return lambda *a: calls.append(a)
                return getattr(self._lib, name)
        ctypes.CDLL = lambda *a, **k: Spy(real(*a, **k))
        from vvolguard import diagnose
        d = diagnose([{str(log)!r}])
        assert d.inputs[0].records > 0, d.inputs
        print(len(calls), sum(t.name.startswith("vvold-parse") for t in threading.enumerate()))
        """
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0"], out.stderr


def test_parse_threads_end_with_the_input() -> None:
    data = KB318662.encode() * 4000
    size = 16 * 1024
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    before = {t.ident for t in threading.enumerate()}
    frames = list(VvoldStream("f", "h").feed_all(chunks, parallel=True))
    assert sum(f.frame.height for f in frames) == 4000
    for thread in threading.enumerate():
        if thread.ident not in before and thread.name.startswith("vvold-parse"):
            thread.join(timeout=5)
            assert not thread.is_alive()
