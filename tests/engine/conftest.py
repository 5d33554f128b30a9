"""The unlearning fixtures (tiny Llama, forget/retain items, refusals): see tests/unlearn_fixtures.py."""

from unlearn_fixtures import FORGET, REFUSALS, RETAIN, forget, qa_items, refusals, retain, tiny  # noqa: F401
