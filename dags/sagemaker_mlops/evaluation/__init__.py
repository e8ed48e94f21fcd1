"""Offline evaluation: batch transform over an admin-pinned holdout, its scores, and the baseline drift checks use."""
