"""A warm interpreter for the docs' snippets: each command is a fork of it, not a new Python.

The pages run some forty `flux-canny` commands and Python snippets; a new interpreter
spends about a second of CPU importing the package for each, on a machine of two cores.
This server imports the package once, then forks a child per request that takes the
caller's argv, folder, environment and standard streams (passed as file descriptors) and
runs the command line's own `main` (or the snippet as `__main__`), so a command costs a
fork. The `flux-canny` the pages' shell finds is a small stdlib-only client of it
(`client_source`); its exit status is the command's.

Run as `python _warm.py SOCKET`; it prints "ready" once it listens.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import socket
import sys
import traceback


def _serve_one(connection: socket.socket) -> int:
    head, fds, _, _ = socket.recv_fds(connection, 8, 3)
    size = int.from_bytes(head, "big")
    data = b""
    while len(data) < size:
        data += connection.recv(size - len(data))
    request = json.loads(data)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [request["program"], *request["argv"]]
    try:
        if request["program"] == "flux-canny":
            from flux_canny.cli import main

            code = main(request["argv"])
        else:
            sys.path.insert(0, request["cwd"])
            runpy.run_path(request["argv"][0], run_name="__main__")
            code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:  # a snippet's failure, shown as Python would show it
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    connection.sendall(bytes([code & 0xFF]))
    return code


def serve(path: str) -> None:
    import asyncio  # noqa: F401  (what the snippets and the commands import, once)

    import flux_canny.cli
    import flux_canny.fake  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reap themselves
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(64)
    print("ready", flush=True)
    while True:
        connection, _ = server.accept()
        if os.fork() == 0:
            server.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            code = 1
            try:
                code = _serve_one(connection)
            finally:
                os._exit(code)
        connection.close()


def client_source(python: str, path: str, program: str) -> str:
    """A stdlib-only script that runs `program` in a fork of the server at `path`."""
    return f"""#!{python} -S
import json, os, socket, sys
request = {{"program": {program!r}, "argv": sys.argv[1:], "cwd": os.getcwd(),
           "env": dict(os.environ)}}
payload = json.dumps(request).encode()
with socket.socket(socket.AF_UNIX) as connection:
    connection.connect({path!r})
    socket.send_fds(connection, [len(payload).to_bytes(8, "big")], [0, 1, 2])
    connection.sendall(payload)
    status = connection.recv(1)
sys.exit(status[0] if status else 70)
"""


if __name__ == "__main__":
    serve(sys.argv[1])
