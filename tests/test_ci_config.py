"""CI keeps the house tidy: lint, format and types before the tests, and test tiers that cover the suite.

Reads .ci/run, the Makefile, .pre-commit-config.yaml and pyproject.toml as text, so a change
that drops a check (or leaves a test in no tier) fails here rather than silently in CI.
"""

from __future__ import annotations

import collections
import itertools
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKERS = ("slow", "browser", "nightly", "mcmc")


def _recipe(target: str) -> list[str]:
    """The command lines of one Makefile target."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    m = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n?)*)", text, re.M)
    assert m, f"Makefile has no target {target!r}"
    variables = dict(re.findall(r"^(\w+)\s*:?=\s*(.*)$", text, re.M))
    lines = [line.strip() for line in m.group(1).splitlines()]
    return [
        re.sub(r"\$\((\w+)\)", lambda v: variables.get(v.group(1), v.group(0)), x) for x in lines
    ]


def _marker_expression(target: str) -> str | None:
    for line in _recipe(target):
        m = re.search(r'-m "([^"]+)"', line)
        if "pytest" in line:
            return m.group(1) if m else None
    raise AssertionError(f"make {target} runs no pytest")


def _selects(expression: str | None, marks: set[str]) -> bool:
    if expression is None:
        return True
    # pytest's -m grammar (and, or, not, parentheses, names) is Python's for these names.
    assert re.fullmatch(r"[\w\s()]+", expression), expression
    # Markers this test does not know (another tier's) count as absent.
    names = collections.defaultdict(bool, {m: m in marks for m in MARKERS})
    return bool(eval(expression, {"__builtins__": {}}, names))


def test_ci_runs_lint_then_the_quick_suite_then_the_slow_tier() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("make ")
    ]
    # Other steps may sit between them; lint comes first, both test tiers run.
    assert lines[0] == "make lint", lines
    assert lines.index("make test") < lines.index("make test-slow"), lines
    assert "set -euo pipefail" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_make_lint_runs_ruff_check_ruff_format_and_mypy() -> None:
    recipe = _recipe("lint")
    assert any(line.endswith("ruff check .") for line in recipe), recipe
    assert any(line.endswith("ruff format --check .") for line in recipe), recipe
    assert any(line.endswith("/mypy") for line in recipe), recipe
    # One command per line: make stops at the first that fails.
    assert not any("&&" in line or ";" in line or "|| true" in line for line in recipe)


def test_every_test_is_in_exactly_one_tier_and_test_all_runs_them_all() -> None:
    tiers = {t: _marker_expression(t) for t in ("test", "test-slow", "test-nightly")}
    for n in range(len(MARKERS) + 1):
        for marks in map(set, itertools.combinations(MARKERS, n)):
            chosen = [t for t, expr in tiers.items() if _selects(expr, marks)]
            assert len(chosen) == 1, f"a test marked {sorted(marks)} runs in {chosen}"
            assert _selects(_marker_expression("test-all"), marks)
    assert _selects(tiers["test"], set()), "unmarked tests run in the quick suite"


def test_pre_commit_runs_the_same_checks_without_network() -> None:
    text = (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    assert "repo: local" in text and "http" not in text
    for entry in (".venv/bin/ruff check", ".venv/bin/ruff format --check", ".venv/bin/mypy"):
        assert f"entry: {entry}" in text, entry
    assert text.count("language: system") == text.count("- id:")


def test_mypy_checks_metrics_and_experiments_and_is_a_dev_dependency() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["tool"]["mypy"]["files"] == ["metrics", "experiments"]
    dev = " ".join(config["project"]["optional-dependencies"]["dev"])
    assert "mypy" in dev and "scipy-stubs" in dev
    # Every override that silences missing imports says why in a comment above it.
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for m in re.finditer(r"\[\[tool\.mypy\.overrides\]\]", text):
        assert text[: m.start()].rstrip().splitlines()[-1].startswith("#")
