"""Markdown reference tables generated from a typed (pydantic) config.

`markdown_reference(SceneSpec)` lists every field of a scene file: its dotted
path, type, default, constraint and description, one table per TOML section.
`docs/scene-authoring.md` embeds the output between `BEGIN`/`END` markers and a
test checks that it still matches, so the reference cannot go stale.
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

import annotated_types
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

BEGIN = "<!-- BEGIN generated reference: `workbench scene reference`; do not edit by hand -->"
END = "<!-- END generated reference -->"


def scene_reference() -> str:
    from scenes.spec import SceneSpec

    return markdown_reference(SceneSpec)


def markdown_reference(model: type[BaseModel]) -> str:
    """One Markdown table per section (nested model or array of tables), top level first."""
    sections: list[str] = []
    _section(model, "", "Top level", sections)
    return "\n\n".join(sections) + "\n"


def embedded_reference(text: str) -> str | None:
    """The reference between the markers in a document, or None without markers."""
    match = re.search(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), text, re.S)
    return match.group(1).strip("\n") + "\n" if match else None


def update_document(path: Path, reference: str) -> bool:
    """Replace the reference between the markers in `path`; True when it changed."""
    text = path.read_text()
    if embedded_reference(text) is None:
        raise ValueError(f"{path}: no {BEGIN!r} ... {END!r} markers")
    new = re.sub(re.escape(BEGIN) + r"\n.*?" + re.escape(END), lambda _: f"{BEGIN}\n{reference}{END}", text,
                 flags=re.S)
    if new != text:
        path.write_text(new)
    return new != text


def _section(model: type[BaseModel], prefix: str, title: str, out: list[str]) -> None:
    rows, nested = [], []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        item = _model_items(annotation)
        if _is_model(annotation):
            nested.append((annotation, f"{path}.", f"`[{path}]`"))
            continue
        if item is not None:
            nested.append((item, f"{path}[].", f"`[[{path}]]`"))
        kind, constraint = _describe(annotation, field.metadata)
        rows.append(f"| `{path}` | {kind} | {_default(field.default)} | {constraint} | {field.description or ''} |")
    lines = [f"### {title}"]
    if model.__doc__ and prefix:
        lines += ["", _one_paragraph(model.__doc__)]
    if rows:
        lines += ["", "| field | type | default | constraint | description |", "|---|---|---|---|---|", *rows]
    out.append("\n".join(lines))
    for nested_model, nested_prefix, nested_title in nested:
        _section(nested_model, nested_prefix, nested_title, out)


def _one_paragraph(doc: str) -> str:
    return " ".join(line.strip() for line in doc.strip().split("\n\n")[0].splitlines())


def _is_model(annotation) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _model_items(annotation):
    """The model of a `tuple[Model, ...]` field (an array of tables), else None."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is tuple and len(args) == 2 and args[1] is Ellipsis and _is_model(args[0]):
        return args[0]
    return None


def _describe(annotation, metadata=()) -> tuple[str, str]:
    """(type, constraint) in words, for a Markdown cell."""
    constraint = _constraints(metadata)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        kind, inner = _describe(args[0], _field_metadata(args[1:]))
        return kind, _join(constraint, inner)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        kind, inner = _describe(next(a for a in args if a is not type(None)))
        return f"{kind}, optional", _join(constraint, inner)
    if origin is typing.Literal:
        return "string", _join(constraint, "one of " + ", ".join(f"`{_toml(a)}`" for a in args))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            if _is_model(args[0]):
                return "array of tables", constraint
            kind, inner = _describe(args[0])
            return f"list of {kind}", _join(constraint, f"each {inner}" if inner else "")
        described = [_describe(a) for a in args]
        inner = {c for _, c in described}
        return (f"[{', '.join(k for k, _ in described)}]",
                _join(constraint, f"each {inner.pop()}" if len(inner) == 1 and "" not in inner else ""))
    names = {bool: "boolean", int: "integer", float: "float", str: "string"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation))), constraint


def _field_metadata(extras) -> list:
    metadata = []
    for extra in extras:
        metadata.extend(getattr(extra, "metadata", None) or [extra])
    return metadata


def _constraints(metadata) -> str:
    words = []
    for item in metadata:
        if isinstance(item, annotated_types.Gt):
            words.append(f"> {item.gt}")
        elif isinstance(item, annotated_types.Ge):
            words.append(f">= {item.ge}")
        elif isinstance(item, annotated_types.Lt):
            words.append(f"< {item.lt}")
        elif isinstance(item, annotated_types.Le):
            words.append(f"<= {item.le}")
        elif isinstance(item, annotated_types.MinLen):
            words.append(f"at least {item.min_length} character{'s' if item.min_length != 1 else ''}")
        elif getattr(item, "pattern", None):
            words.append(f"matches `{item.pattern}`")
    return ", ".join(words)


def _join(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


def _default(value) -> str:
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, tuple) and value and all(isinstance(v, BaseModel) for v in value):
        names = [getattr(v, "name", None) for v in value]
        listed = f" ({', '.join(f'`{n}`' for n in names)})" if all(names) else ""
        return f"{len(value)} entries{listed}"
    if isinstance(value, BaseModel):
        return "see below"
    return f"`{_toml(value)}`"


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)
