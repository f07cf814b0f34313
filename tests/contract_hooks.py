"""Schemathesis hooks for tests/test_contract.py (loaded through SCHEMATHESIS_HOOKS): the two
rules the document states in words because JSON Schema cannot, kept by the generator.

An Idempotency-Key names one request: a second, different request under the same key is the
client's mistake, answered 422 `idempotency_key_reused` (test_orders.py and
test_factory_errors.py cover that). The generator cannot know this and reuses
short keys ("0") across different bodies, so every key it sends (header, or an error batch's
`batch_id`) is made unique here, keeping it exactly as valid or invalid as it was generated
(1 to 255 visible ASCII characters).

An order names a (file_path, placeholder) pair at most once, across its files (422 otherwise;
test_validation.py covers that). Schema-valid orders the generator draws often repeat one file
(the coverage phase sends the longest list as one item repeated), so in a valid case later
repeats of a pair are dropped (`uniqueItems` would say less and makes generation crawl)."""

from __future__ import annotations

import itertools
import re
import secrets

import schemathesis

_VALID_KEY = re.compile(r"[!-~]{1,255}")
_serial = itertools.count(1)
# Keys live as long as the Worker's D1 (24 h), which may have seen an earlier run.
_RUN = secrets.token_hex(4)


@schemathesis.hook
def map_case(ctx, case):
    """Only valid cases are touched: an invalid one is refused whatever its key, and an edit
    makes schemathesis re-judge a case (a "missing Authorization" case would then be sent
    with it)."""
    if not _is_positive(case):
        return case
    headers = case.headers or {}
    for name, value in headers.items():
        if name.lower() == "idempotency-key":
            headers[name] = _unique(value)
    if isinstance(case.body, dict):
        # An error batch's `batch_id` is its key when no header names one.
        if "batch_id" in case.body:
            case.body["batch_id"] = _unique(case.body["batch_id"])
        if isinstance(case.body.get("files"), list):
            case.body["files"] = _without_repeated_pairs(case.body["files"])
    return case


def _is_positive(case) -> bool:
    generation = getattr(case.meta, "generation", None)
    return getattr(getattr(generation, "mode", None), "value", None) == "positive"


def _without_repeated_pairs(files: list) -> list:
    seen: set[tuple[str, str]] = set()
    kept = []
    for item in files:
        if isinstance(item, dict) and isinstance(item.get("instructions"), dict):
            pairs = {(str(item.get("file_path")).lstrip("./"), name) for name in item["instructions"]}
            if pairs & seen:
                continue
            seen |= pairs
        kept.append(item)
    return kept


def _unique(key):
    if isinstance(key, str) and _VALID_KEY.fullmatch(key):
        return f"{_RUN}{next(_serial)}-{key}"[:255]
    return key
