"""A running fastreg platform for tests: ``fastreg serve`` started on a free port with a temporary
SQLite database, or an existing server attached to by URL and admin token."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Dict, List, Mapping, Optional, Sequence, Type

from .client import FastregError, SandboxClient

_LISTENING = re.compile(r"^fastreg platform listening on (http://\S+)")
_PROXY = re.compile(r"^proxy for .* listening on (http://\S+) \(CA: ([^;]+);")
_BIN = "fastreg.exe" if os.name == "nt" else "fastreg"


def find_binary() -> str:
    """The ``fastreg`` binary: ``$FASTREG_BIN``; else the one this package's wheel installed
    beside the running interpreter's scripts; else the first on ``PATH``."""
    explicit = os.environ.get("FASTREG_BIN")
    if explicit:
        return explicit
    candidates: List[Path] = []
    for scheme in (None, f"{os.name}_user"):
        try:
            scripts = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
        except KeyError:
            continue
        candidates.append(Path(scripts) / _BIN)
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    found = shutil.which("fastreg")
    if found:
        return found
    raise FileNotFoundError(
        "no fastreg binary: install the fastreg wheel (pip install fastreg), put fastreg on PATH "
        "or set FASTREG_BIN"
    )


class Sandbox:
    """A fastreg platform: started here (``Sandbox()``, then :meth:`start` or ``with``) or an
    existing one (:meth:`attach`).

    Started here, it runs ``fastreg serve --addr 127.0.0.1:0`` with a SQLite database in a
    temporary directory and a random admin token, reads the bound address from the banner, waits
    until ``/readyz`` answers 200, and on :meth:`stop` terminates it (SIGTERM, then SIGKILL after
    ``stop_timeout`` seconds) and removes the directory. The proxy for WeChat's hosts is off
    unless ``proxy=True`` (then on a free port too: :attr:`proxy_url`, :attr:`ca_path`).
    ``seed`` is a seed file (TOML) for the default world, and so for :meth:`demo_seed`; ``args``
    are more ``fastreg serve`` flags.
    """

    def __init__(
        self,
        *,
        binary: Optional[str] = None,
        admin_token: Optional[str] = None,
        proxy: bool = False,
        seed: Optional[str] = None,
        args: Sequence[str] = (),
        env: Optional[Mapping[str, str]] = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ):
        self._binary = binary
        self.admin_token = admin_token or secrets.token_hex(16)
        self._proxy = proxy
        self._seed = seed
        self._args = list(args)
        self._env = dict(env) if env is not None else None
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.url: str = ""
        self.proxy_url: Optional[str] = None
        self.ca_path: Optional[str] = None
        self._process: Optional["subprocess.Popen[str]"] = None
        self._tmp: Optional[tempfile.TemporaryDirectory[str]] = None
        self._output: List[str] = []
        self._attached = False
        self._draining = False

    @classmethod
    def attach(cls, url: str, admin_token: str, *, timeout: float = 30.0) -> "Sandbox":
        """An existing server (``fastreg serve`` started elsewhere): nothing is started or
        stopped; waits until its ``/readyz`` answers."""
        sandbox = cls(admin_token=admin_token, start_timeout=timeout)
        sandbox.url = url.rstrip("/")
        sandbox._attached = True
        sandbox._wait_ready(time.monotonic() + timeout)
        return sandbox

    def __repr__(self) -> str:
        return f"Sandbox({self.url or 'not started'!r})"

    @property
    def client(self) -> SandboxClient:
        """The sandbox API at the server's root, with the server's admin token."""
        if not self.url:
            raise RuntimeError("the sandbox is not started")
        return SandboxClient(self.url, self.admin_token)

    @property
    def running(self) -> bool:
        if self._attached:
            return True
        return self._process is not None and self._process.poll() is None

    def start(self) -> "Sandbox":
        """Starts ``fastreg serve`` and waits until it is ready."""
        if self._attached or self._process is not None:
            return self
        binary = self._binary or find_binary()
        self._tmp = tempfile.TemporaryDirectory(prefix="fastreg-")
        work = self._tmp.name
        cmd = [
            binary, "serve", "--addr", "127.0.0.1:0", "--db", f"sqlite://{work}/fastreg.db",
            "--admin-token", self.admin_token,
        ]
        cmd += ["--proxy-addr", "127.0.0.1:0", "--ca-dir", work] if self._proxy else ["--no-proxy"]
        if self._seed:
            cmd += ["--seed", os.path.abspath(self._seed)]  # it runs in its own directory
        cmd += self._args
        env = dict(os.environ if self._env is None else self._env)
        # The token is passed as a flag; a FASTREG_CONFIG of the caller's would add settings.
        env.pop("FASTREG_CONFIG", None)
        deadline = time.monotonic() + self.start_timeout
        try:
            self._process = subprocess.Popen(
                cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace",
            )
            assert self._process.stdout is not None
            self._read_banner(self._process.stdout, deadline)
            threading.Thread(target=self._drain, args=(self._process.stdout,), daemon=True).start()
            self._draining = True
            self._wait_ready(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _read_banner(self, out: IO[str], deadline: float) -> None:
        # The banner's first lines name the address (and the proxy's); a timer kills a server
        # that prints nothing, so that readline cannot block past the deadline.
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._kill)
        timer.daemon = True
        timer.start()
        try:
            while not self.url or (self._proxy and not self.proxy_url):
                line = out.readline()
                if not line:
                    raise RuntimeError(self._failure("exited before printing its address"))
                self._output.append(line)
                m = _LISTENING.search(line)
                if m:
                    self.url = m.group(1)
                m = _PROXY.search(line)
                if m:
                    self.proxy_url, self.ca_path = m.group(1), m.group(2)
        finally:
            timer.cancel()

    def _drain(self, out: IO[str]) -> None:
        """Keeps reading the server's output so that it never blocks on a full pipe; the last
        lines are kept for error messages."""
        with out:
            for line in out:
                self._output.append(line)
                del self._output[:-50]

    def _failure(self, what: str) -> str:
        tail = "".join(self._output[-20:]).replace(self.admin_token, "<admin token>")
        return f"fastreg serve {what}; its output:\n{tail}"

    def _wait_ready(self, deadline: float) -> None:
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if not self.running:
                raise RuntimeError(self._failure("exited"))
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.url}/readyz did not answer 200 within the start timeout")
            time.sleep(0.05)

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()

    def stop(self) -> None:
        """Stops a server started here (terminate, then kill after ``stop_timeout``) and removes
        its database. Does nothing for an attached one."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None and not self._draining:
                process.stdout.close()
            self._draining = False
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    # --- worlds -----------------------------------------------------------------------------------

    def demo_seed(self) -> Dict[str, object]:
        """The default world as a seed document (``GET /sandbox/v1/export`` at the root), without
        its clock: on a new server, the built-in demo world (or ``--seed``'s)."""
        seed = dict(self.client.export())
        seed.pop("clock", None)
        return seed


__all__ = ["Sandbox", "find_binary", "FastregError"]
