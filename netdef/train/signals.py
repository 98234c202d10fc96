"""Ctrl-C and SIGTERM: ask the loop to stop after the batch in flight (docs/design.md §4)."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class StopFlag:
    """Set by a signal (or by a caller, e.g. a notebook); the loop checks it between batches."""

    def __init__(self) -> None:
        self.requested = False
        self.signal: int | None = None
        self.listeners: list = []  # called with the signal number at the first request

    def request(self, signum: int | None = None) -> None:
        first = not self.requested
        self.requested = True
        self.signal = signum
        if first:  # say at once that the stop is coming (the batch in flight may take long)
            for listener in self.listeners:
                listener(signum)

    def __call__(self) -> bool:
        return self.requested


@contextmanager
def catch_interrupts(stop: StopFlag):
    """Within the block, SIGINT/SIGTERM set ``stop``; a second Ctrl-C raises KeyboardInterrupt
    at once. Outside the main thread signals cannot be caught, and nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        if stop.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.request(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)
