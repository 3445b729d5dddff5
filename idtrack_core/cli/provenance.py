"""``provenance``: print the provenance record an atlas carries (``uns["idtrack"]``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from idtrack_core.cli.args import add_command


def cmd_provenance(args: argparse.Namespace) -> int:
    """Print an atlas's provenance, readable (default) or as JSON."""
    from idtrack_core.provenance import format_provenance, read_atlas_provenance

    record = read_atlas_provenance(args.atlas)
    sys.stdout.write(json.dumps(record, indent=2, sort_keys=True) + "\n" if args.json else format_provenance(record))
    return 0


def register(sub: Any) -> None:
    """Add ``provenance`` to the subcommands."""
    p = add_command(
        sub,
        "provenance",
        summary="print what an atlas was made from (its uns['idtrack'] record)",
        description="Print the provenance record an atlas carries in uns['idtrack']: source and fingerprints, "
        "target, snapshot, index and plan versions, policies, thresholds and every study's file and gates.",
        examples=["idtrack-atlas provenance atlas.h5ad", "idtrack-atlas provenance --json atlas.h5ad > record.json"],
    )
    p.add_argument("atlas", help="atlas .h5ad (local path or URL), e.g. atlas.h5ad")
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    p.set_defaults(func=cmd_provenance)
