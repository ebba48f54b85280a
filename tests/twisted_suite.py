"""
Load one of Twisted's own test modules with some of its imports pointed at
pbfast, so that Twisted's tests run against pbfast's modules.
"""

from __future__ import annotations

import importlib.util
import sys
import types


def load(module_name: str, replacements: dict[str, str], into: str) -> types.ModuleType:
    """
    Execute the source of Twisted's test module C{module_name} as a new
    top-level module named C{into}, with each import line in C{replacements}
    replaced. The module is registered in C{sys.modules}, so that classes it
    defines can be found by name (jelly names classes by module).
    Each line must occur exactly once, so a change in Twisted's module shows
    up as a failure here rather than as tests silently run against Twisted.
    """
    spec = importlib.util.find_spec(module_name)
    assert spec is not None and spec.origin is not None, module_name
    with open(spec.origin, encoding="utf-8") as source_file:
        source = source_file.read()
    for original, replacement in replacements.items():
        assert source.count(original) == 1, f"{module_name} changed its import {original!r}"
        source = source.replace(original, replacement)
    module = types.ModuleType(into)
    module.__file__ = spec.origin
    sys.modules[into] = module
    exec(compile(source, spec.origin, "exec"), module.__dict__)
    return module
