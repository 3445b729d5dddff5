"""Format and code versions of the identifier pipeline's stored artifacts: release extracts, graph snapshots and
resolution indexes.

A *format version* names the layout on disk (a reader refuses another one). A *code version* changes whenever the
artifact built from the same inputs would differ; it is part of the artifact's version id, so a new code version
builds a new version beside the old one. They live here, apart from the code that builds each artifact, because the
workspace computes version ids before it loads anything: a warm ``convert`` checks them without importing pandas.
"""

EXTRACT_FORMAT_VERSION = 2
EXTRACT_CODE_VERSION = f"extract-{EXTRACT_FORMAT_VERSION}.3"
"""Changes whenever the extract of the same source database would differ."""

SNAPSHOT_FORMAT_VERSION = 2
SNAPSHOT_CODE_VERSION = f"snapshot-{SNAPSHOT_FORMAT_VERSION}.1"
"""Changes whenever the snapshot of the same extracts would differ."""

INDEX_FORMAT_VERSION = 3
"""Format 3 sorts keys by the NumPy string hash of :mod:`idtrack_core.convert.hashing`; format 2 used pandas'
SipHash (its indexes are rebuilt)."""
INDEX_CODE_VERSION = f"resolution-index-{INDEX_FORMAT_VERSION}.0"
"""Changes whenever the index built for the same snapshot and target would differ."""
