"""numpydoc validation of crossling's public API, plus the check numpydoc lacks: a function that raises says so.

Public: every name in a module's ``__all__`` (functions, classes and their public methods). Checked:

- numpydoc's checks in :data:`CHECKS` (a docstring exists, it has a one-line summary, every parameter is
  documented and none is documented that does not exist, a Returns section where something is returned,
  a Yields section for generators, sections in order);
- a function or method whose own body has a ``raise`` statement (outside a nested function) documents it in a
  Raises section (:func:`raises_undocumented`);
- a record class (dataclass, named tuple, pydantic model) documents each of its own fields in its Attributes
  or Parameters section (:func:`undocumented_fields`; numpydoc's parameter checks do not apply to them).

Run it as a script for a report: ``python tests/tooling/docstrings.py``.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import textwrap
from collections.abc import Iterator

import numpydoc.validate

import crossling
from crossling.cli._build import field_docs

CHECKS = ("GL08", "SS01", "SS03", "PR01", "PR02", "RT01", "YD01", "GL07")


def public_objects() -> Iterator[tuple[str, object]]:
    """Every public function, class and public method of crossling, by import path, each once."""
    seen: set[int] = set()
    for info in pkgutil.walk_packages(crossling.__path__, "crossling."):
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if obj is None or id(obj) in seen or getattr(obj, "__module__", "") != module.__name__:
                continue
            if inspect.isfunction(obj):
                seen.add(id(obj))
                yield f"{module.__name__}.{name}", obj
            elif inspect.isclass(obj):
                seen.add(id(obj))
                yield f"{module.__name__}.{name}", obj
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or not (inspect.isfunction(member) or isinstance(member, (classmethod,
                                                                                                     staticmethod))):
                        continue
                    func = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
                    if id(func) not in seen:
                        seen.add(id(func))
                        yield f"{module.__name__}.{name}.{attr}", func


def _own_raises(func: object) -> bool:
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return False
    tree = ast.parse(source).body[0]

    def walk(node: ast.AST) -> bool:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            if isinstance(child, ast.Raise) and child.exc is not None:
                return True
            if walk(child):
                return True
        return False

    return walk(tree)


def raises_undocumented(func: object) -> bool:
    """Whether ``func`` raises in its own body but its docstring has no Raises section."""
    if not (inspect.isfunction(func) and _own_raises(func)):
        return False
    return "\nRaises\n" not in inspect.cleandoc(func.__doc__ or "") and not (func.__doc__ or "").startswith("Raises")


def undocumented_fields(cls: type) -> list[str] | None:
    """The own fields of a record class missing from its docstring, or None for any other class."""
    if dataclasses.is_dataclass(cls):
        own = [f.name for f in dataclasses.fields(cls) if f.name in cls.__dict__.get("__annotations__", {})]
    elif hasattr(cls, "_fields"):
        own = list(cls._fields)
    elif hasattr(cls, "model_fields"):
        own = [name for name in cls.__dict__.get("__annotations__", {}) if name in cls.model_fields]
    else:
        return None
    documented = field_docs(cls)
    return [name for name in own if not name.startswith("_") and name not in documented]


def problems() -> tuple[int, list[str]]:
    """(number of objects checked, one line per problem)."""
    found, checked = [], 0
    for path, obj in public_objects():
        checked += 1
        if inspect.isclass(obj) and obj.__init__ is object.__init__ and not obj.__doc__:
            found.append(f"{path}: GL08 no docstring")
            continue
        missing = undocumented_fields(obj) if inspect.isclass(obj) else None
        if missing:
            found.append(f"{path}: AT01 fields without a description: {', '.join(missing)}")
        result = numpydoc.validate.validate(path)
        for code, message in result["errors"]:
            if code in CHECKS and not (missing is not None and code in ("PR01", "PR02")):
                found.append(f"{path}: {code} {message}")
        if raises_undocumented(obj):
            found.append(f"{path}: RS01 raises but has no Raises section")
    return checked, found


if __name__ == "__main__":
    n, lines = problems()
    print("\n".join(lines))
    print(f"{n} public objects checked, {len(lines)} problems")
