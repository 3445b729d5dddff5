"""Harmonization across studies: study I/O without X, matchings and diagnostics, the plan, the merge."""
