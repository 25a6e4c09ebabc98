"""The API's own settings: the bearer key it demands (``AUTOINTERP_API_KEY``), where
``POST /investigations`` runs an investigation by default (``AUTOINTERP_API_EXECUTOR``) and the
largest request body it reads (``AUTOINTERP_API_MAX_BODY_BYTES``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from store.errors import ConfigError
from workers.jobs import ExecutorName

#: Shortest API key accepted: a guessable key is worse than none.
MIN_KEY_LENGTH = 8
#: Default of ``AUTOINTERP_API_MAX_BODY_BYTES``: the largest request body, in bytes.
DEFAULT_MAX_BODY_BYTES = 4 * 2**20


class ApiSettings(BaseSettings):
    """Settings read from ``AUTOINTERP_<NAME>``.

    api_key:       the bearer key every route but ``/health`` demands.
    api_executor:  where ``POST /investigations`` runs an investigation when the request does not say:
                   ``local`` (in the API process, one at a time) or ``celery`` (an investigate job on
                   the workers' ``cpu`` queue).
    api_max_body_bytes: the largest request body accepted (``AUTOINTERP_API_MAX_BODY_BYTES``, 4 MiB);
                   a larger one is a 413, refused before it is read (``autointerp.api.limits``).
    """

    model_config = SettingsConfigDict(env_prefix="AUTOINTERP_", extra="ignore")

    api_key: SecretStr | None = None
    api_executor: ExecutorName = Field("local")
    api_max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1, le=2**31 - 1)


def load_api_settings() -> ApiSettings:
    """`ApiSettings` from the environment; a bad value is a one-line ConfigError naming the variable."""
    try:
        return ApiSettings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "AUTOINTERP_" + ".".join(str(p) for p in error["loc"]).upper()
        raise ConfigError(f"{name}: {error['msg']}") from None


def resolve_api_key(explicit: str | None = None) -> str:
    """The key the API demands: ``explicit`` if given, else ``AUTOINTERP_API_KEY``.

    Raises ConfigError when neither is set or the key is too short: the API never starts open.
    """
    key = explicit if explicit is not None else _from_env()
    if key is None or not key.strip():
        raise ConfigError(
            "AUTOINTERP_API_KEY is not set; the API refuses to start without a key "
            "(export AUTOINTERP_API_KEY=<a long random string>, e.g. from `openssl rand -hex 32`)"
        )
    key = key.strip()
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(f"AUTOINTERP_API_KEY is {len(key)} characters long; use at least {MIN_KEY_LENGTH}")
    return key


def _from_env() -> str | None:
    secret = load_api_settings().api_key
    return secret.get_secret_value() if secret is not None else None
