"""``make gallery``: run examples/gallery.json (tuned races) and draw docs/gallery.md.

One contour per optimizer and objective (api.plots' ``contour`` kind, the tuned path over the
objective), a summary table, and the tuned learning rates that ``GET /v1/optimizers``
publishes (optcore/optimizers/tuned_learning_rates.json).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import optcore  # noqa: E402
from api import plots  # noqa: E402
from optcore.optimizers.tuned import TUNED_FILE  # noqa: E402
from optcore.tune import distance_to_minima  # noqa: E402

GALLERY = ROOT / "examples" / "gallery.json"
DOCS = ROOT / "docs"
PICTURES = DOCS / "gallery"


def distance(run: dict[str, Any], minima: list[list[float]]) -> float | None:
    d = distance_to_minima(run["final"]["params"], minima)
    return d if math.isfinite(d) else None


def _fmt(value: float | None) -> str:
    return "diverged" if value is None else f"{value:.3g}"


def draw(result: dict[str, Any]) -> list[tuple[str, float | None, float | None, float | None]]:
    """One picture per run; returns the table rows (optimizer, lr, final loss, distance)."""
    name = result["objective"]["name"]
    rows = []
    for run in result["runs"]:
        alone = {**result, "runs": [run]}
        png = plots.render(alone, "contour")
        (PICTURES / f"{name}-{run['optimizer']}.png").write_bytes(png)
        chosen = (run.get("tuning") or {}).get("chosen") or {}
        rows.append(
            (
                run["optimizer"],
                chosen.get("learning_rate"),
                run["final"]["loss"],
                distance(run, result["objective"]["minima"]),
            )
        )
    return rows


def how(tune: dict[str, Any]) -> str:
    """The search method in words."""
    if tune["method"] != "refine":
        return f"method {tune['method']}"
    from optcore.spec import TuneSpec
    from optcore.tune import searcher

    sizes = searcher(TuneSpec.model_validate(tune)).sizes
    return (
        f"method refine: {len(sizes)} rounds of {max(sizes)}, a grid over the whole range, "
        "then finer grids around the best candidates so far"
    )


def markdown(doc: dict[str, Any], tables: dict[str, list], timings: dict[str, dict]) -> str:
    job = doc["jobs"][0]
    tune = job["runs"][0]["tune"]
    lines = [
        "# The optimizer gallery",
        "",
        doc["description"],
        "",
        f"Budget per optimizer and objective: {tune['candidates']} candidates "
        f"(learning rate in {tune['learning_rate']['log_uniform']}, log scale; {how(tune)}) "
        f"of {tune['steps']} steps each, scored by {tune['score']}; all candidates of all "
        "optimizers of one objective run as one vmapped search program per round, then the "
        "winners race. "
        "Gradients are not clipped. Regenerate with `make gallery`.",
        "",
    ]
    for name, rows in tables.items():
        t = timings[name]
        lines += [
            f"## {name}",
            "",
            f"Search: {t['search_ms'] / 1e3:.1f} s for {len(rows)} optimizers x "
            f"{tune['candidates']} candidates (compile included, "
            f"{t['search_programs_compiled']} programs) on {t['device']}.",
            "",
            "| optimizer | tuned learning rate | final loss | distance to the minimum |",
            "|---|---|---|---|",
        ]
        for opt, lr, loss, dist in sorted(rows, key=lambda r: (r[3] is None, r[3] or 0)):
            lines.append(f"| {opt} | {_fmt(lr)} | {_fmt(loss)} | {_fmt(dist)} |")
        lines.append("")
        for opt, *_ in rows:
            lines.append(f"![{name} {opt}](gallery/{name}-{opt}.png)")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    plots.SIZE, plots.DPI = (6.4, 4.6), 70  # 40 pictures: smaller than the API's default
    doc = json.loads(GALLERY.read_text())
    PICTURES.mkdir(parents=True, exist_ok=True)
    tables: dict[str, list] = {}
    timings: dict[str, dict] = {}
    tuned: dict[str, dict[str, float]] = {}
    for job in doc["jobs"]:
        t0 = time.perf_counter()
        result = optcore.run(job)
        name = result["objective"]["name"]
        print(f"{name}: {time.perf_counter() - t0:.1f} s, timing {result['timing']}")
        tables[name] = draw(result)
        timings[name] = {**result["timing"], "device": result["device"]}
        for opt, lr, _, _ in tables[name]:
            if lr is not None:
                tuned.setdefault(opt, {})[name] = lr
    (DOCS / "gallery.md").write_text(markdown(doc, tables, timings))
    budget = doc["jobs"][0]["runs"][0]["tune"]
    TUNED_FILE.write_text(
        json.dumps(
            {
                "budget": {k: budget[k] for k in ("candidates", "steps", "score", "method")}
                | {"learning_rate": budget["learning_rate"], "source": "examples/gallery.json"},
                "tuned_learning_rate": tuned,
            },
            indent=1,
            sort_keys=True,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
