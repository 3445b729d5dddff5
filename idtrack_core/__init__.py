"""idtrack_core: gene identifier tracking across Ensembl releases and atlas harmonization (no Dagster)."""

__version__ = "0.1.0"
