"""How one setting's text becomes a typed value, or a SettingsError that names the setting.

Each function reads one name from a mapping of environment variables / app settings; an
empty or missing value gives the default (or None where there is none).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from pipeline import names


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the setting and the expected form."""

    def __init__(self, setting: str, expected: str, got: str | None = None) -> None:
        shown = "" if got is None else f" (got {got!r})"
        super().__init__(f"setting {setting}: expected {expected}{shown}")
        self.setting = setting


_CONTAINER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
# A managed identity's client id, as Azure shows it.
_CLIENT_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
# The Azure Monitor exporter's own rule for an instrumentation key (lower-case hex only).
_INSTRUMENTATION_KEY = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def text_setting(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def int_setting(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"a whole number from {low} to {high}", raw) from None
    if not low <= value <= high:
        raise SettingsError(name, f"a whole number from {low} to {high}", raw)
    return value


def float_setting(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, f"a number from {low} to {high}", raw) from None
    if not low <= value <= high:  # also rejects NaN
        raise SettingsError(name, f"a number from {low} to {high}", raw)
    return value


def bool_setting(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SettingsError(name, "true or false", raw)


def choice_setting(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = text_setting(env, name, default).lower()
    if value not in choices:
        raise SettingsError(name, " or ".join(choices), value)
    return value


def container_setting(env: Mapping[str, str], name: str, default: str) -> str:
    value = text_setting(env, name, default)
    if not _CONTAINER_NAME.match(value):
        raise SettingsError(name, "a container name of letters, digits, '-' or '_'", value)
    return value


def endpoint_setting(env: Mapping[str, str], name: str, example: str) -> str | None:
    """An Azure service endpoint: https, a host name and at most a port, as the portal shows it."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        url = urlsplit(raw)
        url.port  # noqa: B018 - raises ValueError on a port that is not a number from 0 to 65535
    except ValueError:
        url = None
    if (
        url is None
        or url.scheme != "https"
        or not _HOST_NAME.fullmatch(url.hostname or "")
        or url.username is not None
        or url.path not in ("", "/")
        or url.query
        or url.fragment
    ):
        raise SettingsError(name, f"an https:// endpoint such as {example}", raw)
    return raw


def client_id_setting(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if raw and not _CLIENT_ID.fullmatch(raw):
        raise SettingsError(name, "a client id such as 00000000-0000-0000-0000-000000000000", raw)
    return raw or None


def application_insights_setting(env: Mapping[str, str]) -> str | None:
    """The Application Insights connection string, checked by the Azure Monitor exporter's rules.

    The exporter is built on the first metric, so without this a bad value would fail every
    invocation that records one (generator, summariser, chart) while the app seemed to run.
    """
    name = names.APPLICATIONINSIGHTS_CONNECTION_STRING
    raw = env.get(name, "").strip()
    if not raw:
        return None
    pairs = [part.split("=") for part in raw.split(";")]
    fields = {pair[0].lower(): pair[1] for pair in pairs if len(pair) == 2}
    if (
        any(len(pair) != 2 for pair in pairs)
        or fields.get("authorization", "ikey").lower() != "ikey"
        or not _INSTRUMENTATION_KEY.fullmatch(fields.get("instrumentationkey", ""))
    ):
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise SettingsError(
            name, "'InstrumentationKey=<lower-case GUID>;IngestionEndpoint=...' as Azure gives it", shown
        )
    return raw
