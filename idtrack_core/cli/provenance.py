"""``provenance``: print the provenance record an atlas carries (``uns["idtrack"]``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def cmd_provenance(args: argparse.Namespace) -> int:
    """Print an atlas's provenance, readable (default) or as JSON."""
    from idtrack_core.provenance import format_provenance, read_atlas_provenance

    record = read_atlas_provenance(args.atlas)
    sys.stdout.write(json.dumps(record, indent=2, sort_keys=True) + "\n" if args.json else format_provenance(record))
    return 0


def register(sub: Any) -> None:
    """Add ``provenance`` to the subcommands."""
    p = sub.add_parser("provenance", help="print what an atlas was made from (its uns['idtrack'] record)")
    p.add_argument("atlas", help="atlas .h5ad (local path or URL)")
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    p.set_defaults(func=cmd_provenance)
