"""The docs stay current: the generated KPI reference matches the catalogue, and links resolve."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from metrics.catalogue import CATALOGUE, KPIS
from metrics.catalogue_docs import REFRESH_COMMAND, format_target, render

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "kpi-reference.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
SOURCE_FOLDERS = (
    "metrics",
    "experiments",
    "dashboard",
    "sample_data",
    "tests",
    "benchmarks",
    "docs",
)


def _checked_files() -> list[Path]:
    """The Markdown files whose links must resolve: docs/*.md, README.md, CHANGELOG.md."""
    return sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md", ROOT / "CHANGELOG.md"]


# -- a small link checker (GitHub's rendering rules, as far as these files use them) -----------
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_HTML_ID = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"", re.I)


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code (links there are not links)."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def anchors(text: str) -> set[str]:
    """Fragment ids GitHub gives a Markdown file: heading slugs (with -1, -2 ... for repeats)."""
    seen: dict[str, int] = {}
    out: set[str] = set(_HTML_ID.findall(text))
    for heading in _HEADING.findall(_FENCE.sub("", text)):
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
        slug = re.sub(r"[^\w\- ]", "", plain.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def broken_links(path: Path, root: Path) -> list[str]:
    """Every relative link in `path` whose file (or #fragment in a Markdown file) is missing."""
    text = path.read_text(encoding="utf-8")
    problems = []
    for target in _LINK.findall(_prose(text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
            continue
        file_part, _, fragment = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(root)}: link {target!r}"
        if not dest.is_relative_to(root):
            problems.append(f"{where} points outside the repository")
        elif not dest.exists():
            problems.append(f"{where} points at a missing file {dest.relative_to(root)}")
        elif (
            fragment
            and dest.suffix == ".md"
            and dest.is_file()
            and fragment not in anchors(dest.read_text(encoding="utf-8"))
        ):
            problems.append(f"{where}: no heading #{fragment} in {dest.relative_to(root)}")
    return problems


# -- the KPI reference -----------------------------------------------------------------------
def test_kpi_reference_matches_the_catalogue() -> None:
    committed = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    assert committed == render(), (
        f"docs/kpi-reference.md is stale (the KPI catalogue changed); refresh it with "
        f"`{REFRESH_COMMAND}` and commit the result"
    )


def test_kpi_reference_command_prints_exactly_the_committed_page() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "metrics.catalogue_docs"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    assert out == REFERENCE.read_bytes()


def _section(page: str, name: str) -> str:
    start = page.index(f"### `{name}`\n")
    end = page.find("\n### ", start + 1)
    return page[start : end if end != -1 else len(page)]


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_kpi_reference_section_states_every_field_of_the_kpi(name: str) -> None:
    k = CATALOGUE[name]
    section = _section(render(), name)
    assert f"**{k.label}**: {k.definition}" in section
    assert f"- **Unit**: `{k.unit}`" in section
    assert f"- **Direction**: {k.direction} is better" in section
    assert f"- **Dimensions**: {', '.join(k.dimensions)}" in section
    assert f"- **Target source**: {k.target_source}" in section
    assert f"- **Minimum n**: {k.min_n} " in section
    assert f"- **Aggregation**: `{k.measure.aggregation}`" in section
    for text in (k.measure.expr, k.measure.numerator):
        if text is not None:
            assert f"`{text}`" in section
    assert f"- **Default target**: {format_target(k, k.target)}" in section
    for band, value in k.band_targets.items():
        assert f"{band} {format_target(k, value)}" in section


def test_kpi_reference_lists_each_kpi_once_in_catalogue_order() -> None:
    page = render()
    headings = re.findall(r"^### `(\w+)`$", page, re.M)
    assert headings == [k.name for k in KPIS]
    rows = re.findall(r"^\| \[`(\w+)`\]\(#\1\) \|", page, re.M)
    assert rows == [k.name for k in KPIS]


CHANGES = {
    "target": lambda k: replace(k, target=(k.target or 0.0) + 1.0),
    "label": lambda k: replace(k, label=k.label + " (relabelled)"),
    "dimensions": lambda k: replace(k, dimensions=k.dimensions[:1]),
    "min_n": lambda k: replace(k, min_n=k.min_n + 1),
    "direction": lambda k: replace(k, direction="lower" if k.direction == "higher" else "higher"),
    "target_source": lambda k: replace(k, target_source=k.target_source + " (revised)"),
    "numerator": lambda k: replace(k, measure=replace(k.measure, numerator="csat >= 5")),
}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_kpi_reference_changes_when_a_catalogue_field_changes(field: str) -> None:
    # The staleness test can only fail if every listed field reaches the page.
    changed = tuple(CHANGES[field](k) if k.name == "csat" else k for k in KPIS)
    assert render(changed) != render()


def test_format_target_writes_shares_as_percent_and_nps_signed() -> None:
    assert format_target(CATALOGUE["fcr"], 0.8) == "0.8 (80 %)"
    assert format_target(CATALOGUE["nps"], 20.0) == "+20"
    assert format_target(CATALOGUE["frt_live_median"], 30.0) == "30 s"
    assert format_target(CATALOGUE["aht"], None) == "none"


# -- links -----------------------------------------------------------------------------------
def test_docs_folder_has_the_pages_the_readme_promises() -> None:
    for page in (
        "architecture",
        "adding-a-kpi",
        "adding-a-metric-family",
        "kpi-reference",
        "ingest",
    ):
        assert (ROOT / "docs" / f"{page}.md").is_file(), page
    assert (ROOT / "LICENSE").is_file() and (ROOT / "CHANGELOG.md").is_file()


@pytest.mark.parametrize("path", _checked_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_an_existing_file(path: Path) -> None:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    problems = broken_links(path, ROOT)
    assert not problems, "broken links:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", sorted((ROOT / "docs").glob("*.md")), ids=lambda p: p.name)
def test_every_repository_path_named_in_docs_exists(path: Path) -> None:
    # `metrics/compiler.py` written as code (not a link) must not go stale either.
    named = re.findall(r"`([\w.-]+(?:/[\w.-]+)+/?)`", path.read_text(encoding="utf-8"))
    # Only paths into the repository's own folders (data/cx.duckdb is made at run time).
    named = [p for p in named if p.split("/")[0] in SOURCE_FOLDERS]
    missing = [p for p in named if not (ROOT / p).exists()]
    assert not missing, f"{path.name} names paths that do not exist: {', '.join(missing)}"


@pytest.mark.parametrize("path", _checked_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_do_not_depend_on_files_outside_the_repository(path: Path) -> None:
    # The team's design notes live beside the checkout; a clone has only the repository.
    assert "../shared/" not in path.read_text(encoding="utf-8")


def test_link_checker_finds_missing_files_anchors_and_escapes(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## The `x` part\n")
    (tmp_path / "code.py").write_text("")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Page\n[ok](other.md) [ok](other.md#the-x-part) [ok](../code.py) [ok](#page)\n"
        "[ok](https://example.com/nowhere.md) `[not a link](nowhere.md)`\n"
        "```\n[not a link](nowhere.md)\n```\n"
        "[bad](missing.md) [bad](other.md#no-such) [bad](../../outside.md) [bad](#nope)\n",
        encoding="utf-8",
    )
    problems = broken_links(page, tmp_path)
    assert len(problems) == 4, problems
    assert "missing file docs/missing.md" in problems[0]
    assert "no heading #no-such in docs/other.md" in problems[1]
    assert "outside the repository" in problems[2]
    assert "no heading #nope" in problems[3]


def test_anchors_follow_github_slugs_with_numbered_repeats() -> None:
    text = '# A `b` C\n## Same\n## Same\n<a id="custom"></a>\n```\n# not a heading\n```\n'
    assert anchors(text) == {"a-b-c", "same", "same-1", "custom"}


# -- the doors of docs/architecture.md hold, except where the page says they do not ----------
PACKAGES = ("metrics", "experiments", "dashboard", "sample_data")
# (folder, top-level packages its modules must not import), most specific folder first.
DOORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "experiments/stats/",
        ("streamlit", "duckdb", "plotly", "pymc", "metrics", "experiments", "dashboard"),
    ),
    ("metrics/", ("experiments", "dashboard", "streamlit", "plotly")),
    ("experiments/", ("dashboard", "streamlit")),
    ("sample_data/", ("experiments", "dashboard", "streamlit")),
)


def _imports(path: Path, root: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import statement in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    # Imports under `if TYPE_CHECKING:` never run: annotations only, not a door or a cycle.
    typing_only = {
        id(n)
        for block in tree.body
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for n in ast.walk(block)
    }
    package = path.relative_to(root).with_suffix("").parts[:-1]
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [base])])
            out.append((base, id(node) in top))
            # `from pkg import module` imports that module too.
            out += [(f"{base}.{a.name}", id(node) in top) for a in node.names]
    return out


def _module_file(module: str, root: Path) -> str | None:
    parts = module.split(".")
    for candidate in (Path(*parts).with_suffix(".py"), Path(*parts) / "__init__.py"):
        if (root / candidate).is_file():
            return candidate.as_posix()
    return None


def door_violations(root: Path) -> set[str]:
    """Every import that breaks the doors, as one sentence each (the page's own wording)."""
    found: set[str] = set()
    edges: set[tuple[str, str]] = set()
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            forbidden = next((f for folder, f in DOORS if rel.startswith(folder)), ())
            for module, at_top in _imports(path, root):
                head = module.split(".")[0]
                # The pure engine is the floor: its own modules and metrics/ may use it.
                allowed_here = rel.startswith(("experiments/stats/", "metrics/")) and (
                    module == "experiments.stats" or module.startswith("experiments.stats.")
                )
                if head in forbidden and not allowed_here and _is_real(module, root):
                    found.add(f"`{rel}` imports `{module}`")
                if head == "pymc" and at_top:
                    found.add(f"`{rel}` imports `pymc` at module level")
                target = _module_file(module, root) if head in PACKAGES else None
                if target is not None and target != rel:
                    edges.add((rel, target))
    for cycle in import_cycles(edges):
        if len(cycle) == 2:
            found.add(f"`{cycle[0]}` and `{cycle[1]}` import each other")
        else:
            names = ", ".join(f"`{m}`" for m in cycle[:-1]) + f" and `{cycle[-1]}`"
            found.add(f"{names} import each other in a cycle")
    return found


def import_cycles(edges: set[tuple[str, str]]) -> list[tuple[str, ...]]:
    """The modules of every import cycle, of any length: each strongly connected component
    of the import graph with more than one module (Tarjan's algorithm), names sorted."""
    graph: dict[str, list[str]] = {}
    for a, b in sorted(edges):
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[tuple[str, ...]] = []

    def visit(v: str) -> None:
        # Recursion depth is bounded by the longest import chain (tens of modules).
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(tuple(sorted(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def _is_real(module: str, root: Path) -> bool:
    """False for `from pkg import name` where name is not a module of the project's packages."""
    head = module.split(".")[0]
    if head not in PACKAGES:
        return True
    return _module_file(module, root) is not None


def documented_exceptions(text: str) -> set[str]:
    """The bullets under "Where the code does not follow the doors today", first sentence."""
    part = text.split("Where the code does not follow the doors today", 1)[1].split("\n## ", 1)[0]
    bullets = re.findall(r"^- (.+?)(?=^- |\Z)", part, re.M | re.S)
    out = set()
    for b in bullets:
        b = " ".join(b.split())
        m = re.match(
            r"(`[^`]+` (?:imports `[^`]+`(?: at module level)?|and `[^`]+` import each other)"
            r"|(?:`[^`]+`, )+`[^`]+` and `[^`]+` import each other in a cycle)",
            b,
        )
        assert m, f"docs/architecture.md: cannot read the exception {b!r}"
        out.add(m.group(1))
    return out


def test_every_door_violation_in_the_code_is_listed_in_architecture() -> None:
    listed = documented_exceptions(ARCHITECTURE.read_text(encoding="utf-8"))
    unlisted = sorted(door_violations(ROOT) - listed)
    assert not unlisted, (
        "imports that break the doors of docs/architecture.md (fix the import, or list it "
        "under 'Where the code does not follow the doors today'):\n  " + "\n  ".join(unlisted)
    )


def test_every_listed_door_exception_still_exists() -> None:
    listed = documented_exceptions(ARCHITECTURE.read_text(encoding="utf-8"))
    gone = sorted(listed - door_violations(ROOT))
    assert not gone, (
        "docs/architecture.md lists door exceptions the code no longer has; delete these "
        "lines:\n  " + "\n  ".join(gone)
    )


def test_door_checker_finds_forbidden_imports_pymc_at_top_and_cycles(tmp_path: Path) -> None:
    files = {
        "metrics/__init__.py": "",
        "metrics/a.py": "import streamlit\nfrom dashboard.x import f\n",
        "metrics/b.py": "def fit():\n    import pymc\n",
        "metrics/c.py": "from experiments.stats import binary\nfrom experiments.readout import f\n",
        "experiments/__init__.py": "",
        "experiments/r.py": "from experiments import s\n",
        "experiments/s.py": "def g():\n    from experiments.r import h\n",
        # A three-module cycle (one edge inside a function), a chain that is no cycle, and a
        # pair joined only by an import for type checking (it never runs: no cycle).
        "experiments/c1.py": "from experiments.c2 import x\n",
        "experiments/c2.py": "from . import c3\n",
        "experiments/c3.py": "def f():\n    from experiments.c1 import y\n",
        "experiments/t1.py": "from experiments.t2 import x\n",
        "experiments/t2.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from experiments.t1 import y\n",
        "experiments/d1.py": "from experiments import d2\n",
        "experiments/d2.py": "from experiments.r import h\n",
        "experiments/stats/__init__.py": "",
        "experiments/stats/m.py": "import duckdb\nimport pymc\nfrom experiments.stats import n\n",
        "experiments/stats/n.py": "import numpy\n",
        "experiments/stats/binary.py": "",
        "experiments/readout.py": "",
        "dashboard/__init__.py": "",
        "dashboard/x.py": "import streamlit\nimport pymc\n",
        "sample_data/__init__.py": "",
        "sample_data/g.py": "from metrics import a\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert door_violations(tmp_path) == {
        "`metrics/a.py` imports `streamlit`",
        "`metrics/a.py` imports `dashboard.x`",
        "`metrics/c.py` imports `experiments.readout`",
        "`experiments/stats/m.py` imports `duckdb`",
        "`experiments/stats/m.py` imports `pymc`",
        "`experiments/stats/m.py` imports `pymc` at module level",
        "`dashboard/x.py` imports `pymc` at module level",
        "`experiments/r.py` and `experiments/s.py` import each other",
        "`experiments/c1.py`, `experiments/c2.py` and `experiments/c3.py` import each other "
        "in a cycle",
    }


def test_import_cycles_finds_each_strongly_connected_group_once() -> None:
    edges = {("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e"), ("e", "d"), ("f", "a")}
    assert import_cycles(edges) == [("a", "b", "c"), ("d", "e")]
    assert import_cycles({("a", "b"), ("b", "c"), ("a", "c")}) == []
    # A long ring is one cycle, however long.
    ring = {(f"m{i:02d}", f"m{(i + 1) % 30:02d}") for i in range(30)}
    assert import_cycles(ring) == [tuple(f"m{i:02d}" for i in range(30))]
    listed = documented_exceptions(
        "Where the code does not follow the doors today\n\n"
        "- `a.py`, `b.py` and `c.py` import each other in a cycle (why).\n"
    )
    assert listed == {"`a.py`, `b.py` and `c.py` import each other in a cycle"}
