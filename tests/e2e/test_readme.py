"""The README's curl example, run as written against the real stack."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    marker = text.index("<!-- readme-curl-example")
    return re.search(r"```bash\n(.*?)```", text[marker:], re.S).group(1)


def test_readme_curl_example_returns_six_trajectories_and_a_101_grid(service, tmp_path):
    script = readme_example()
    assert "examples/figure1.json" in script
    env = {**os.environ, "OPTSERVE_URL": service.url}
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    assert "event: end" in out.stdout and '"status": "succeeded"' in out.stdout
    assert "6 trajectories, 101 x 101 grid" in out.stdout
    for name in ("gd", "momentum", "nesterov", "rmsprop", "adam", "ranger_lars"):
        assert re.search(rf"^{name} +(converged|max_steps) ", out.stdout, re.M), name
