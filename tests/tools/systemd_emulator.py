#!/usr/bin/env python3
"""A stand-in for systemd running one Type=notify service from its unit file, for tests and
benchmarks on machines where systemd is not pid 1.

It runs the unit's own command lines (ExecStart, ExecStartPost, ExecReload, ExecStopPost, with
their "-" prefixes and $MAINPID), keeps a file descriptor store (FDSTORE=1 with FDNAME, FDSTOREREMOVE=1, at most
FileDescriptorStoreMax fds, one copy of each open file, handed back as LISTEN_FDS and
LISTEN_FDNAMES from fd 3), and applies
KillMode=mixed and TimeoutStopSec. Commands come on stdin, one per line:

  start     start the service (with the stored fds, if any) and run ExecStartPost
  restart   `systemctl restart`: stop (SIGTERM, ExecStopPost), keep the store, start
  crash     the main process dies (SIGKILL): ExecStopPost, then Restart=always starts it again
  reload    `systemctl reload`: ExecReload
  stop      `systemctl stop`: stop, then the store is flushed (FileDescriptorStorePreserve=no)
  status    print the stored fds' names and counts, and the names of refused ones

and each is answered on stdout with one line: `ok ACTION MILLISECONDS` or `fail ACTION WHY`.

  systemd_emulator.py UNIT [--replace FROM=TO ...] [--max-timeout SECONDS]
"""

import argparse
import array
import ctypes
import fcntl
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def parse_unit(path, replacements):
    service = {}
    section = None
    with open(path) as f:
        text = f.read()
    for a, b in replacements:
        text = text.replace(a, b)
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section != "Service" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        service.setdefault(key.strip(), []).append(value.strip())
    return service


def seconds(v, default):
    if not v:
        return default
    v = v[-1]
    return float(v[:-1]) if v.endswith("s") else float(v)


_libc = ctypes.CDLL(None, use_errno=True)
SYS_KCMP = {"x86_64": 312, "aarch64": 272}.get(os.uname().machine, 312)


def same_file(a, b):
    """Whether two fds are the same open file (kcmp KCMP_FILE), as systemd checks."""
    pid = os.getpid()
    return _libc.syscall(SYS_KCMP, pid, pid, 0, a, b) == 0


def recv_cloexec(sock, bufsize, maxfds):
    """One message and its fds, close-on-exec as systemd holds them: a stored fd inherited by
    the service (at its number here, besides its LISTEN_FDS copy) would outlive the service's
    own close, and keep a dead instance's FUSE channel, and the requests on it, alive.
    (socket.recv_fds ignores its flags before Python 3.12, so MSG_CMSG_CLOEXEC is passed here.)"""
    fds = array.array("i")
    msg, ancdata, _, _ = sock.recvmsg(
        bufsize, socket.CMSG_LEN(maxfds * fds.itemsize), socket.MSG_CMSG_CLOEXEC
    )
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return msg, list(fds)


class Store:
    """What the notify socket received: readiness, and the stored fds with their names, in
    order; an fd already stored (the same open file) is not stored twice, FDSTOREREMOVE=1
    drops every fd of a name, and beyond FileDescriptorStoreMax fds are refused."""

    def __init__(self, path, limit):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.limit = limit
        self.fds = []  # (name, fd)
        self.refused = []
        self.ready = threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self.receive, daemon=True).start()

    def receive(self):
        while True:
            try:
                self.receive_one()
            except Exception as e:  # a bad message must not end the store
                print(f"systemd_emulator: {e!r}", file=sys.stderr, flush=True)

    def receive_one(self):
        if True:
            msg, fds = recv_cloexec(self.sock, 4096, 16)
            fields = dict(
                l.split("=", 1) for l in msg.decode(errors="replace").splitlines() if "=" in l
            )
            name = fields.get("FDNAME", "stored")
            with self.lock:
                if fields.get("READY") == "1":
                    self.ready.set()
                if fields.get("FDSTOREREMOVE") == "1":
                    for n, fd in [e for e in self.fds if e[0] == name]:
                        os.close(fd)
                    self.fds = [e for e in self.fds if e[0] != name]
                for fd in fds:
                    if fields.get("FDSTORE") != "1" or any(same_file(fd, f) for _, f in self.fds):
                        os.close(fd)
                    elif len(self.fds) >= self.limit:
                        self.refused.append(name)
                        os.close(fd)
                    else:
                        self.fds.append((name, fd))

    def flush(self):
        with self.lock:
            for _, fd in self.fds:
                os.close(fd)
            self.fds.clear()


class Proc:
    """A child process by pid (what subprocess.Popen gives, for a posix_spawn child)."""

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("service", timeout)
            time.sleep(0.005)
        return self.returncode

    def send_signal(self, sig):
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self):
        self.send_signal(signal.SIGKILL)


