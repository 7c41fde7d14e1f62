"""Returning freed memory to the system between heavy steps."""

from __future__ import annotations

import contextlib
import ctypes

import pyarrow as pa


def release_memory() -> None:
    """Hand memory freed by a step back to the system before the next one starts.

    Arrow's allocator (mimalloc) and glibc's malloc keep freed pages for reuse. After a build stage
    or after the service has indexed a release, that is hundreds of megabytes (at region size) of
    resident memory nobody uses; measured on the service: 1,496 MB → 1,074 MB at 850k addresses.
    """
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


__all__ = ["release_memory"]
