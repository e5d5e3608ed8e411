"""A griffe extension for the API pages: doctests as code blocks, inherited method docs.

Many docstrings put ``>>>`` examples in their prose (the doctest style the test suite runs)
rather than in a Google ``Examples:`` section; Markdown would read their outputs, e.g.
``[[0.6, 0.8]]``, as links.  This extension fences every doctest block as ``pycon`` code and
turns ``Example:``/``Examples:`` sections into a bold heading followed by the same blocks, so
all examples render alike.  A method that overrides a documented one without a docstring of
its own (a pass-through such as a mixin's ``fit``) is shown with the documented method's
signature and docstring.  It changes only what the site shows, never the code.
"""

from __future__ import annotations

import re

import griffe

_SECTION = re.compile(r"^(\s*)Examples?:\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def fence(text: str) -> str:
    """Returns ``text`` with its doctest blocks fenced and its Examples sections flattened."""
    lines = text.splitlines()
    out: list[str] = []
    i, in_fence, section = 0, False, None  # section: indentation of an Examples header
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if in_fence or stripped.startswith("```"):
            out.append(line)
            i += 1
            continue
        if section is not None and stripped and _indent(line) <= section and not (
            stripped.startswith(">>>")
        ):
            section = None
        match = _SECTION.match(line)
        if match:
            section = len(match.group(1))
            out += ["", "**Examples**", ""]
            i += 1
            continue
        if stripped.startswith(">>>"):
            base = _indent(line)
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][base:] if _indent(lines[i]) >= base else lines[i].strip())
                i += 1
            out += ["", "```pycon", *block, "```", ""]
            continue
        out.append(line[section + 4 :] if section is not None and _indent(line) > section else line)
        i += 1
    return "\n".join(out)


class DoctestFence(griffe.Extension):
    """Fences the doctests of every loaded object's docstring."""

    def on_instance(self, *, obj, **kwargs) -> None:  # noqa: D102
        if obj.docstring is not None:
            obj.docstring.value = fence(obj.docstring.value)


def _inherit(cls: griffe.Class) -> None:
    """Gives undocumented methods ``cls`` has (own or inherited) the signature and docs of the
    documented method they override further along ``cls``'s MRO."""
    try:
        chain = [cls, *cls.mro()]
    except Exception:  # a base outside the loaded packages: nothing to inherit from
        return
    for name in list(cls.all_members):
        owner = next((i for i, c in enumerate(chain) if name in c.members), None)
        if owner is None:
            continue
        member = chain[owner].members[name]
        if member.is_alias or not member.is_function or member.docstring is not None:
            continue
        for base in chain[owner + 1 :]:
            other = base.members.get(name)
            if other is None or other.is_alias or not other.is_function:
                continue
            if other.docstring is not None:
                member.parameters = other.parameters
                member.returns = other.returns
                member.docstring = griffe.Docstring(other.docstring.value, parent=member)
                break


def _classes(obj: griffe.Object):
    for member in obj.members.values():
        if member.is_alias:
            continue
        if member.is_class:
            yield member
        if member.is_module or member.is_class:
            yield from _classes(member)


class InheritDocs(griffe.Extension):
    """Documents pass-through overrides with the method they override (see the module doc)."""

    def on_package(self, *, pkg, **kwargs) -> None:  # noqa: D102
        for cls in _classes(pkg):
            _inherit(cls)
