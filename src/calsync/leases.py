"""Who holds a calendar's lease, and whether that process is still alive.

A lease owner names its process: ``host:pid:suffix`` for a daemon (the suffix
tells apart two runs that got the same pid), ``cli:host:pid`` for a ``calsync
sync``. A lease whose owner is a process of *this* host that no longer exists
(it crashed, or was killed) can be taken over at once instead of after
``sync.lease_seconds``. Owners on other hosts cannot be checked from here:
their leases expire as usual.
"""

from __future__ import annotations

import os
import secrets
import socket


def replica_owner() -> str:
    """This daemon's name in leases: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def cli_owner() -> str:
    """This ``calsync sync`` command's name in leases."""
    return f"cli:{socket.gethostname()}:{os.getpid()}"


def owner_is_gone(owner: str) -> bool:
    """Whether ``owner`` names a process of this host that no longer exists.

    False for owners on other hosts, for this process, for a live process (of
    any user) and for anything that does not read as an owner.
    """
    parts = owner.split(":")
    if parts[0] == "cli":
        parts = parts[1:]
    if len(parts) < 2 or not parts[1].isdigit():  # noqa: PLR2004 - host and pid
        return False
    host, pid = parts[0], int(parts[1])
    if host != socket.gethostname() or pid in {0, os.getpid()}:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):  # PermissionError: alive, another user's
        return False
    return False
