"""The definitions a Kubernetes deployment loads: the Helm chart's user code deployment runs
``dagster api grpc --python-file deploy/k8s/definitions.py`` (see ``values.yaml``).

The same assets, resources and sensors as ``idtrack_assets.definitions``, with Dagster's ``k8s_job_executor``: each
step of a run (an extract, a study's matching, an atlas block, …) is its own Kubernetes job. Everything else comes
from the environment the chart gives the pods (``idtrack-config`` ConfigMap, ``idtrack-secrets`` Secret), read in
one place: :func:`idtrack_assets.resources.resources_from_env` and :func:`idtrack_assets.executors.executor_from_env`
(``IDTRACK_EXECUTOR`` defaults to ``k8s`` here).
"""

import os

from idtrack_assets.definitions import build_definitions
from idtrack_assets.executors import executor_from_env

defs = build_definitions(executor=executor_from_env({"IDTRACK_EXECUTOR": "k8s", **os.environ}))
