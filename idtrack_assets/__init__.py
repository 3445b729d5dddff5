"""Dagster definitions of idtrack-atlas."""
