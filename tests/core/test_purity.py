"""The product trains by hand and the core never imports the UI.

1. No `torch.nn`, `torch.optim`, `torch.autograd`, `requires_grad` or autograd's `.backward()`
   in the code (not comments or docstrings) of mlp_core/, data/ and tui/.
2. Importing mlp_core, data and the trainer loads none of textual, textual_plotext, plotext, tui.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_DIRS = ("mlp_core", "data", "tui")
FORBIDDEN = [
    re.compile(r"\btorch\s*\.\s*(nn|optim|autograd)\b"),
    re.compile(r"\bfrom\s+torch\s+import\s+[^\n]*\b(nn|optim|autograd)\b"),
    re.compile(r"\brequires_grad"),
    re.compile(r"\benable_grad\b"),
    re.compile(r"\btorch\s*\.\s*func\b"),  # grad, vjp, jacrev: autograd by another name
    re.compile(r"\bfrom\s+torch\s+import\s+[^\n]*\bfunc\b"),
    re.compile(r"\bfunctorch\b"),
]
#: Our own SoftmaxCrossEntropy.backward() may be called with no argument, on a `criterion`.
HAND_WRITTEN_NO_ARG_BACKWARD = re.compile(r"criterion$")


def product_files() -> list[Path]:
    """Every product module but the gradient checker, whose oracle is autograd by design
    (`mlp_core/gradcheck.py`; tests/core/test_gradcheck.py checks training never imports it)."""
    files = [p for d in PRODUCT_DIRS for p in sorted((ROOT / d).rglob("*.py"))]
    assert any(p.name == "trainer.py" for p in files) and any(p.name == "idx.py" for p in files)
    return [p for p in files if p != ROOT / "mlp_core" / "gradcheck.py"]


def code_only(source: str) -> str:
    """The source with comments and string literals (docstrings included) blanked out."""
    kept = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.STRING):
            continue
        if sys.version_info >= (3, 12) and token.type in (
            tokenize.FSTRING_START,
            tokenize.FSTRING_MIDDLE,
            tokenize.FSTRING_END,
        ):
            continue
        kept.append(token.string)
    return " ".join(kept)


def autograd_backward_calls(source: str) -> list[str]:
    """`x.backward()` with no arguments (or autograd's keywords) on anything but a criterion."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr != "backward":
            continue
        receiver = ast.unparse(node.func.value)
        keywords = {k.arg for k in node.keywords}
        autograd_keywords = keywords & {"gradient", "retain_graph", "create_graph", "inputs"}
        no_args = not node.args and not node.keywords
        if autograd_keywords or (no_args and not HAND_WRITTEN_NO_ARG_BACKWARD.search(receiver)):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def forbidden_in(source: str) -> list[str]:
    code = code_only(source)
    return [p.pattern for p in FORBIDDEN if p.search(code)]


@pytest.mark.parametrize(
    "snippet",
    [
        "import torch.nn as nn\n",
        "from torch import optim\n",
        "from torch import Tensor, nn\n",
        "x = torch.autograd.grad(y, x)\n",
        "F = torch.nn.functional\n",
        "w.requires_grad_()\n",
        "w = torch.zeros(3, requires_grad=True)\n",
        "with torch.enable_grad():\n    pass\n",
    ],
)
def test_checker_catches_each_idiom(snippet: str) -> None:
    """The check itself must fire on the code it is meant to forbid."""
    assert forbidden_in(snippet)


def test_checker_tells_autograd_backward_from_ours() -> None:
    assert autograd_backward_calls("loss.backward()\n") == ["line 1: loss.backward()"]
    assert autograd_backward_calls("loss.backward(retain_graph=True)\n")
    assert autograd_backward_calls("layer.backward(g)\nself.criterion.backward()\n") == []
    assert forbidden_in('"""No torch.nn here."""\n# nor torch.optim\nx = 1\n') == []


@pytest.mark.parametrize("path", product_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_autograd_or_torch_nn_in_the_product(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    hits = forbidden_in(source)
    assert not hits, f"{path}: forbidden {hits}"
    assert not autograd_backward_calls(source), f"{path}: {autograd_backward_calls(source)}"


def test_core_never_imports_the_ui() -> None:
    """Every module of mlp_core and data (the trainer included), imported in a fresh process."""
    script = (
        "import importlib, pkgutil, sys\n"
        "import mlp_core, data\n"
        "names = [m.name for p in (mlp_core, data) "
        "for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]\n"
        "assert 'mlp_core.trainer' in names and 'data.idx' in names, names\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'textual', 'textual_plotext', 'plotext', 'tui'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"the core imported UI modules: {result.stdout}"
