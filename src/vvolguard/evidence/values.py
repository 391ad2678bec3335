"""Keys and scalar values of exports, whatever tool wrote them.

Keys differ by case and spacing (``Array Id`` / ``ArrayId`` / ``arrayId``) and PowerShell wraps
some scalars in objects; these helpers give every reader the same normalised view. Nothing here
raises on bad input: a value that is not what was asked for becomes ``None``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def norm_key(key: object) -> str:
    """``Array Id``, ``ArrayId``, ``array_id`` and ``arrayId`` all become ``arrayid``."""
    if isinstance(key, str) and len(key) <= 64:
        return _norm_short(key)  # export keys repeat in every entry: cache them
    return _NON_ALNUM.sub("", str(key).lower())


@lru_cache(maxsize=4096)
def _norm_short(key: str) -> str:
    return _NON_ALNUM.sub("", key.lower())


def norm_dict(obj: object) -> dict[str, Any]:
    """A dict with normalised keys (first spelling wins); anything else becomes ``{}``."""
    if not isinstance(obj, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        out.setdefault(norm_key(key), value)
    return out


def first(d: dict[str, Any], *keys: str) -> Any:
    """The first present, non-empty value among normalised ``keys``."""
    for key in keys:
        value = d.get(key)
        if value is not None and value != "" and value != [] and value != {}:
            return value
    return None


#: What ConvertTo-Json prints for an object deeper than its -Depth: the .NET type name.
_TYPE_NAME = re.compile(r"^(?:VMware|System)\.[A-Za-z0-9_.]+(?:\[\])?$")


def text_of(value: object) -> str | None:
    """A scalar as text. PowerShell wraps some values in objects ({"value": ..., "Value": ...})."""
    if value is None or isinstance(value, bool):
        return None if value is None else str(value).lower()
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        d = norm_dict(value)
        for key in ("value", "name", "string", "displayname", "localizedmessage", "message"):
            inner = d.get(key)
            if isinstance(inner, str | int | float) and not isinstance(inner, bool):
                return text_of(inner)
    return None


def name_of(value: object) -> str | None:
    """The name of a referenced object: ``{"Name": "esx01", "Host": {...}}`` or a plain string.

    A ``VMware.Vim.HostEventArgument`` string is what ConvertTo-Json leaves when the object was
    deeper than its -Depth; it names a type, not a host, so it is treated as missing.
    """
    if isinstance(value, dict):
        d = norm_dict(value)
        return text_of(first(d, "name", "displayname", "entityname"))
    text = text_of(value)
    if text is None or _TYPE_NAME.match(text):
        return None
    return text


_TRUE = {"true", "yes", "y", "1", "on", "enabled"}
_FALSE = {"false", "no", "n", "0", "off", "disabled"}


def parse_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    text = text_of(value)
    if text is None:
        return None
    low = text.lower()
    return True if low in _TRUE else False if low in _FALSE else None


def parse_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = text_of(value)
    if text is None:
        return None
    try:
        return int(text.replace(",", "").replace("_", ""))
    except ValueError:
        return None


#: SMS ``VasaProviderStatus`` values in their canonical spelling, keyed by normalised form.
_PROVIDER_STATUS = {
    norm_key(s): s for s in ("online", "offline", "syncError", "unknown", "connected", "disconnected")
}


def provider_status(value: object) -> str | None:
    """``Online``, ``online``, ``SyncError``, ``sync error`` -> the SMS enum spelling.

    An unrecognised status is kept as written (stripped): it is still evidence.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        order = ("online", "offline", "syncError", "unknown", "connected", "disconnected")
        return order[value] if 0 <= value < len(order) else str(value)
    text = text_of(value)
    if text is None:
        return None
    return _PROVIDER_STATUS.get(norm_key(text), text[:80])
