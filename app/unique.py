"""Process-unique tokens without a system call: a random prefix chosen once per process, then
a counter.

Every request needs one (its id) and every append without a client key needs another (the
store's own idempotency key); `os.urandom` per token was a `getrandom` system call each time,
twice per request. Unique is all they need: a request id only correlates log lines, and an
idempotency key only has to differ from every other key of its conversation. 128 random bits
per process make two processes' prefixes collide with negligible probability; a forked child
draws its own.
"""

from __future__ import annotations

import itertools
import os

__all__ = ["unique_token"]

_prefix = ""
_counter = itertools.count()


def _new_prefix() -> None:
    global _prefix, _counter
    _prefix = os.urandom(16).hex()
    _counter = itertools.count()


def unique_token() -> str:
    """A token no other call of this or any other process returns: 32 hex digits, `-`, a
    hexadecimal counter."""
    return f"{_prefix}-{next(_counter):x}"


_new_prefix()
os.register_at_fork(after_in_child=_new_prefix)
