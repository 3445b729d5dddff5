"""Bounded network I/O: timeouts, retries with backoff and a deadline for every HTTP(S), S3 and MySQL call.

The settings live in one place, :class:`NetworkSettings`; their defaults come from environment variables:

=============================== ================================================================ =======
variable                        meaning                                                          default
=============================== ================================================================ =======
``IDTRACK_CONNECT_TIMEOUT_S``   seconds to open a connection (TCP connect, MySQL handshake)      10
``IDTRACK_READ_TIMEOUT_S``      seconds a server may stay silent while answering                 20
``IDTRACK_ATTEMPTS``            tries of one operation (the first one included)                  3
``IDTRACK_BACKOFF_S``           wait before the first retry; doubled before each next one        1
``IDTRACK_DEADLINE_S``          total seconds one operation may take, retries included           60
``IDTRACK_S3_ENDPOINT_URL``     S3-compatible endpoint used when the caller names none           AWS
=============================== ================================================================ =======

Rules. The layers below make one try each (aiohttp has no retries; botocore and s3fs are set to one attempt;
pymysql has none) with the connect and read timeouts; :func:`retrying` is the only retry loop. A retry starts only
when the time spent so far, the backoff and one more worst-case try (connect + read timeout, or the longest try so
far if that was longer) still fit in the deadline, so a server that accepts connections and never answers is
given up on within the deadline. A read timeout counts silence, not transfer time: a large download that keeps
flowing is never cut. Definitive answers (not found, permission denied, our own errors) are not retried. The final
error names what was attempted, the URL, the number of tries and the time spent.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from idtrack_core.errors import IdtrackError, SourceUnreachableError

log = logging.getLogger(__name__)
T = TypeVar("T")

ENV_VARIABLES = {
    "connect_timeout_s": "IDTRACK_CONNECT_TIMEOUT_S",
    "read_timeout_s": "IDTRACK_READ_TIMEOUT_S",
    "attempts": "IDTRACK_ATTEMPTS",
    "backoff_s": "IDTRACK_BACKOFF_S",
    "deadline_s": "IDTRACK_DEADLINE_S",
}
S3_ENDPOINT_VARIABLE = "IDTRACK_S3_ENDPOINT_URL"


@dataclass(frozen=True)
class NetworkSettings:
    """Timeouts, retries and the deadline of network operations (see the module docstring).

    Attributes
    ----------
    connect_timeout_s
        Seconds to open a connection.
    read_timeout_s
        Seconds a server may stay silent while answering one request.
    attempts
        Tries of one operation, the first one included (≥ 1).
    backoff_s
        Wait before the first retry, doubled before each next one.
    deadline_s
        Total seconds one operation may take, retries included.
    """

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 20.0
    attempts: int = 3
    backoff_s: float = 1.0
    deadline_s: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be ≥ 1")
        for name in ("connect_timeout_s", "read_timeout_s", "deadline_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.backoff_s < 0:
            raise ValueError("backoff_s must be ≥ 0")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> NetworkSettings:
        """Settings from the ``IDTRACK_*`` variables (unset ones keep their defaults), then ``overrides``.

        Raises
        ------
        InvalidSettingError
            A variable does not hold a positive number.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field_name, variable in ENV_VARIABLES.items():
            text = env.get(variable, "").strip()
            if not text:
                continue
            try:
                values[field_name] = int(text) if field_name == "attempts" else float(text)
            except ValueError:
                raise InvalidSettingError(f"{variable}={text!r} is not a number") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValueError as exc:
            raise InvalidSettingError(f"network settings: {exc}") from None

    @property
    def worst_try_s(self) -> float:
        """The longest one try can wait on a silent server: a connect timeout plus a read timeout."""
        return self.connect_timeout_s + self.read_timeout_s

    def describe(self) -> str:
        """The settings in one short phrase, for error messages."""
        return (
            f"connect timeout {self.connect_timeout_s:g}s, read timeout {self.read_timeout_s:g}s, "
            f"{self.attempts} attempts, deadline {self.deadline_s:g}s"
        )


class InvalidSettingError(IdtrackError, ValueError):
    """A network setting (argument or environment variable) is not valid."""


def settings(network: NetworkSettings | None = None) -> NetworkSettings:
    """``network``, or the settings from the environment."""
    return network if network is not None else NetworkSettings.from_env()


# ------------------------------------------------------------------------------------------------- retries


