"""Sizes and durations written as people write them: ``6GB``, ``500 MB``, ``1.5GiB`` or a count of bytes;
``90s``, ``15m``, ``1h30m`` or a count of seconds."""
from __future__ import annotations

import math
import re

from ..errors import ConfigError

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(text) -> int:
    """Bytes from ``1234``, ``"500MB"``, ``"6 GB"`` or ``"1.5GiB"``; ValueError naming the form otherwise."""
    if isinstance(text, bool):
        raise ValueError(f"a size must be bytes (1000000) or a number with a unit (500MB, 6GB), got {text!r}")
    if isinstance(text, (int, float)) and text >= 0:
        return int(text)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
    if not match or match.group(2).upper() not in _UNITS:
        raise ValueError(f"a size must be bytes (1000000) or a number with a unit (500MB, 6GB), got {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def format_size(n: float) -> str:
    """``7.5 GB``, ``480 MB``, ``12 kB``: decimal units, as disks and RAM are sold."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


_TIME_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(value) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"1h30m"`` or ``"2.5m"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif re.fullmatch(r"\s*\d+(\.\d+)?\s*", str(value)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value).strip().lower())
        if not match or not any(match.groups()):
            raise ConfigError(f"train.time_budget must be a duration such as 90s, 15m or 1h30m (or seconds), "
                              f"got {value!r}")
        seconds = sum(float(v) * _TIME_UNITS[u] for v, u in zip(match.groups(), "hms") if v)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ConfigError(f"train.time_budget must be more than 0 seconds, got {value!r}")
    return seconds
