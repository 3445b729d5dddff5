"""Harmonization across studies: study I/O without X, matchings and diagnostics, gates, the plan, the merge.

The package is also the notebook facade's entry point: ``idtrack_core.harmonize(studies, source=…, species=…,
final_database=…)`` calls :func:`idtrack_core.facade.harmonize` (same parameters) and returns a
:class:`~idtrack_core.facade.Harmonization`. The package object is callable for that (its module class has a
``__call__``), so ``import idtrack_core.harmonize.pipeline`` and the call both work, in any import order.
"""

import inspect
import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    """This package, callable as :func:`idtrack_core.facade.harmonize` (imported on the first call)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from idtrack_core.facade import harmonize

        return harmonize(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        from idtrack_core.facade import harmonize

        return inspect.signature(harmonize)


sys.modules[__name__].__class__ = _CallablePackage
