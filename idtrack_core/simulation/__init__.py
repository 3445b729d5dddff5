"""A seeded, simulated multi-release Ensembl mirror with ground truth (details: :mod:`.mirror`).

The entry point is :func:`simulate_mirror`; :func:`read_ground_truth` loads what it knows to be true.
"""

from idtrack_core.simulation.config import (
    ASSEMBLY,
    SPECIES,
    TRANSITION_EVENTS,
    SimulationRates,
    SimulationSummary,
)
from idtrack_core.simulation.dumps import database_name
from idtrack_core.simulation.groundtruth import GroundTruth, read_ground_truth
from idtrack_core.simulation.mirror import simulate_mirror

__all__ = [
    "ASSEMBLY",
    "SPECIES",
    "TRANSITION_EVENTS",
    "GroundTruth",
    "SimulationRates",
    "SimulationSummary",
    "database_name",
    "read_ground_truth",
    "simulate_mirror",
]