class Service:
    def __init__(self, unit, replacements, max_timeout):
        self.unit = parse_unit(unit, replacements)
        self.dir = tempfile.mkdtemp(prefix="vproc-test-systemd-")
        limit = int((self.unit.get("FileDescriptorStoreMax") or ["0"])[-1])
        self.store = Store(os.path.join(self.dir, "notify"), limit)
        # systemd's defaults are 90 s; a test need not wait that long to see a hang.
        self.timeout_stop = min(seconds(self.unit.get("TimeoutStopSec"), 90), max_timeout)
        self.timeout_start = min(seconds(self.unit.get("TimeoutStartSec"), 90), max_timeout)
        self.main = None

    def env(self):
        e = dict(os.environ)
        e["NOTIFY_SOCKET"] = self.store.sock.getsockname()
        for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
            e.pop(k, None)
        return e

    def run(self, line, timeout):
        """Runs one Exec line to completion; an error string, or None."""
        ignore = line.startswith("-")
        line = line.lstrip("-@+!:")
        if self.main:
            line = line.replace("$MAINPID", str(self.main.pid))
        argv = shlex.split(line)
        try:
            r = subprocess.run(argv, env=self.env(), timeout=timeout,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except subprocess.TimeoutExpired:
            return f"{argv[0]} still running after {timeout:g} s"
        if r.returncode != 0 and not ignore:
            return f"{argv[0]} exited {r.returncode}: {r.stderr.decode(errors='replace').strip()}"
        return None

    def start(self):
        with self.store.lock:
            stored = list(self.store.fds)
        names = ":".join(n for n, _ in stored)
        self.store.ready.clear()
        env = self.env()
        argv = shlex.split(self.unit["ExecStart"][-1].lstrip("-@+!:"))
        # Stored fds become 3, 4, ... of the service (copied high first, so that no
        # renumbering overwrites another), and LISTEN_PID its own pid, as systemd passes them.
        # posix_spawn's dup2 actions: no shell of ours renumbers fds (bash keeps fds from 10
        # on for itself and closes them at exec).
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for _, fd in stored]
        actions = [(os.POSIX_SPAWN_DUP2, h, 3 + i) for i, h in enumerate(high)]
        if stored:
            env["LISTEN_FDS"] = str(len(stored))
            env["LISTEN_FDNAMES"] = names
        argv = ["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh"] + argv
        self.main = Proc(os.posix_spawn(argv[0], argv, env, file_actions=actions))
        for h in high:
            os.close(h)
        if not self.store.ready.wait(self.timeout_start):
            return "no READY=1"
        for line in self.unit.get("ExecStartPost", []):
            err = self.run(line, self.timeout_start)
            if err:
                return "ExecStartPost: " + err
        return None

    def stop_main(self, sig):
        if self.main is None:
            return None
        err = None
        self.main.send_signal(sig)
        try:
            self.main.wait(self.timeout_stop)
        except subprocess.TimeoutExpired:
            err = f"the main process did not stop within {self.timeout_stop:g} s"
            self.main.kill()
            self.main.wait(10)
        # As systemd: death by SIGHUP, SIGINT, SIGTERM or SIGPIPE is a clean exit too.
        clean = (0, -signal.SIGHUP, -signal.SIGINT, -signal.SIGTERM, -signal.SIGPIPE)
        if err is None and sig == signal.SIGTERM and self.main.returncode not in clean:
            err = f"the main process exited {self.main.returncode}"
        for line in self.unit.get("ExecStopPost", []):
            e = self.run(line, self.timeout_stop)
            if e:
                err = err or "ExecStopPost: " + e
        self.main = None
        return err

    def act(self, action):
        if action == "start":
            return self.start()
        if action == "restart":
            return self.stop_main(signal.SIGTERM) or self.start()
        if action == "crash":
            return self.stop_main(signal.SIGKILL) or self.start()
        if action == "reload":
            lines = self.unit.get("ExecReload", [])
            for line in lines:
                err = self.run(line, self.timeout_start)
                if err:
                    return err
            return None if lines else "no ExecReload"
        if action == "stop":
            err = self.stop_main(signal.SIGTERM)
            self.store.flush()
            return err
        return f"unknown action {action}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("unit")
    p.add_argument("--replace", action="append", default=[])
    p.add_argument("--max-timeout", type=float, default=20.0)
    a = p.parse_args()
    reps = [r.split("=", 1) for r in a.replace]
    svc = Service(a.unit, reps, a.max_timeout)
    for line in sys.stdin:
        action = line.strip()
        if not action:
            continue
        if action == "status":
            with svc.store.lock:
                counts = {}
                for n, _ in svc.store.fds:
                    counts[n] = counts.get(n, 0) + 1
                names = " ".join(f"{n}:{c}" for n, c in counts.items()) or "-"
                refused = " ".join(svc.store.refused) or "-"
            print(f"ok status stored={names} refused={refused}", flush=True)
            continue
        t = time.monotonic()
        err = svc.act(action)
        ms = (time.monotonic() - t) * 1000
        print(f"fail {action} {err}" if err else f"ok {action} {ms:.1f}", flush=True)
    try:
        if svc.main:
            svc.stop_main(signal.SIGTERM)
        svc.store.flush()
    finally:
        # The notify socket's directory goes with the service.
        shutil.rmtree(svc.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
