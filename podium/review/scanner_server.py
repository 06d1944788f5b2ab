"""A long-lived scanner process: checkov, cfn-lint and bandit imported once, each scan run in a
fork of that warm process.

It runs with the scanners' own Python (`.venv-scanners/bin/python scanner_server.py …`), so it
imports nothing from Podium and only the standard library at module level. A one-shot
`checkov` spends nearly all its time importing itself (3-4 CPU s, 10-15 s of wall time on a
loaded 2-core machine); here the imports are paid once, when the server starts, and every
request is served by `fork()`: the child starts from the parent's freshly imported, never-used
state (no scan's global state leaks into the next), runs the tool's own command-line entry
point with the request's arguments, its standard output written to the request's file, and
answers with the exit status and its CPU seconds.

Protocol, over a Unix socket (mode 0600, in the caller's temp dir): one JSON line in,
`{"tool": "checkov"|"cfn-lint"|"bandit", "argv": [...], "cwd": "...", "stdout": "/path",
"timeout_s": 60}`, one JSON line out, `{"rc": 0, "cpu_s": 1.2}` (or `{"error": "..."}`). The
child is its own process group; past `timeout_s` the whole group (checkov forks workers) is
killed and the connection closes without an answer, which the client reports as a timeout.

One server per socket: it holds an exclusive lock on `<socket>.lock` for its life, so two
callers starting one at once leave one running. It exits after `--idle-s` seconds with no
request. It holds no state a scan depends on beyond the imported modules: a dead server costs
the next push its start-up time (or a one-shot run), never a wrong answer.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib
import json
import os
import resource
import signal
import socketserver
import sys
import time
import warnings
from typing import Any

# module → the attribute that is the tool's command-line entry point
ENTRY_POINTS = {
    "checkov": "checkov.main",
    "cfn-lint": "cfnlint.runner",
    "bandit": "bandit.cli.main",
}
# imported in the parent so forks start warm: each checkov runner Podium asks for, and their
# check registries (loaded when a runner module is imported)
WARM_MODULES = (
    "checkov.main",
    "checkov.terraform.runner",
    "checkov.cloudformation.runner",
    "checkov.kubernetes.runner",
    "checkov.dockerfile.runner",
    "checkov.github_actions.runner",
    "cfnlint.runner",
    "cfnlint.runner.cli",
    "bandit.cli.main",
    "bandit.core.manager",
)


def _run_tool(tool: str, argv: list[str]) -> int:
    """Run a tool's command-line entry point in this (forked) process; its exit status."""
    sys.argv = [tool, *argv]
    try:
        if tool == "checkov":
            checkov_main = importlib.import_module("checkov.main")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=SyntaxWarning)
                rc = checkov_main.Checkov(argv).run()
        elif tool == "cfn-lint":
            rc = importlib.import_module("cfnlint.runner").main()
        elif tool == "bandit":
            rc = importlib.import_module("bandit.cli.main").main()
        else:
            raise ValueError(f"unknown tool {tool!r}")
    except SystemExit as done:
        code = done.code
        rc = code if isinstance(code, int) else (0 if code is None else 1)
    return int(rc or 0)


def _reuse_checkov_interpreter() -> None:
    """checkov renders Terraform expressions through `safe_eval_functions.evaluate`, which
    builds a new asteval `Interpreter` for every expression (28,000 of them for a 1,400-line
    module, about half its scan time). All of them share one symbol table already, and
    `Interpreter.eval` resets its errors on every call, so one interpreter, its return value
    cleared before each use, gives the same findings (checked on terraform-aws-s3-bucket's
    main.tf: 152 passed, 6 failed, the same ids and lines) in half the time. Each fork gets its
    own copy; a checkov without this function is left as it is."""
    try:
        sef = importlib.import_module(
            "checkov.terraform.graph_builder.variable_rendering.safe_eval_functions"
        )
    except ImportError:
        return
    make = getattr(sef, "get_asteval", None)
    if make is None:
        return
    shared = make()

    def reused() -> Any:
        shared.retval = None
        shared.error = []
        return shared

    setattr(sef, "get_asteval", reused)  # noqa: B010 - a module of another venv


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # bandit closes the stdout it wrote its report to
            pass


class _Handler(socketserver.StreamRequestHandler):
    """Serves one request, in a child forked for it (ForkingMixIn)."""

    def handle(self) -> None:
        try:
            request: dict[str, Any] = json.loads(self.rfile.readline())
            tool, argv = str(request["tool"]), [str(a) for a in request["argv"]]
            if tool not in ENTRY_POINTS:
                raise ValueError(f"unknown tool {tool!r}")
            timeout_s = float(request.get("timeout_s") or 60)
        except (ValueError, KeyError, TypeError) as error:
            self._answer({"error": f"bad request: {error}"})
            return
        os.setpgid(0, 0)  # checkov's workers join this group; a timeout kills them all

        def expire(signum: int, frame: object) -> None:
            os.killpg(os.getpgid(0), signal.SIGKILL)

        signal.signal(signal.SIGALRM, expire)
        signal.alarm(max(1, int(timeout_s + 0.999)))
        if request.get("cwd"):
            os.chdir(str(request["cwd"]))
        out = os.open(str(request["stdout"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_WRONLY)
        _flush()
        os.dup2(out, 1)
        os.dup2(null, 2)
        try:
            rc = _run_tool(tool, argv)
        except Exception as error:  # a tool's crash is an answer, not the server's death
            rc = 2
            print(f"{type(error).__name__}: {error}", file=sys.stderr)
        finally:
            _flush()
        signal.alarm(0)
        mine = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = mine.ru_utime + mine.ru_stime + kids.ru_utime + kids.ru_stime
        self._answer({"rc": rc, "cpu_s": round(cpu, 3)})

    def _answer(self, answer: dict[str, Any]) -> None:
        self.wfile.write((json.dumps(answer) + "\n").encode())
        self.wfile.flush()


class _Server(socketserver.ForkingMixIn, socketserver.UnixStreamServer):
    max_children = 16
    block_on_close = False
    last_request = time.monotonic()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.last_request = time.monotonic()
        super().process_request(request, client_address)

    def handle_timeout(self) -> None:
        self.collect_children()


def serve(path: str, idle_s: float) -> int:
    lock = open(path + ".lock", "w")  # noqa: SIM115 - held for the server's life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another server owns this socket
    # run as a script (without -I), this file's folder comes first on sys.path, and its
    # neighbours (Podium's `secrets.py`) would shadow the standard library for the tools
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    for name in WARM_MODULES:
        importlib.import_module(name)
    _reuse_checkov_interpreter()
    if os.path.exists(path):
        os.unlink(path)  # a dead server's socket: we hold the lock, so nobody serves it
    old = os.umask(0o177)
    try:
        server = _Server(path, _Handler)
    finally:
        os.umask(old)
    inode = os.stat(path).st_ino
    server.timeout = 1.0
    server.last_request = time.monotonic()
    try:
        while server.active_children or time.monotonic() - server.last_request < idle_s:
            server.handle_request()
    finally:
        server.server_close()
        try:
            if os.stat(path).st_ino == inode:
                os.unlink(path)
        except OSError:
            pass
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, help="the Unix socket to serve on")
    parser.add_argument("--idle-s", type=float, default=900.0, help="exit after this idle time")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    return serve(args.socket, args.idle_s)


if __name__ == "__main__":
    sys.exit(main())
