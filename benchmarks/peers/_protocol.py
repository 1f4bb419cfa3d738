"""The line protocol between a benchmark and a peer worker: standard library only.

A worker is a script run by the peer library's own interpreter (which may lack jax, or torch).
It reads one JSON request per line on stdin and answers one JSON line on stdout, prefixed with
``MARK`` so that whatever a library prints on stdout is ignored. Its first line, before any
request, is the greeting ``{"library": ..., "version": ...}``, or ``{"unavailable": reason}``
after which it exits. Requests:

* ``{"cmd": "load", ...}``: build what the worker times (the fields are the worker's); answers
  a dict of facts (``info``), after which ``time`` requests refer to this build.
* ``{"cmd": "time", "mode": name, "repeats": k}``: run ``mode`` ``k`` times, answer
  ``{"seconds": [...], "cpu_seconds": [...]}`` (wall and process CPU time of each call; each
  call blocks until its result is ready).
* ``{"cmd": "quit"}``.

An exception answers ``{"error": traceback}`` and the worker goes on.
"""

import json
import sys
import time
import traceback

MARK = "@@peer "


def send(obj, stream=None):
    stream = stream or sys.stdout
    stream.write(MARK + json.dumps(obj) + "\n")
    stream.flush()


def serve(greet, load):
    """Run a worker: ``greet() -> dict`` (raise ImportError when the library is missing), and
    ``load(request) -> (info, calls)`` with ``calls`` a dict ``mode -> call()``."""
    try:
        hello = greet()
    except ImportError as error:
        send({"unavailable": "{}: {}".format(type(error).__name__, error)})
        return
    send(hello)
    calls = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            if request["cmd"] == "quit":
                send({"bye": True})
                return
            if request["cmd"] == "load":
                info, calls = load(request)
                send({"info": info})
            elif request["cmd"] == "time":
                call = calls[request["mode"]]
                seconds, cpu_seconds = [], []
                for _ in range(int(request.get("repeats", 1))):
                    began, began_cpu = time.perf_counter(), time.process_time()
                    call()
                    seconds.append(time.perf_counter() - began)
                    cpu_seconds.append(time.process_time() - began_cpu)
                send({"seconds": seconds, "cpu_seconds": cpu_seconds})
            else:
                send({"error": "unknown command {!r}".format(request["cmd"])})
        except Exception:  # noqa: BLE001 - reported to the benchmark, which decides
            send({"error": traceback.format_exc()})


class Worker:
    """The benchmark's side: start ``command`` and exchange requests with it."""

    def __init__(self, command, cwd=None, env=None):
        import subprocess
        import tempfile

        # stderr goes to a file: an undrained pipe would block a chatty worker.
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            text=True, cwd=cwd, env=env, bufsize=1,
        )
        self.greeting = self._receive()

    def _receive(self):
        for line in self.process.stdout:
            if line.startswith(MARK):
                return json.loads(line[len(MARK):])
        self.stderr.seek(0)
        error = self.stderr.read()[-3000:]
        return {"unavailable": "the worker exited ({}): {}".format(self.process.wait(), error)}

    def request(self, **request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = self._receive()
        if "error" in answer or "unavailable" in answer:
            raise RuntimeError(answer.get("error") or answer["unavailable"])
        return answer

    def close(self):
        if self.process.poll() is None:
            try:
                self.request(cmd="quit")
            except (RuntimeError, BrokenPipeError, OSError):
                pass
        try:
            self.process.wait(timeout=30)
        except Exception:  # noqa: BLE001
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.stderr):
            stream.close()


def timed_rounds(calls, repeats, warmup=2, seed=0):
    """Wall and CPU seconds of every round for each call, one call after the other in each
    round, in an order drawn afresh for every round (seeded by ``seed``): no version always runs
    first, nor always right after the same other one (whose caches it would find warm or cold),
    and a slow spell of a shared machine hits all versions of one round alike.

    The one timing loop of the benchmarks (``benchmarks.common``, ``neuron_kernels``,
    ``conv_cpu``, ``peers.compare``). ``calls`` maps a name to a callable (timed here, by this
    process's clocks; it must block until its result is ready, e.g. ``jax.block_until_ready``)
    or to a pair ``(worker, mode)`` (timed by the worker's own clocks, without the pipe). The
    first ``warmup`` rounds are not recorded. Returns ``{name: {"wall": [...], "cpu": [...]}}``;
    CPU time is the process's, all threads: on a CPU shared with other jobs it counts the work
    done rather than the time spent waiting for a core.
    """
    import random

    order = random.Random(seed)
    names = list(calls)
    out = {name: {"wall": [], "cpu": []} for name in names}
    for round_ in range(warmup + repeats):
        order.shuffle(names)
        for name in names:
            call = calls[name]
            if isinstance(call, tuple):
                worker, mode = call
                answer = worker.request(cmd="time", mode=mode, repeats=1)
                wall, cpu = answer["seconds"][0], answer["cpu_seconds"][0]
            else:
                began, began_cpu = time.perf_counter(), time.process_time()
                call()
                wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
            if round_ >= warmup:
                out[name]["wall"].append(wall)
                out[name]["cpu"].append(cpu)
    return {name: out[name] for name in calls}
