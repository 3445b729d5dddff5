"""The kinds of names a lookup matches (see :mod:`.names`), kept apart so that a lookup (:mod:`.answers`) and a
target (:mod:`.target`) load no snapshot code.

Tiers rank a name match, best first: an Ensembl stable ID, an external database's primary name, a synonym; a
lower tier is used only when no higher one matches. Ensembl stable IDs are names of the source ``ensembl``.
"""

TIER_ENSEMBL, TIER_EXTERNAL, TIER_SYNONYM = 0, 1, 2
ENSEMBL_SOURCE = "ensembl"
