"""How the command line asks for CPU memory: huge pages, and freed memory kept for reuse.

PyTorch's CPU allocator has no cache, and glibc hands large freed blocks back to the kernel,
so every step of a CPU training run would have its large tensors zero-filled again, page by
page (docs/performance.md "Memory: huge pages and freed memory kept" has the measurements).
Two settings, both on by default in ``main()`` before any command imports torch:

* :func:`use_huge_pages` sets ``THP_MEM_ALLOC_ENABLE=1``: PyTorch then asks the kernel for
  transparent huge pages (2 MiB) for large tensors, so a fault fills 2 MiB instead of 4 KiB.
  Unless the user set the variable (their value wins) or ``NETDEF_HUGE_PAGES=0``.
* :func:`keep_freed_memory` tells glibc (``mallopt``) to serve every request from its heap
  (``M_MMAP_MAX=0``) and never to hand the heap's top back (``M_TRIM_THRESHOLD=-1``), so the
  second step reuses the first step's pages and faults on none. Unless the user set glibc's own
  ``MALLOC_MMAP_MAX_`` or ``MALLOC_TRIM_THRESHOLD_`` (their values win), ``NETDEF_KEEP_FREED=0``,
  or the C library is not glibc (macOS, musl: nothing is changed).

The price: a process keeps the memory it used at its peak.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's malloc.h


def use_huge_pages(environ=os.environ) -> bool:
    """Set ``THP_MEM_ALLOC_ENABLE=1`` unless set already or ``NETDEF_HUGE_PAGES=0``; returns
    whether huge pages are on."""
    if "THP_MEM_ALLOC_ENABLE" not in environ and environ.get("NETDEF_HUGE_PAGES", "1") != "0":
        environ["THP_MEM_ALLOC_ENABLE"] = "1"
    return environ.get("THP_MEM_ALLOC_ENABLE") == "1"


def wants_kept_memory(environ=os.environ) -> bool:
    """Whether :func:`keep_freed_memory` should act: not turned off, no glibc setting of the
    user's, and glibc underneath."""
    if environ.get("NETDEF_KEEP_FREED", "1") == "0":
        return False
    if "MALLOC_MMAP_MAX_" in environ or "MALLOC_TRIM_THRESHOLD_" in environ:
        return False
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def keep_freed_memory(environ=os.environ) -> bool:
    """Ask glibc to keep freed memory for reuse (see the module docstring); returns whether
    both settings took."""
    if not wants_kept_memory(environ):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, -1))


def tune_memory(environ=os.environ) -> None:
    """Both settings, as ``main()`` applies them before any command imports torch."""
    use_huge_pages(environ)
    keep_freed_memory(environ)
