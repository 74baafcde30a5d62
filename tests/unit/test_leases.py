"""Lease owners: their names, and which of them are dead processes of this host."""

from __future__ import annotations

import os
import socket

from calsync.leases import cli_owner, owner_is_gone, replica_owner
from conftest import dead_pid

HOST = socket.gethostname()


def test_owner_names_carry_host_and_pid():
    """A daemon is host:pid:suffix, a CLI run cli:host:pid; this process is alive in both."""
    assert replica_owner().startswith(f"{HOST}:{os.getpid()}:")
    assert cli_owner() == f"cli:{HOST}:{os.getpid()}"
    assert not owner_is_gone(replica_owner())
    assert not owner_is_gone(cli_owner())


def test_a_finished_process_of_this_host_is_gone():
    """host:pid:x and cli:host:pid of a process that has exited are gone."""
    pid = dead_pid()
    assert owner_is_gone(f"{HOST}:{pid}:abc123")
    assert owner_is_gone(f"cli:{HOST}:{pid}")


def test_live_processes_other_hosts_and_unreadable_owners_are_not_gone():
    """Only a dead pid on this very host counts; anything else waits for the lease to expire."""
    pid = dead_pid()
    assert not owner_is_gone(f"{HOST}:{os.getppid()}:abc123")
    assert not owner_is_gone(f"another-{HOST}:{pid}:abc123")
    assert not owner_is_gone("replica-a")
    assert not owner_is_gone(f"{HOST}:0:x")
    assert not owner_is_gone(f"{HOST}:{10**30}:x")
