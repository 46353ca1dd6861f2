"""RFC 7396 JSON Merge Patch, the one merge used for plan defaults and adjustments."""

from __future__ import annotations

import copy
from typing import Any, Mapping


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply ``patch`` to ``target`` as RFC 7396 describes, without mutating either.

    A ``None`` member removes the key; an object merges recursively; any other value
    (including an array) replaces what was there.
    """
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
