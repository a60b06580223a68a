"""tests/conftest.py's helpers under a name of their own (loaded from its file), for
tests/tui/conftest.py to re-export: both files are modules named `conftest`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_NAME = "_mnist_tests_conftest"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).parents[1] / "conftest.py")
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _module
    _spec.loader.exec_module(_module)

make_tiny_dataset = sys.modules[_NAME].make_tiny_dataset
write_dataset = sys.modules[_NAME].write_dataset
