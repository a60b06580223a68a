"""The search's slots: one thread per job the executor runs side by side, events merged.

Each slot asks the controller for a trial, trains it and asks again, until the controller has
none to give; the events of every slot come out of one generator in the caller's thread, as
the sweep's side-by-side workers do. A slot that raises (results that cannot be written) ends
the search with that error.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_DONE = object()


@dataclass(frozen=True)
class _SlotError:
    error: BaseException


def run_slots(search: Any, slots: int) -> Iterator[Any]:
    """Yield the events of `slots` threads each running `search`'s trials one after another."""
    merged: queue.Queue[Any] = queue.Queue()

    def slot() -> None:
        try:
            while (current := search._ask()) is not None:
                for event in search._train(current):
                    merged.put(event)
        except BaseException as exc:
            merged.put(_SlotError(exc))
        finally:
            merged.put(_DONE)

    threads = [
        threading.Thread(target=slot, name=f"search-slot-{i}", daemon=True) for i in range(slots)
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            try:
                item = merged.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _DONE:
                running -= 1
            elif isinstance(item, _SlotError):
                raise item.error
            else:
                yield item
    finally:
        if running:
            search.stop()
        for thread in threads:
            thread.join()
