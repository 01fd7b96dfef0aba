"""The subpackages import each other only along the allowed direction, with no cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUBPACKAGES = {"facekit": "facekit", "latent": "latent", "engines": "engines",
               "calibration": "calibration", "realtime": "realtime", "provenance": "provenance"}
ALLOWED = {
    "facekit": set(),
    "latent": {"facekit", "provenance"},
    "engines": {"facekit", "latent"},
    "calibration": {"facekit"},
    "realtime": {"facekit", "latent", "engines", "calibration", "provenance"},
    "provenance": {"facekit"},
}


def imported_subpackages(package: str) -> dict[str, set[str]]:
    """For each module file of ``package``: the other latentcam subpackages it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / SUBPACKAGES[package]).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        rel_depth = len(path.relative_to(REPO / SUBPACKAGES[package]).parts) - 1
        targets: set[str] = set()
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    names = [node.module or ""]
                elif node.level > rel_depth + 1:  # climbs above the subpackage: ..x == latentcam.x
                    base = node.module or ""
                    names = [f"latentcam.{base}"] if base else [f"latentcam.{a.name}" for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "latentcam" and len(parts) > 1 and parts[1] in SUBPACKAGES:
                    targets.add(parts[1])
                elif parts[0] == "latentcam" and len(parts) == 1 and isinstance(node, ast.ImportFrom):
                    targets |= {a.name for a in node.names if a.name in SUBPACKAGES}
        targets.discard(package)
        if targets:
            found[str(path.relative_to(REPO))] = targets
    return found


def test_subpackages_import_only_downstream():
    violations = []
    for package, allowed in ALLOWED.items():
        for module, targets in imported_subpackages(package).items():
            for target in targets - allowed:
                violations.append(f"{module} imports latentcam.{target}")
    assert not violations, "imports against the layer order:\n" + "\n".join(violations)


def test_import_graph_has_no_cycles():
    graph = {p: set().union(*imported_subpackages(p).values()) if imported_subpackages(p) else set()
             for p in SUBPACKAGES}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack + [node, nxt]))
            if nxt not in state:
                visit(nxt, stack + [node])
        state[node] = 2

    for p in graph:
        if p not in state:
            visit(p, [])


def test_the_checker_itself_detects_a_cycle(tmp_path, monkeypatch):
    """Guard against a checker that cannot fail: a relative import upwards is seen."""
    fake_repo = tmp_path
    (fake_repo / "facekit").mkdir()
    (fake_repo / "facekit" / "x.py").write_text("from ..realtime import pipeline\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", fake_repo)
    assert imported_subpackages("facekit") == {"facekit/x.py": {"realtime"}}


def test_importing_the_cli_and_base_layer_does_not_load_torch_or_mediapipe():
    code = ("import sys, latentcam.cli, latentcam.facekit.sources, latentcam.facekit.geometry; "
            "print(sorted(m for m in ('torch', 'mediapipe', 'tensorrt_rtx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
