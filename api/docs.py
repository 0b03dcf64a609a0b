"""docs/optimizers.md, written from the catalog that GET /v1/optimizers serves (``make docs``).

Each optimizer: its update rule in LaTeX, its hyperparameters with defaults and bounds, and
the catalog's notes on where it differs from its peers. Run as ``python -m api.docs``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from optcore import optimizers

HEADER = """# Optimizers

Generated from the catalog by `make docs` (the same entries as `GET /v1/optimizers`): do not
edit by hand. Each rule is written for one parameter tensor $\\theta$ with gradient
$g_t = \\nabla_\\theta F(\\theta_t)$ and learning rate $\\eta$ (a schedule may replace $\\eta$
where noted). Bounds: `[a, b]` includes an end, `(a, b)` excludes it.
"""


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return f"`{str(value).lower() if isinstance(value, bool) else 'null'}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def bounds(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " / ".join(f"`{choice}`" for choice in schema["enum"])
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is None and high is None:
        return ""
    left = "(" if "exclusiveMinimum" in schema or low is None else "["
    right = ")" if "exclusiveMaximum" in schema or high is None else "]"
    a = "-∞" if low is None else f"{low:g}"
    b = "∞" if high is None else f"{high:g}"
    return f"{left}{a}, {b}{right}"


def parameter_table(schema: dict[str, Any]) -> list[str]:
    properties: dict[str, dict[str, Any]] = schema.get("properties", {})
    if not properties:
        return ["No hyperparameters."]
    rows = ["| name | default | bounds | meaning |", "| --- | --- | --- | --- |"]
    for name, prop in properties.items():
        meaning = str(prop.get("description", "")).replace("|", "\\|")
        rows.append(f"| `{name}` | {_number(prop.get('default'))} | {bounds(prop)} | {meaning} |")
    return rows


def optimizer_section(entry: dict[str, Any]) -> list[str]:
    title = f"### `{entry['name']}`"
    if entry["aliases"]:
        title += " (also " + ", ".join(f"`{a}`" for a in entry["aliases"]) + ")"
    lines = [title, "", entry["summary"], ""]
    if entry["update"]:
        lines += ["$$", entry["update"], "$$", ""]
    lines += parameter_table(entry["hyperparameters"]) + [""]
    traits = []
    if entry["requires_inner"]:
        traits.append("wraps an `inner` optimizer")
    schedule = "takes a learning-rate `schedule`" if entry["accepts_schedule"] else "no schedule"
    traits.append(schedule)
    lines += [f"*{'; '.join(traits)}.*", ""]
    if entry["notes"]:
        lines += [f"**Differs from its peers:** {entry['notes']}", ""]
    if entry["reference"]:
        lines += [f"Reference: {entry['reference']}.", ""]
    return lines


def render(entries: Iterable[dict[str, Any]], schedules: Iterable[dict[str, Any]]) -> str:
    by_family: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_family.setdefault(entry["family"], []).append(entry)
    lines = [HEADER]
    lines += ["| family | optimizers |", "| --- | --- |"]
    for family, members in by_family.items():
        lines.append(f"| {family} | " + ", ".join(f"`{m['name']}`" for m in members) + " |")
    lines.append("")
    for family, members in by_family.items():
        lines += [f"## {family[0].upper()}{family[1:]}", ""]
        for entry in members:
            lines += optimizer_section(entry)
    lines += ["## Learning-rate schedules", ""]
    for schedule in schedules:
        lines += [f"### `{schedule['kind']}`", ""] + parameter_table(schedule["parameters"])
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    sys.stdout.write(render(optimizers.catalog(), optimizers.schedules_catalog()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
