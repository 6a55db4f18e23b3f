"""Where a setting's raw value comes from, read with pydantic-settings, first found wins:

1. the environment: ``MCPMON_<NAME>``;
2. ``MCPMON_<NAME>_FILE`` in the environment: a file holding the value (Docker and
   Kubernetes secrets; one trailing newline is dropped). Giving both 1 and 2 is an error;
3. the secrets directory (``/run/secrets`` when it exists): a file named as the
   variable, ``/run/secrets/MCPMON_SINK_HEC_TOKEN`` (the name in any case:
   ``mcpmon_sink_hec_token`` too; surrounding whitespace is dropped);
4. ``.env`` in the working directory: ``MCPMON_<NAME>=value`` or
   ``MCPMON_<NAME>_FILE=path`` lines (both for one name is an error);
5. the default in :mod:`monitor.settings`.

CLI flags a command was given override all of them. Only upper-case
``MCPMON_*`` names are read from the environment and ``.env``. A value is never
logged; errors name the variable and where it came from.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import create_model
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from monitor.errors import MonitorError

ENV_PREFIX = "MCPMON_"
#: Suffix of a variable naming a file that holds the value (Docker / Kubernetes secrets).
FILE_SUFFIX = "_FILE"
#: The secrets directory read when it exists and no other is given.
DEFAULT_SECRETS_DIR = "/run/secrets"
#: The dotenv file read (in the working directory) when no other is given.
DEFAULT_ENV_FILE = ".env"


class _RawBase(BaseSettings):
    """Every setting and its ``_FILE`` twin as an optional string: pydantic-settings
    finds the raw values, :class:`monitor.settings.Settings` validates them."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, case_sensitive=False, extra="ignore")


@functools.cache
def _raw_model(names: tuple[str, ...]) -> type[BaseSettings]:
    fields: dict[str, Any] = {}
    for name in names:
        fields[name] = (str | None, None)
        fields.setdefault(name + FILE_SUFFIX.lower(), (str | None, None))
    model: type[BaseSettings] = create_model("RawSettings", __base__=_RawBase, **fields)
    return model


def _upper_only(source: Mapping[str, str | None]) -> dict[str, str | None]:
    """The ``MCPMON_*`` names as written in upper case: ``mcpmon_x`` is no setting."""
    return {k: v for k, v in source.items() if k.startswith(ENV_PREFIX) and k == k.upper()}


class _MappingEnvSource(EnvSettingsSource):
    """The environment source over a given mapping (``os.environ`` or a test's dict)."""

    def __init__(self, settings_cls: type[BaseSettings], source: Mapping[str, str]) -> None:
        self._source = source
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in _upper_only(self._source).items()}


class _UpperDotEnvSource(DotEnvSettingsSource):
    """The ``.env`` source, reading upper-case ``MCPMON_*`` names only, as the environment."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        from dotenv import dotenv_values

        path = self.env_file
        found = (
            dotenv_values(path, encoding="utf-8")
            if isinstance(path, str) and _is_file(path)
            else {}
        )
        self.variables = _upper_only(found)
        return {k.lower(): v for k, v in self.variables.items()}


def _is_file(path: str) -> bool:
    return os.path.isfile(path)


def _read_file(var: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(1 << 20)
    except (OSError, UnicodeDecodeError) as err:
        raise MonitorError(f"{var}: cannot read {path}: {err}") from None
    return text[:-1] if text.endswith("\n") else text  # one trailing newline, as editors write


def _value_or_file(found: Mapping[str, Any], name: str, where: str) -> tuple[str, str] | None:
    """The value of ``name`` in one source, from ``MCPMON_<NAME>`` or ``MCPMON_<NAME>_FILE``."""
    var = ENV_PREFIX + name.upper()
    raw, path = found.get(name), found.get(name + FILE_SUFFIX.lower())
    if raw is not None and path is not None:
        raise MonitorError(f"both {var} and {var}{FILE_SUFFIX} are set{where}: give one")
    if path is not None:
        return _read_file(var + FILE_SUFFIX, path), f"{FILE_SUFFIX}={path}{where}"
    if raw is not None:
        return raw, where
    return None


class RawValues:
    """The raw value of every setting some source gives, and where each came from.

    ``values``: setting name -> string; ``origins``: setting name -> where it came
    from, as a suffix of its variable in messages (``""``: the environment,
    ``"_FILE=/path"``, ``" in /run/secrets"``, ``" in .env"``); ``variables``: every ``MCPMON_*`` name the environment
    and ``.env`` set (for the unknown-variable warning).
    """

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.origins: dict[str, str] = {}
        self.variables: set[str] = set()


def read_sources(
    names: Iterable[str],
    env: Mapping[str, str],
    secrets_dir: str | None,
    env_file: str | None,
) -> RawValues:
    """Every setting in ``names`` some source gives, in the precedence of the module doc."""
    model = _raw_model(tuple(sorted(names)))
    from_env = _MappingEnvSource(model, env)()
    dotenv = _UpperDotEnvSource(model, env_file=env_file)
    from_dotenv = dotenv() if env_file is not None else {}
    from_secrets: dict[str, Any] = {}
    if secrets_dir is not None and os.path.isdir(secrets_dir):
        from_secrets = SecretsSettingsSource(model, secrets_dir=secrets_dir)()
    out = RawValues()
    out.variables = set(_upper_only(env)) | set(getattr(dotenv, "variables", {}))
    for name in names:
        got = _value_or_file(from_env, name, "")
        if got is None and from_secrets.get(name) is not None:
            got = str(from_secrets[name]), f" in {secrets_dir}"
        if got is None:
            got = _value_or_file(from_dotenv, name, f" in {env_file}")
        if got is not None:
            out.values[name], out.origins[name] = got
    return out
