"""The language side and `import netdef` never import torch (docs/design.md §1); only the CLI
imports click; a stage imports only the stages before it."""

import ast
import subprocess
import sys

CODE = """
import sys
import netdef, netdef.syntax, netdef.schedules, netdef.schema, netdef.check
import netdef.cli
alexnet = 'layers/alexnet-2gpu.cfg'
net = netdef.load(alexnet) if __import__('os').path.exists(alexnet) else None
bad = [m for m in ('torch', 'numpy') if m in sys.modules]
print(','.join(bad))
"""


def test_language_path_imports_no_torch():
    from conftest import ROOT

    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_only_the_cli_imports_click():
    from conftest import ROOT

    offenders = [p for p in (ROOT / "netdef").rglob("*.py")
                 if "cli" not in p.parts and "import click" in p.read_text()]
    assert offenders == []


# Pipeline order (docs/design.md §1); modules of one rank are siblings: neither imports the other.
STAGE_RANK = {"errors": 0, "files": 1, "host": 1, "syntax": 1, "schedules": 2, "schema": 3,
              "check": 4, "compiler": 5, "data": 6, "optim": 7, "checkpoint": 7, "train": 8,
              "evaluate": 8, "show": 9, "speed": 9, "ablate": 10, "cli": 11}


def _imported_stages(path, package_parts):
    """The top-level netdef stages that a module imports (relative or absolute)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package_parts[:len(package_parts) - node.level + 1]
            parts = base + (node.module.split(".") if node.module else [])
            yield from ([parts[0]] if parts else [a.name for a in node.names])
        elif (node.module or "").startswith("netdef."):
            yield node.module.split(".")[1]


def test_a_stage_imports_only_earlier_stages():
    from conftest import ROOT

    root = ROOT / "netdef"
    wrong = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        stage = rel.parts[0].removesuffix(".py")
        if stage not in STAGE_RANK:
            continue
        for target in _imported_stages(path, list(rel.parts[:-1])):
            target = target.removesuffix(".py")
            if target in STAGE_RANK and target != stage and STAGE_RANK[target] >= STAGE_RANK[stage]:
                wrong.append(f"{rel} imports {target}")
    assert wrong == []
    assert {p.name.removesuffix(".py") for p in root.iterdir()
            if not p.name.startswith("__")} <= set(STAGE_RANK)  # a new stage needs a rank
