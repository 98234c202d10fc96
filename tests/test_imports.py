"""The language side and `import netdef` never import torch (DESIGN.md §1)."""

import subprocess
import sys

CODE = """
import sys
import netdef, netdef.syntax, netdef.schedules, netdef.schema, netdef.check
import netdef.cli
net = netdef.load('layers/alexnet-2gpu.cfg') if __import__('os').path.exists('layers/alexnet-2gpu.cfg') else None
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
