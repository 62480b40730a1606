"""What the benchmarks share: how peak memory is measured."""

from __future__ import annotations

import resource


def vm_hwm_mb() -> float:
    """This process's own peak RSS. Not ru_maxrss: Linux carries a parent's RSS at fork through
    exec into the child's ru_maxrss, so every child would report at least its parent's size."""
    with open("/proc/self/status") as fh:
        return next(int(x.split()[1]) for x in fh if x.startswith("VmHWM:")) / 1024


def peak_rss_mb() -> float:
    """The largest of this process and its finished children (winnow's workers, which start
    from this process's small RSS at spawn time)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return max(vm_hwm_mb(), kids)
