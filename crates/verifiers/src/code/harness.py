# prime-verifiers code driver (embedded with include_str!; runs inside the sandbox).
#
# The first process of the sandbox. It runs every test of one problem, each in a fresh forked
# child, and reports each result; it never sees the expected outputs (the verifier compares), so
# a program cannot read them. Protocol, one JSON object per line:
#   stdin  <- {"code": str, "fn_name": str|null, "time_limit": float, "cpu_seconds": int,
#              "output_cap": int, "kill_all": bool}
#   stdout -> {"ready": true}
#   stdin  <- {"input": str}          (stdin mode)  or  {"args": str|list} (call mode)
#   stdout -> {"status": "ok"|"exit"|"signal"|"timeout"|"error", "ms": float, "out": str,
#              "result": str|null, "detail": str, "err": str, "over": bool}
#   ... until stdin closes.
# Each child: own session, fresh stdin/stdout/stderr (memfds), every other descriptor closed, a
# CPU rlimit; it is killed at the time limit. Then the driver kills every other process it can
# reach with kill(-1) ("kill_all"): as pid 1 of its pid namespace that is exactly the namespace,
# and under a Landlock signal scope (ABI 6) exactly its own sandbox; so nothing of one test
# outlives it, double-forked daemons included.
import json
import os
import select
import signal
import sys
import time
import traceback
import resource

PID1 = os.getpid() == 1
ERR_TAIL = 2000

CALL_PRELUDE = (
    "from typing import *\n"
    "import collections, heapq, math, bisect, functools, itertools, string, re, random\n"
    "from collections import *\n"
    "from heapq import *\n"
    "from math import *\n"
    "from bisect import *\n"
    "from functools import *\n"
    "from itertools import *\n"
)


def send(obj):
    sys.__stdout__.write(json.dumps(obj) + "\n")
    sys.__stdout__.flush()


def memfd(name, data=b""):
    fd = os.memfd_create(name, 0)
    if data:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def read_fd(fd, cap):
    os.lseek(fd, 0, os.SEEK_SET)
    chunks, total = [], 0
    while total <= cap:
        chunk = os.read(fd, min(1 << 20, cap + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    data = b"".join(chunks)
    return data[:cap], len(data) > cap


def to_json_text(value):
    def plain(v):
        if isinstance(v, (set, frozenset)):
            try:
                return sorted(v)
            except TypeError:
                return list(v)
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        raise TypeError(type(v).__name__)

    try:
        return json.dumps(value, default=plain, allow_nan=False)
    except (TypeError, ValueError):
        return None


def run_child(header, test, in_fd, out_fd, err_fd, res_fd):
    # In the forked child: never returns.
    code = 1
    try:
        os.setsid()
        for fd, target in ((in_fd, 0), (out_fd, 1), (err_fd, 2), (res_fd, 3)):
            os.dup2(fd, target)
        os.closerange(4, 1 << 16)
        cpu = header["cpu_seconds"]
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        # Output (and any file the program writes) is capped here; the driver's own limit is
        # higher so that it can hold large inputs.
        size = header["output_cap"] + 1
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
                    signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.stdin = open(0, "r", encoding="utf-8", errors="replace", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)
        fn_name = header.get("fn_name")
        try:
            if fn_name:
                scope = {"__name__": "__solution__", "__builtins__": __builtins__}
                exec(CALL_PRELUDE, scope)
                exec(compile(header["code"], "<solution>", "exec"), scope)
                func = scope.get(fn_name)
                if not callable(func):
                    func = getattr(scope["Solution"](), fn_name)
                raw = test["args"]
                if isinstance(raw, str):
                    args = [json.loads(line) for line in raw.split("\n") if line.strip()]
                else:
                    args = list(raw)
                value = func(*args)
                text = to_json_text(value)
                payload = {"json": text} if text is not None else {"repr": repr(value)[:10000]}
                os.write(3, json.dumps(payload).encode())
            else:
                scope = {"__name__": "__main__", "__builtins__": __builtins__}
                exec(compile(header["code"], "<solution>", "exec"), scope)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException as error:
            try:
                traceback.print_exc()
            except BaseException:
                # No descriptors or memory left for a traceback: the bare exception will do.
                os.write(2, ("%s: %s\n" % (type(error).__name__, error)).encode(errors="replace"))
            code = 1
        try:
            sys.stdout.flush()
        except BaseException:
            code = code or 1
        try:
            sys.stderr.flush()
        except BaseException:
            pass
    finally:
        os._exit(code & 0xFF)


def kill_everything_else(pid, kill_all):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    if kill_all:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass


def reap_all():
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if PID1 else os.WNOHANG)
        except ChildProcessError:
            return
        except InterruptedError:
            continue
        if pid == 0:
            return


def run_test(header, test):
    cap = header["output_cap"]
    data = test.get("input", "")
    if not isinstance(data, str):
        data = "\n".join(str(x) for x in data)
    in_fd = memfd("stdin", data.encode("utf-8", "surrogatepass"))
    out_fd, err_fd, res_fd = memfd("stdout"), memfd("stderr"), memfd("result")
    start = time.monotonic()
    try:
        pid = os.fork()
    except OSError as e:
        for fd in (in_fd, out_fd, err_fd, res_fd):
            os.close(fd)
        return {"status": "error", "ms": 0.0, "detail": "fork failed: %s" % e}
    if pid == 0:
        run_child(header, test, in_fd, out_fd, err_fd, res_fd)
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    timed_out = not poller.poll(max(1, int(header["time_limit"] * 1000)))
    elapsed = (time.monotonic() - start) * 1000.0
    kill_everything_else(pid, header.get("kill_all", False))
    _, status = os.waitpid(pid, 0)
    os.close(pidfd)
    reap_all()
    out, over = read_fd(out_fd, cap)
    err, _ = read_fd(err_fd, 1 << 16)
    res, _ = read_fd(res_fd, cap)
    for fd in (in_fd, out_fd, err_fd, res_fd):
        os.close(fd)
    reply = {
        "ms": elapsed,
        "out": out.decode("utf-8", "replace"),
        "err": err.decode("utf-8", "replace")[-ERR_TAIL:],
        "over": over,
        "result": None,
        "detail": "",
    }
    if timed_out:
        reply["status"] = "timeout"
    elif os.WIFSIGNALED(status):
        reply["status"] = "signal"
        reply["detail"] = signal.Signals(os.WTERMSIG(status)).name
    elif os.WEXITSTATUS(status) != 0:
        reply["status"] = "exit"
        reply["detail"] = str(os.WEXITSTATUS(status))
    else:
        reply["status"] = "ok"
    if res:
        reply["result"] = res.decode("utf-8", "replace")
    return reply


def main():
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                signal.SIGUSR2, signal.SIGALRM, signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_IGN)
    commands = sys.stdin.buffer
    header = json.loads(commands.readline())
    send({"ready": True, "pid1": PID1})
    for line in commands:
        if not line.strip():
            continue
        send(run_test(header, json.loads(line)))


main()
