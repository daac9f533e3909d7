"""How much memory this process may use: the cgroup's limit where one is set, else the machine's RAM."""
from __future__ import annotations

import os

_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max",                     # cgroup v2
                  "/sys/fs/cgroup/memory/memory.limit_in_bytes")   # cgroup v1


def memory_limit() -> tuple[int, str]:
    """``(bytes, where from)``: the cgroup's memory limit where one is set, else the machine's RAM."""
    for path in _CGROUP_LIMITS:
        try:
            with open(path) as f:
                value = f.read().strip()
        except OSError:
            continue
        if value.isdigit() and int(value) < 2**60:  # "max" or a huge number: no limit
            return int(value), "the cgroup memory limit"
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "RAM"
