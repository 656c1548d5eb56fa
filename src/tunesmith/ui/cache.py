"""A small thread-safe LRU for what the UI keeps loaded: opened data, tokenizers, estimates, models."""

from __future__ import annotations

import threading
from collections import OrderedDict


class Lru:
    """`get_or_make(key, make)`; `make` runs outside the lock (loading a model must not block lookups)."""

    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get_or_make(self, key, make):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = make()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value

    def drop(self, key) -> None:
        with self.lock:
            self.items.pop(key, None)
