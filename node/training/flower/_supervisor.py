"""Run one Flower process (SuperLink or SuperNode) as a supervised child.

``flower-supernode`` cannot run inside another program's thread (it installs
signal handlers), so each is its own process, in its own session so the
helpers it spawns (``flower-superexec``, one ``flwr-clientapp`` per message)
go down with it. The supervisor starts it, waits until its port accepts
connections, restarts it if it dies unexpectedly (a SuperNode exits on 401 when
its SuperLink restarted), and always stops the whole process group on exit:
SIGTERM, then SIGKILL after a grace period. A small guard process (``_guard``)
sits between the daemon and Flower's process, so a daemon killed outright
does not leave its SuperNode or SuperLink running.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import trio

from ..errors import FlowerEngineError

log = logging.getLogger("peermind.node.training.flower")

STOP_GRACE_S = 8.0
GUARD = Path(__file__).with_name("_guard.py")
"""Run as a plain script (``python -I``): importing the package would pull in Flower and libp2p."""


def _log_tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class Supervised:
    """One supervised child process; ``await nursery.start(s.run)`` returns once it is ready."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        log_path: Path,
        ready_port: tuple[str, int] | None = None,
        ready_timeout_s: float = 60.0,
        restarts: int = 2,
    ) -> None:
        self.name = name
        self.argv = argv
        self._env = env
        self.log_path = log_path
        self._ready_port = ready_port
        self._ready_timeout_s = ready_timeout_s
        self._restarts = restarts
        self.process: trio.Process | None = None
        self.restarts_done = 0
        self.failed = ""
        self.started_at = 0.0
        self._wanted = True

    # ------------------------------------------------------------------ lifecycle
    async def run(self, *, task_status: trio.TaskStatus[Supervised] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            self.process = await self._spawn()
            await self._wait_ready()
            task_status.started(self)
            while True:
                code = await self.process.wait()
                if not self._wanted:
                    return
                if self.restarts_done >= self._restarts:
                    self.failed = f"{self.name} exited with {code} and was restarted {self.restarts_done} times"
                    log.error(self.failed + "; log ends with:\n%s", _log_tail(self.log_path))
                    return
                self.restarts_done += 1
                log.warning("%s exited with %s; restarting it", self.name, code)
                await trio.sleep(0.5)
                self.process = await self._spawn()
        finally:
            with trio.CancelScope(shield=True):
                await self._kill()

    async def stop(self) -> None:
        self._wanted = False
        await self._kill()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def rss_mb(self) -> float:
        """Resident memory of the process and all its children (SuperExec, ClientApps)."""
        if not self.alive or self.process is None:
            return 0.0
        try:
            root = psutil.Process(self.process.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return round(total / 2**20, 1)

    # ------------------------------------------------------------------ internals
    async def _spawn(self) -> trio.Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = await trio.to_thread.run_sync(self.log_path.open, "ab")
        try:
            guarded = [sys.executable, "-I", str(GUARD), str(os.getpid()), "--", *self.argv]
            process = await trio.lowlevel.open_process(
                guarded, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self._env, start_new_session=True,
            )
        except OSError as exc:
            raise FlowerEngineError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc
        finally:
            out.close()  # the child keeps its own descriptor
        self.started_at = time.monotonic()
        log.info("started %s", self.name, extra={"pid": process.pid})
        return process

    async def _wait_ready(self) -> None:
        assert self.process is not None
        if self._ready_port is None:
            return
        host, port = self._ready_port
        with trio.move_on_after(self._ready_timeout_s):
            while True:
                if self.process.returncode is not None:
                    raise FlowerEngineError(
                        f"{self.name} exited with {self.process.returncode} while starting; "
                        f"its log ({self.log_path}) ends with:\n{_log_tail(self.log_path)}"
                    )
                if await trio.to_thread.run_sync(_port_open, host, port):
                    return
                await trio.sleep(0.1)
        raise FlowerEngineError(
            f"{self.name} did not listen on {host}:{port} within {self._ready_timeout_s:.0f} s; "
            f"its log ends with:\n{_log_tail(self.log_path)}"
        )

    async def _kill(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        self._signal(process.pid, signal.SIGTERM)
        with trio.move_on_after(STOP_GRACE_S):
            await process.wait()
        if process.returncode is None:
            log.warning("%s ignored SIGTERM for %.0f s: killing it", self.name, STOP_GRACE_S)
        self._signal(process.pid, signal.SIGKILL)  # also reaps leftover helpers of the group
        await process.wait()

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        try:
            os.killpg(pid, sig)  # the child leads its own session: its group id is its pid
        except (ProcessLookupError, PermissionError):
            pass