def is_transient(exc: BaseException) -> bool:
    """Whether retrying ``exc`` may help: timeouts, refused or reset connections, server errors.

    fsspec's HTTP filesystem reports every failed request (a timeout, a refused connection, a 5xx) as
    ``FileNotFoundError``; only one without another cause, or caused by a 404/410, is a real "not found".
    """
    if isinstance(exc, IdtrackError | PermissionError | IsADirectoryError | NotADirectoryError):
        return False
    if isinstance(exc, FileNotFoundError):
        cause = exc.__cause__
        status = getattr(cause, "status", None)
        if cause is None or isinstance(cause, FileNotFoundError) or status in (404, 410):
            return False
        return status not in (401, 403)
    return isinstance(exc, Exception)


def retrying(fn: Callable[[], T], what: str, network: NetworkSettings | None = None) -> T:
    """Call ``fn`` until it succeeds, retrying transient failures within the attempts and the deadline.

    Parameters
    ----------
    fn
        One try of the operation.
    what
        What is attempted, with its URL (``"listing http://host/pub"``); it starts the error message.
    network
        The settings (default: :meth:`NetworkSettings.from_env`).

    Returns
    -------
    The value of the first successful try.

    Raises
    ------
    SourceUnreachableError
        Every allowed try failed with a transient error; the message names ``what``, the tries, the time spent
        and the last error.
    Exception
        A definitive error (see :func:`is_transient`) is raised as it is, at once.
    """
    net = settings(network)
    started = time.monotonic()
    attempt = 0
    longest_try = net.worst_try_s
    while True:
        attempt += 1
        try_started = time.monotonic()
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            now = time.monotonic()
            spent = now - started
            longest_try = max(longest_try, now - try_started)  # one try may make several requests (S3)
            delay = net.backoff_s * 2 ** (attempt - 1)
            out_of_time = spent + delay + longest_try > net.deadline_s
            if attempt >= net.attempts or out_of_time:
                why = f"deadline {net.deadline_s:g}s" if out_of_time and attempt < net.attempts else "attempts"
                raise SourceUnreachableError(
                    f"{what}: unreachable after {attempt} attempt{'s' if attempt > 1 else ''} in {spent:.1f}s "
                    f"(stopped by the {why}; {net.describe()}): {describe_error(exc)}"
                ) from exc
            reason = describe_error(exc)
            log.warning("%s failed (%s); retry %d/%d in %.1fs", what, reason, attempt, net.attempts - 1, delay)
            time.sleep(delay)


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of an exception and of its cause, the way a user can read it."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})" if str(cause) else f" ({type(cause).__name__})"
    return text


# ------------------------------------------------------------------------------------------ fsspec options


def fsspec_options(url: str, storage_options: Mapping[str, Any], network: NetworkSettings | None = None) -> dict:
    """``storage_options`` for ``url`` completed with timeouts (HTTP(S), S3) and the S3 endpoint.

    Options the caller gave win: a caller's ``client_kwargs["timeout"]`` (HTTP) or ``config_kwargs`` timeouts
    (S3) are kept. For S3, ``IDTRACK_S3_ENDPOINT_URL`` is used when no endpoint is given.
    """
    protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
    if protocol in ("http", "https"):
        return _http_options(dict(storage_options), settings(network))
    if protocol in ("s3", "s3a"):
        return _s3_options(dict(storage_options), settings(network))
    return dict(storage_options)


def _http_options(opts: dict[str, Any], net: NetworkSettings) -> dict[str, Any]:
    import aiohttp

    client = dict(opts.get("client_kwargs") or {})
    client.setdefault(
        "timeout", aiohttp.ClientTimeout(total=None, sock_connect=net.connect_timeout_s, sock_read=net.read_timeout_s)
    )
    return {**opts, "client_kwargs": client}


def _s3_options(opts: dict[str, Any], net: NetworkSettings) -> dict[str, Any]:
    config = dict(opts.get("config_kwargs") or {})
    config.setdefault("connect_timeout", net.connect_timeout_s)
    config.setdefault("read_timeout", net.read_timeout_s)
    config.setdefault("retries", {"max_attempts": 1, "mode": "standard"})
    client = dict(opts.get("client_kwargs") or {})
    endpoint = os.environ.get(S3_ENDPOINT_VARIABLE, "").strip()
    if endpoint and not opts.get("endpoint_url") and not client.get("endpoint_url"):
        client["endpoint_url"] = endpoint
    out = {**opts, "config_kwargs": config}
    if client:
        out["client_kwargs"] = client
    return out


def single_try(fs: Any) -> Any:
    """Make an s3fs filesystem try each call once (:func:`retrying` does the retries); other filesystems as is."""
    if type(fs).__name__ == "S3FileSystem" and getattr(fs, "retries", 1) != 1:
        fs.retries = 1
    return fs
