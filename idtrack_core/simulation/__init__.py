"""Building blocks of the simulated Ensembl mirror; the entry point is :mod:`idtrack_core.simulate`."""
