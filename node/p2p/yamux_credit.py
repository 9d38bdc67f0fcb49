"""Yamux receive-window credit sent in batches, not after every read.

py-libp2p 0.8.1's ``YamuxStream`` sends a WINDOW_UPDATE frame after nearly every read
that returns data: its hysteresis branch for a small outstanding credit fires whenever
anything was read. Readers of length-prefixed messages read the varint prefix a byte at
a time, so one pubsub message cost its receiver up to three extra frames out (each Noise
-encrypted and written with its own syscall) and its sender as many frames in. py-spy on
light nodes of a 20-node testnet while they joined put ~19% of their busy samples in
``_auto_tune_and_send_window_update``.

go-yamux and rust-yamux credit the sender once the consumed bytes reach a share of the
window. ``install`` replaces the library's method with that rule: bytes the reader has
consumed are credited back once they reach ``1 / CREDIT_BATCH_DIVISOR`` of the window
(32 KiB of 256 KiB). Bytes still buffered unread are never credited, so flow control
holds exactly as before; the sender's usable window only dips by up to one batch, so a
sender stalls only when the reader is more than seven eighths of a window behind, about
where it stalled before. The window no longer grows past its initial size (the library's
auto-tuning grew it on round-trip estimates; ads and tasks are far smaller than a window).
"""

from __future__ import annotations

from libp2p.stream_muxer.yamux.yamux import YamuxStream

CREDIT_BATCH_DIVISOR = 8
"""Consumed bytes are credited back once they reach this fraction of the receive window."""

_LIBRARY_METHOD = YamuxStream._auto_tune_and_send_window_update


async def credit_in_batches(self: YamuxStream, *, bytes_read: int = 0) -> None:
    """Credit the sender for what was read, once that is at least a batch (see the module docstring)."""
    async with self.window_lock:
        buffered = len(self.conn.stream_buffers.get(self.stream_id, b""))
        owed = self.target_recv_window - (self.recv_window + buffered)  # read, not yet credited
        if owed < max(1, self.target_recv_window // CREDIT_BATCH_DIVISOR):
            return
        self.recv_window += owed
    await self.send_window_update(owed, skip_lock=True)  # never under window_lock (see the library)


def install() -> None:
    """Make every yamux stream of this process credit in batches (idempotent)."""
    YamuxStream._auto_tune_and_send_window_update = credit_in_batches  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore the library's per-read credit (tests compare the two)."""
    YamuxStream._auto_tune_and_send_window_update = _LIBRARY_METHOD  # type: ignore[method-assign]
