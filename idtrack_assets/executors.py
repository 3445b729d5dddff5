"""Where the steps of a run execute: chosen in one place, from the environment (``IDTRACK_EXECUTOR``).

- ``multiprocess`` (default): in child processes of the run (Dagster's default executor).
- ``in_process``: in the run's own process, one after the other.
- ``celery``: on ``dagster-celery`` workers through a broker (extra ``cluster``); reads ``IDTRACK_CELERY_BROKER``
  (a secret: read when a step runs) and ``IDTRACK_CELERY_BACKEND`` (default: the broker).
- ``k8s``: one Kubernetes job per step (``dagster-k8s``, extra ``k8s``; see ``deploy/k8s``); reads
  ``IDTRACK_K8S_NAMESPACE``, ``IDTRACK_K8S_CONFIG_MAP``, ``IDTRACK_K8S_SECRET``, ``IDTRACK_K8S_MAX_CONCURRENT``.

Steps on different workers share only the storage (``IDTRACK_STORAGE``, e.g. ``s3://…``) and the Dagster instance
(``DAGSTER_HOME``): every value passed between steps goes through the IO managers into the storage. Celery workers
are started with the worker configuration of the same environment::

    python -m idtrack_assets.executors celery-worker-config > celery.yaml
    DAGSTER_HOME=… dagster-celery worker start -A dagster_celery.app -y celery.yaml
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import dagster as dg
import yaml

EXECUTORS = ("multiprocess", "in_process", "celery", "k8s")
#: Celery settings of the client and of every worker: one task per worker at a time, acknowledged when done (a
#: worker that dies hands its step to another), so steps spread over the workers instead of queueing on one.
CELERY_APP_SETTINGS: dict[str, Any] = {
    "worker_prefetch_multiplier": 1,
    "task_acks_late": True,
    "broker_connection_retry_on_startup": True,
}


def executor_from_env(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """The executor this deployment's environment selects (see the module docstring).

    Raises
    ------
    ValueError
        ``IDTRACK_EXECUTOR`` names no known executor, or the Celery broker is not set.
    """
    env = os.environ if env is None else env
    kind = env.get("IDTRACK_EXECUTOR", "multiprocess")
    if kind == "multiprocess":
        return dg.multiprocess_executor
    if kind == "in_process":
        return dg.in_process_executor
    if kind == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_config(env), name="celery")
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured(k8s_config(env), name="k8s")
    raise ValueError(f"IDTRACK_EXECUTOR={kind!r}: choose one of {', '.join(EXECUTORS)}")


def celery_config(env: Mapping[str, str]) -> dict[str, Any]:
    """The ``celery_executor`` configuration: broker and backend (read from the environment when a step runs, so a
    password in the URL is never stored in a run's configuration) and :data:`CELERY_APP_SETTINGS`."""
    if not env.get("IDTRACK_CELERY_BROKER"):
        raise ValueError("IDTRACK_EXECUTOR=celery needs IDTRACK_CELERY_BROKER (e.g. redis://host:6379/0)")
    backend = "IDTRACK_CELERY_BACKEND" if env.get("IDTRACK_CELERY_BACKEND") else "IDTRACK_CELERY_BROKER"
    return {
        "broker": {"env": "IDTRACK_CELERY_BROKER"},
        "backend": {"env": backend},
        "config_source": dict(CELERY_APP_SETTINGS),
    }


def celery_worker_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The YAML document ``dagster-celery worker start -y`` takes: the executor's broker, backend and settings
    (the broker's URL stays an environment reference, resolved by the worker when it starts)."""
    return {"execution": {"config": celery_config(os.environ if env is None else env)}}


def k8s_config(env: Mapping[str, str]) -> dict[str, Any]:
    """The ``k8s_job_executor`` configuration: one job per step in the release's namespace, with the deployment's
    settings (a ConfigMap) and secrets (a Secret) as environment; the image is the user code deployment's."""
    return {
        "job_namespace": env.get("IDTRACK_K8S_NAMESPACE", "idtrack"),
        "env_config_maps": [env.get("IDTRACK_K8S_CONFIG_MAP", "idtrack-config")],
        "env_secrets": [env.get("IDTRACK_K8S_SECRET", "idtrack-secrets")],
        "max_concurrent": int(env.get("IDTRACK_K8S_MAX_CONCURRENT", "8")),
        "step_k8s_config": {
            "container_config": {"resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}}
        },
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m idtrack_assets.executors celery-worker-config``: print the Celery workers' YAML."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["celery-worker-config"]:
        print("usage: python -m idtrack_assets.executors celery-worker-config", file=sys.stderr)
        return 2
    print(yaml.safe_dump(celery_worker_config(), sort_keys=True), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
