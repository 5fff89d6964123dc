"""The package is layered: every module imports only from its own layer or the ones below it.

Layers, bottom first: the contracts (`errors`, `contracts`, `interrupts`, `devices`), then data / evaluation / sweep expansion,
the run store (`runs`: records, the one-owner lock, kept records, rescue, lookup), models, training, explanations,
reporting (tables only), and the entry points on top. Lazy imports inside functions
count too: a lower layer that reaches up at run time is as tangled as one that does it at import.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "mixnam"
LAYERS = [
    {"errors", "contracts", "interrupts", "devices"},
    {"data", "evaluation", "sweeps"},
    {"runs"},
    {"models"},
    {"training"},
    {"explain"},
    {"reporting"},
    {"experiment", "cli", "report", "estimators", "validation", "launchers", "another_explanation",
     "recompute", "__init__"},
]
LEVEL = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def module_name(path: Path) -> str:
    parts = ("mixnam",) + path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every mixnam module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mixnam"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("mixnam"))
    return found


MODULES = {module_name(path): path for path in SRC.rglob("*.py")}
GRAPH = {name: {target for target in imports(path) if target in MODULES and target != name}
         for name, path in MODULES.items()}


def layer(module: str) -> int:
    part = module.split(".")[1] if "." in module else "__init__"
    return LEVEL[part]


def test_every_module_belongs_to_a_layer():
    assert all(layer(name) is not None for name in MODULES)


def test_no_import_climbs_from_a_lower_layer_to_a_higher_one():
    climbs = [f"{source} -> {target}" for source, targets in GRAPH.items() for target in targets
              if layer(target) > layer(source)]
    assert not climbs, "imports that climb a layer:\n" + "\n".join(sorted(climbs))


def test_no_two_modules_import_each_other():
    mutual = sorted({tuple(sorted((a, b))) for a, targets in GRAPH.items() for b in targets
                     if a in GRAPH.get(b, ()) and not (b.startswith(a + ".") or a.startswith(b + "."))})
    assert not mutual, f"modules importing each other: {mutual}"


def test_the_checks_before_any_work_load_no_torch_lightning_or_data_stack():
    """`run.py` with a bad input, a finished run or a run in progress elsewhere answers in about a second:
    the entry point's guard rails and `mixnam.experiment` defer the seconds of heavy imports to the fit."""
    code = ("import sys, mixnam.cli, mixnam.launchers, mixnam.experiment; "
            "print(sorted(m for m in ('torch', 'lightning', 'pandas', 'sklearn', 'matplotlib') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
