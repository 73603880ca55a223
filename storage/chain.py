"""The hash chain of the audit trail, pure functions (no database): what an entry seals and how it is hashed.

An entry's `data` is what happened, personal values included. Its `sealed` form is the same data with each
personal value (what the client said, what was typed about him, his contract numbers) replaced by an
HMAC-SHA256 of the value keyed with a secret of that client: the chain covers the sealed form only, so the
RGPD erase can replace `data` by `sealed` and destroy the secret while every hash still verifies.

    hash(n) = SHA-256(hash(n-1) + "\n" + canonical JSON of {seq, case_id, client_id, at, actor, event, sealed})

The first entry of a chain has an empty previous hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

MARK = "hmac:"
# Keys whose value can hold client text or identify him, at any depth of an entry's data.
PERSONAL_KEYS = frozenset({
    "old_value", "new_value", "previous_value", "text", "note", "reason", "piece", "recovery", "wording",
    "changes", "contract", "contracts",
})
# Events whose "reason" is one of our codes (a close reason, why an erase ran), not text about the client.
CODED_REASON_EVENTS = frozenset({"case_closed", "client_erased"})


def canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def mac(secret: str, value: Any) -> str:
    """The HMAC that stands for `value` in the sealed data."""
    digest = hmac.new(bytes.fromhex(secret), canonical(value).encode("utf-8"), hashlib.sha256).hexdigest()
    return MARK + digest


def is_personal(key: str, value: Any, event: str) -> bool:
    """Whether `value`, found under `key` in the data of an `event`, is replaced by its HMAC when sealed."""
    if key not in PERSONAL_KEYS or value in (None, "", [], {}):
        return False
    return not (key == "reason" and event in CODED_REASON_EVENTS)


def has_personal(data: Any, event: str) -> bool:
    """Whether sealing `data` would replace anything (so the client needs a secret)."""
    if isinstance(data, dict):
        return any(is_personal(k, v, event) or has_personal(v, event) for k, v in data.items())
    return isinstance(data, list) and any(has_personal(v, event) for v in data)


def seal(data: Any, secret: str | None, event: str) -> Any:
    """`data` with each personal value replaced by its HMAC; unchanged without a secret (an entry that names
    no client, or a client already erased)."""
    if secret is None:
        return data
    if isinstance(data, dict):
        return {k: mac(secret, v) if is_personal(k, v, event) else seal(v, secret, event) for k, v in data.items()}
    if isinstance(data, list):
        return [seal(v, secret, event) for v in data]
    return data


def entry_hash(previous: str | None, *, seq: int, case_id: int | None, client_id: int | None, at: datetime,
               actor: str, event: str, sealed: Any) -> str:
    content = canonical({
        "seq": seq, "case_id": case_id, "client_id": client_id,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"), "actor": actor, "event": event,
        "sealed": sealed,
    })
    return hashlib.sha256(f"{previous or ''}\n{content}".encode()).hexdigest()
