"""The one YAML reader of froc: safe tags only, ``1e-3`` read as a float, duplicate keys refused, and
documents whose alias expansion would exceed a size bound refused before anything expands them.

A YAML alias (``*a``) points at an earlier node; PyYAML composes it as the *same* node object, so a
"billion laughs" document is a small DAG whose expansion (walking it as a tree, dumping it, validating
it) is exponential. :func:`load_yaml` composes the document once, counts the nodes of its expansion on
the DAG (memoised, linear in the document), refuses it above ``max_nodes`` (or nested deeper than
``max_depth``), and constructs the data from that same node (constructed objects are shared per node,
so construction is not exponential either). Callers that want line numbers walk the returned node
with :func:`key_lines`, which visits every node once (alias targets are not walked again).

Torch-free; used by the sweep file (``froc.sweep.config``), ``froc unlearn --config`` and ``--set``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from froc.errors import ConfigError

MAX_NODES = 100_000  # nodes of the alias-expanded document (a sweep file has a few hundred)
MAX_DEPTH = 64  # nesting levels (a sweep file has 4)


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader, but ``1e-3`` is a float (YAML 1.1 wants ``1.0e-3``; a learning rate
    read as the text '1e-3' would only fail once the grid runs), and a duplicate key is an error."""


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |\.[0-9_]+(?:[eE][-+][0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _no_duplicates(loader: Loader, node: yaml.MappingNode, deep: bool = False):
    seen: dict = {}
    for k, _ in node.value:
        key = loader.construct_object(k, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a scalar", k.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}' (first at line {seen[key]}; the first one would be ignored)",
                k.start_mark)
        seen[key] = k.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [x for kv in node.value for x in kv]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_size(node, source: str, *, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> int:
    """Nodes of the alias-expanded document rooted at ``node`` (iterative, memoised per node object).

    Raises:
        ConfigError: ``source:line`` when the expansion exceeds ``max_nodes`` or nests deeper than ``max_depth``.
    """
    if node is None:
        return 0
    size: dict[int, int] = {}
    depth: dict[int, int] = {id(node): 1}
    stack = [(node, False)]
    on_path: set[int] = set()
    while stack:
        n, done = stack.pop()
        if done:
            on_path.discard(id(n))
            total = 1 + sum(size[id(c)] for c in _children(n))
            size[id(n)] = total
            if total > max_nodes:
                raise ConfigError(f"{source}:{n.start_mark.line + 1}: the document expands to more than {max_nodes:,} "
                                  "nodes (YAML aliases '*name' repeat what they point at); refused (a 'billion laughs' "
                                  "document would exhaust memory). Write the values out, or use fewer aliases")
            continue
        if id(n) in size:
            continue
        if id(n) in on_path:  # a recursive alias (PyYAML builds cyclic data from it)
            raise ConfigError(f"{source}:{n.start_mark.line + 1}: a YAML alias refers to a node that contains it "
                              "(recursive document); refused")
        on_path.add(id(n))
        stack.append((n, True))
        for c in _children(n):
            d = depth[id(n)] + 1
            if d > max_depth:
                raise ConfigError(f"{source}:{c.start_mark.line + 1}: nested more than {max_depth} levels deep; refused")
            depth[id(c)] = max(depth.get(id(c), 0), d)
            if id(c) not in size:
                stack.append((c, False))
    return size[id(node)]


def load_yaml(text: str, source: str = "<yaml>", *, max_nodes: int = MAX_NODES,
              max_depth: int = MAX_DEPTH) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML document (safe tags only) into ``(data, node)``, composing it once.

    Raises:
        ConfigError: ``source:line: invalid YAML (...)`` for a syntax/constructor error, or a document
            over the size or depth bound (see :func:`check_size`).
    """
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        check_size(node, source, max_nodes=max_nodes, max_depth=max_depth)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{source}{where}: invalid YAML ({getattr(e, 'problem', None) or e})") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to parse; refused") from None
    finally:
        loader.dispose()
    return data, node


def load_yaml_file(path: str | Path, what: str = "YAML file") -> tuple[Any, yaml.Node | None]:
    """:func:`load_yaml` of a file; errors name the file (missing, not UTF-8, invalid, too large)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} '{p}' does not exist" + (" (it is a folder)" if p.is_dir() else ""))
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read ({e.strerror})") from None
    return load_yaml(text, str(p))


def key_lines(node) -> dict[tuple[str, ...], int]:
    """Map key paths to 1-based line numbers, visiting each node once (an alias's target is not walked again,
    so its keys keep the lines of where the anchor was written)."""
    lines: dict[tuple[str, ...], int] = {}
    seen: set[int] = set()
    stack = [(node, ())] if node is not None else []
    while stack:
        n, path = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                p = path + (str(k.value),)
                lines.setdefault(p, k.start_mark.line + 1)
                stack.append((v, p))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                p = path + (str(i),)
                lines.setdefault(p, v.start_mark.line + 1)
                stack.append((v, p))
    return lines
