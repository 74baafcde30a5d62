"""Batches: many coroutines' requests written in one transaction, in a thread.

What is handed in while a batch is being written goes together in the next one,
so under load a batch grows to what arrived meanwhile (up to ``max_batch``) and
the write transactions, one at a time on SQLite, are few.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

In = TypeVar("In")
Out = TypeVar("Out")


class Batches(Generic[In, Out]):
    """Runs ``write`` in a thread on the items handed in, ``max_batch`` at most at a time.

    ``write`` returns one answer per item, in their order; if it raises, every
    item of that batch gets the exception.
    """

    def __init__(
        self, write: Callable[[Sequence[In]], Sequence[Out]], *, max_batch: int, name: str
    ) -> None:
        self._write_batch = write
        self._max_batch = max_batch
        self._name = name
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: In) -> Out:
        """Write ``item`` with the next batch; its answer once written.

        An item whose caller is cancelled while it waits for a batch is not written.
        """
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name=self._name)
        try:
            return await future
        except asyncio.CancelledError:
            self._waiting = [entry for entry in self._waiting if entry[1] is not future]
            raise

    async def _write(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            try:
                answers = await asyncio.to_thread(self._write_batch, [item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - a bug must reach the waiting callers
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)

    async def close(self) -> None:
        """Wait until every item handed in so far is written."""
        if self._writer is not None:
            await self._writer
