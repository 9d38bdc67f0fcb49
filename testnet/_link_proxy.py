"""The process behind emulated links (``testnet up --link``): one TCP proxy per node.

Runs beside the nodes, never inside them. It re-reads ``links.json`` (``_links.py``)
every 0.2 s, so ``fault degrade`` takes effect on the next bytes and nodes that start
later get their listener. On each accepted connection it finds the dialing node by the
connection's source port (psutil), then relays both directions through a delay line:
a chunk leaves after the path's one-way delay plus jitter, no sooner than the path's
bandwidth allows, and a lost segment (chance ``loss`` per 1460 bytes) costs a TCP
retransmission timeout. It exits when the testnet's nodes are all gone or on SIGTERM.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections.abc import Callable
from pathlib import Path

import psutil
import trio

from ._links import CLEAN, Link, LinkEntry, load_links, path_link

RELOAD_S = 0.2
CHUNK = 65536
SEGMENT = 1460
MIN_RTO_MS = 200.0


class Links:
    """The current links.json, and which node owns which pid."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.entries: dict[str, LinkEntry] = {}

    def reload(self) -> None:
        self.entries, _pid = load_links(self.dir)

    def link_of_pid(self, pid: int | None) -> Link:
        for entry in self.entries.values():
            if pid is not None and entry.pid == pid:
                return entry.link
        return CLEAN


def _dialer_pid(peer_port: int) -> int | None:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == peer_port and conn.pid:
            return int(conn.pid)
    return None


async def _pump(src: trio.SocketStream, dst: trio.SocketStream, path: Callable[[], Link], rng: random.Random) -> None:
    """Copy src -> dst through a delay line with the path's delay, jitter, bandwidth and loss
    (read per chunk, so ``fault degrade`` reaches open connections too)."""
    send, receive = trio.open_memory_channel[tuple[float, bytes]](64)
    free_at = 0.0

    async def deliver() -> None:
        try:
            async with receive:
                async for due, data in receive:
                    await trio.sleep_until(due)
                    await dst.send_all(data)
            await dst.send_eof()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async with trio.open_nursery() as nursery:
        nursery.start_soon(deliver)
        async with send:
            while True:
                try:
                    data = await src.receive_some(CHUNK)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    break
                if not data:
                    break
                link = path()
                start = max(trio.current_time(), free_at)
                free_at = start + (len(data) * 8 / link.bw_bps if link.bw_bps else 0.0)
                delay_ms = link.rtt_ms / 2 + (rng.uniform(0, link.jitter_ms) if link.jitter_ms else 0.0)
                segments = math.ceil(len(data) / SEGMENT)
                if link.loss and rng.random() < 1 - (1 - link.loss) ** segments:
                    delay_ms += max(MIN_RTO_MS, 2 * link.rtt_ms)
                await send.send((free_at + delay_ms / 1000, data))  # in order, as TCP delivers


async def _serve_connection(client: trio.SocketStream, name: str, links: Links, rng: random.Random) -> None:
    try:
        dialer_pid = _dialer_pid(client.socket.getpeername()[1])
        with trio.move_on_after(10):
            while links.entries[name].target_port == 0:  # noqa: ASYNC110 - the file is polled anyway; the node is starting
                await trio.sleep(RELOAD_S)
        server = await trio.open_tcp_stream("127.0.0.1", links.entries[name].target_port)
    except OSError:
        await client.aclose()
        return

    def path() -> Link:
        return path_link(links.link_of_pid(dialer_pid), links.entries[name].link)

    async with client, server:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_pump, client, server, path, rng)
            nursery.start_soon(_pump, server, client, path, rng)


async def _listen(entry_name: str, links: Links, nursery: trio.Nursery, rng: random.Random) -> None:
    async def handler(stream: trio.SocketStream) -> None:
        await _serve_connection(stream, entry_name, links, rng)

    await trio.serve_tcp(handler, links.entries[entry_name].proxy_port, host="127.0.0.1", handler_nursery=nursery)


async def run(directory: Path) -> None:
    links = Links(directory)
    rng = random.Random()
    listening: set[str] = set()
    async with trio.open_nursery() as nursery:
        while True:
            links.reload()
            for name in links.entries:
                if name not in listening:
                    listening.add(name)
                    nursery.start_soon(_listen, name, links, nursery, rng)
            if links.entries and not any(psutil.pid_exists(e.pid) for e in links.entries.values()):
                nursery.cancel_scope.cancel()
                return
            await trio.sleep(RELOAD_S)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="peermind.testnet._link_proxy")
    p.add_argument("--dir", type=Path, required=True, help="the testnet directory (holds links.json)")
    args = p.parse_args(argv)
    try:
        trio.run(run, args.dir)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
