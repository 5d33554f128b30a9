"""Data: the record schema, loaders with line-exact validation, and the built-in benchmark.

    from froc.data import load_items, load_request, QAItem
    items = load_items("forget.jsonl")              # LoadedItems: list-like, .kind, .warnings
    req = load_request("forget.jsonl", "retain.csv")  # cross-file rules (no forget item in retain)

    from froc.data.benchmark import ensure_benchmark, split_views
    views = split_views(ensure_benchmark("~/.cache/froc/data"), "forget10")
"""

from froc.data.loaders import LoadedItems, load_items, save_items
from froc.data.request import Request, load_request
from froc.data.schema import FORMS, KINDS, QAItem, RefusalItem, TextItem, validate_record, validate_records

__all__ = [
    "FORMS", "KINDS", "LoadedItems", "QAItem", "RefusalItem", "Request", "TextItem",
    "load_items", "load_request", "save_items", "validate_record", "validate_records",
]
