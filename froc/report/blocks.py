"""The page's building blocks as plain data for the Jinja2 template (no HTML is written in Python).

A block is a dict with a ``kind`` the template knows (``p``, ``h3``, ``table``, ``figure``, ``list``,
``box``, ``error``). Text is plain text (escaped by the template's autoescaping) or a list of
segments mixing text with small markers: :func:`b` (bold), :func:`code`, :func:`em`, :func:`flag`
(✓ / ✗ / ?), :func:`bar` (a bar of a given width) and :data:`BR`.
"""

from __future__ import annotations

import base64
import io
import re

from froc.safe_write import write_bytes
from pathlib import Path
from typing import Any, Iterable, Sequence

from matplotlib.figure import Figure

DPI = 100
FIGURE_NAME = re.compile(r"\d\d-[a-z0-9-]+\.png")
BR = {"br": True}


def b(x: Any) -> dict:
    return {"b": str(x)}


def code(x: Any) -> dict:
    return {"code": str(x)}


def em(x: Any) -> dict:
    return {"em": str(x)}


def flag(x: bool | None) -> dict:
    return {"flag": x if isinstance(x, bool) else None}


def bar(px: float) -> dict:
    return {"bar": int(px)}


def _text(x: Any) -> Any:
    """Cells and segments: text, marker dicts and lists pass; anything else becomes its text."""
    if x is None or isinstance(x, (str, dict)):
        return "" if x is None else x
    if isinstance(x, (list, tuple)):
        return [_text(y) for y in x]
    return str(x)


def para(*text: Any, cls: str = "") -> dict:
    return {"kind": "p", "text": _text(list(text)), "cls": cls}


def h3(*text: Any) -> dict:
    return {"kind": "h3", "text": _text(list(text))}


def table(headers: Sequence[Any], rows: Iterable[Sequence[Any]], *, numeric: Iterable[int] = (),
          classes: Sequence[str] | None = None, wide: bool = False, cls: str = "") -> dict:
    """A table; columns in ``numeric`` are right-aligned, ``classes`` styles rows (cert, rec, bad, ref)."""
    return {"kind": "table", "headers": _text(list(headers)), "rows": [_text(list(r)) for r in rows],
            "numeric": sorted(set(numeric)), "classes": list(classes) if classes else None, "wide": wide, "cls": cls}


def bullets(items: Iterable[Any], cls: str = "") -> dict:
    return {"kind": "list", "items": [_text(i) for i in items], "cls": cls}


def box(cls: str, *blocks: dict) -> dict:
    """A styled container (``card ok``, ``card warn``, ``guarantee``) around other blocks."""
    return {"kind": "box", "cls": cls, "blocks": list(blocks)}


def error(text: str) -> dict:
    return {"kind": "error", "text": text}


class Figures:
    """Writes each figure to ``plots_dir/NN-name.png`` and returns its block with the PNG as a data URI."""

    def __init__(self, plots_dir: Path):
        self.plots_dir = plots_dir
        self.files: list[Path] = []

    def figure(self, fig: Figure, name: str, alt: str, caption: Any) -> dict:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "figure"
        path = self.plots_dir / f"{len(self.files) + 1:02d}-{slug}.png"
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
        png = buf.getvalue()
        write_bytes(path, png)  # atomic; a symlink is replaced, never written through
        self.files.append(path)
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        return {"kind": "figure", "uri": uri, "alt": alt, "caption": _text(caption)}
