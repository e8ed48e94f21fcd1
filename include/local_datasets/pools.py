"""Split one class's real digits into disjoint pools, in proportion to how many images each pool must yield.

Why: the book-sized datasets need more images than there are real digits, so each (batch, channel) group draws
its images from its own pool of real digits; pools never overlap, so no source digit (and no image derived from
it) is in two batches or two channels. Pure integer arithmetic, so the split is the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["per_class", "split_pool"]


def per_class(total: int, label: int, num_classes: int = 10) -> int:
    """Images of class ``label`` when ``total`` images are spread round-robin over the classes."""
    return total // num_classes + (label < total % num_classes)


def split_pool(available: int, needs: Sequence[int]) -> list[int]:
    """Pool sizes summing to at most ``available``, proportional to ``needs`` (largest remainder).

    A group that needs at most its share gets exactly what it needs (no derived images); every group that needs
    anything gets at least one digit, else the split is impossible and raises ValueError.
    """
    if any(need < 0 for need in needs):
        raise ValueError(f"needs must be >= 0, got {list(needs)}")
    wanted = sum(needs)
    groups = sum(need > 0 for need in needs)
    if groups > available:
        raise ValueError(f"{groups} groups need images but only {available} digits are available")
    if wanted <= available:
        return list(needs)
    sizes = [need * available // wanted for need in needs]
    # Hand out what rounding down left over, largest remainder first (ties: the earlier group).
    order = sorted(range(len(needs)), key=lambda i: (-(needs[i] * available % wanted), i))
    for i in order[: available - sum(sizes)]:
        sizes[i] += 1
    # Every group that needs images gets one digit, taken from the largest pools.
    for i, need in enumerate(needs):
        if need > 0 and sizes[i] == 0:
            donor = max(range(len(sizes)), key=lambda j: (sizes[j], -j))
            sizes[donor] -= 1
            sizes[i] = 1
    return sizes
