"""Ballast: fill the zygote's allocator holes once, so that forked monitors allocate densely.

**Why.** A monitor forked from the zygote pays, in private memory, for every page it writes
(``monitor.zygote``). Each object it allocates is written into some page. CPython 3.11's small
object allocator (obmalloc) hands out blocks from the *partially used* pools of each size
class first, and the zygote, having imported and warmed up, has free blocks scattered through
hundreds of shared pools: a monitor's first few hundred objects would each un-share a
different page. glibc's malloc, which serves everything bigger (and the locks that
``os.fork`` re-creates in every child), likewise reuses free chunks scattered through the
zygote's heap before it carves fresh memory from the top. Filled holes change that: a
monitor's allocations then come from fresh pools and from the top of the heap, side by side,
a few pages for all of them. Measured on the project machine: ~100 KiB less private memory
per monitor (bench/README.md).

**How.** ``fill`` runs once, after the warm-up and a full collection, and keeps what it
allocates for the zygote's life (it is shared with every monitor and costs them nothing):

1. glibc: allocate 48-byte chunks (``_thread.allocate_lock`` mallocs a ``sem_t``) while
   ``mallinfo2`` says free chunks outside the top of the heap keep shrinking (malloc(3),
   mallinfo(3)); small free chunks are taken whole and bigger ones split, until nothing
   but the top is left to carve from.
2. obmalloc: for each size class, allocate objects of exactly that size until one lands in
   an empty pool (the pool's header, at the 16 KiB boundary below the block, counts its
   used blocks: Objects/obmalloc.c, ``struct pool_header``, in 3.11 on 64-bit), which means
   no partially used pool of that class is left. Objects of 16 bytes are ``object()``, of 32
   bytes two-digit ints, the others ``bytes`` of the right length (33 bytes plus the length).
   The object that opened the pool is dropped, so the empty pool serves the next class,
   and the last one stays free: a monitor's first object of any class opens a pool.

The zygote's own loop allocates and frees a few objects per request afterwards; monitors
forked later reuse those few holes first, which costs them a page or two, and the ballast
does not grow. Elsewhere (another interpreter, 32-bit, no ``mallinfo2``) the step that
does not apply is skipped: the ballast is an optimisation, never a requirement.
"""

from __future__ import annotations

import _thread
import itertools
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["fill"]

POOL_SIZE = 16 * 1024
"""obmalloc's pool size in CPython 3.11 on 64-bit platforms (USE_LARGE_POOLS)."""

MAX_PER_CLASS = 4096
"""Objects allocated per size class at most, in case no fresh pool ever shows up."""

MAX_LOCKS = 4096
"""Chunks taken from glibc's free lists at most."""

_MALLINFO2 = (
    "arena",
    "ordblks",
    "smblks",
    "hblks",
    "hblkhd",
    "usmblks",
    "fsmblks",
    "uordblks",
    "fordblks",
    "keepcost",
)
"""struct mallinfo2's fields, all size_t (malloc.h, glibc 2.33)."""

_BIG = b"\x01\x00\x00\x00\x00\x01"
"""A 41-bit int: two 30-bit digits, 32 bytes, and too big to be cached (a new object each time)."""

MAX_BLOCKS = 16384
"""Objects kept to fill pools at most (the zygote keeps ~5,000 here)."""

_kept: list[tuple[list[object], list[object]]] = []  # the ballast, kept for the zygote's life


def _obmalloc_layout_known() -> bool:
    """CPython 3.11, 64-bit, pymalloc without debug hooks (no ``-X dev``, no PYTHONMALLOC
    unless ``-I`` ignores it): pools are 16 KiB, aligned, and start with their header."""
    return (
        sys.implementation.name == "cpython"
        and sys.version_info[:2] == (3, 11)
        and sys.maxsize > 2**32
        and not sys.flags.dev_mode
        and (bool(sys.flags.ignore_environment) or "PYTHONMALLOC" not in os.environ)
    )


def _one(size: int) -> object:
    """A new object whose memory block is ``size`` bytes (16, 32, or 48 to 512)."""
    if size == 16:
        return object()
    if size == 32:
        return int.from_bytes(_BIG, "little")  # a 28-byte int, in the 32-byte class
    return bytes(size - 33)


def _fill_pools() -> list[object]:
    import ctypes

    # Kept in a list allocated once: growing it would free what it grew out of, a new hole.
    blocks: list[object] = [None] * MAX_BLOCKS
    count = 0
    for size in range(16, 513, 16):
        for _ in itertools.repeat(None, MAX_PER_CLASS):  # no int per turn: ints are blocks too
            block = _one(size)
            # The pool header's first word is its count of used blocks. This block opened an
            # empty pool if it is one of the first few: the ints and the ctypes object this
            # very check makes may have opened it just before (in the 32- and 144-byte
            # classes). A nearly empty old pool stops the class early: a few holes stay.
            used = ctypes.c_uint.from_address(id(block) & ~(POOL_SIZE - 1)).value
            if used <= 4 or count == MAX_BLOCKS:
                break
            blocks[count] = block
            count += 1
    return blocks


def _mallinfo2() -> Callable[[], int] | None:
    """A function returning glibc's free bytes outside the top chunk, or None if unknown."""
    try:
        import ctypes

        class MallInfo2(ctypes.Structure):
            _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2]

        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (ImportError, OSError, AttributeError):
        return None
    mallinfo2.restype = MallInfo2

    def loose() -> int:
        info = mallinfo2()
        return int(info.fordblks - info.keepcost)

    return loose


# Made at import, before the zygote's warm-up: creating a ctypes class fills CPython's type
# cache, and after the warm-up it would evict entries a monitor then misses (and rewrites).
_loose_bytes = _mallinfo2()


def _drain_heap() -> list[object]:
    locks: list[object] = [None] * MAX_LOCKS  # allocated once, as the blocks above
    loose = _loose_bytes
    if loose is None:
        return locks
    best, stale = 1 << 62, 0
    for index in range(MAX_LOCKS):
        now = loose()
        if now < best:
            best, stale = now, 0
        else:
            stale += 1
        if now < 256 or stale > 32:
            break
        locks[index] = _thread.allocate_lock()
    return locks


def fill() -> None:
    """Take glibc's free chunks, then fill obmalloc's partially used pools (see the module
    essay). Call once, after the warm-up and ``gc.collect()``; later calls do nothing."""
    if _kept:
        return
    locks = _drain_heap()  # first: its own set-up (ctypes) would leave holes in the pools
    blocks = _fill_pools() if _obmalloc_layout_known() else []
    _kept.append((locks, blocks))
