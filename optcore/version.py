"""optserve's version, read from the installed package metadata once: the one place it comes
from (the API's OpenAPI document and every result document show it)."""

from __future__ import annotations

from importlib import metadata


def _installed_version() -> str:
    try:
        return metadata.version("optserve")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


VERSION = _installed_version()
