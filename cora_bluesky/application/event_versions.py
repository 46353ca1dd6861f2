"""The current version of each stored event type's shape, and the upcasters to it.

Every event type is at version 1 unless listed in :data:`VERSIONS`. To change the shape of an
event that streams already hold (rename or drop a field, change a unit), raise its version
here and add the upcaster from the previous version to :data:`UPCASTERS`: a function from a
stored payload (plain JSON data) of that version to the next. For example, renaming
``RunHeld.at`` to ``occurred_at``::

    VERSIONS = {"RunHeld": 2}
    UPCASTERS = {("RunHeld", 1): lambda old: {**{k: v for k, v in old.items() if k != "at"},
                                              "occurred_at": old["at"]}}

Streams are never rewritten: each event is upcast whenever it is read.
"""

from __future__ import annotations

from cora_bluesky.application.codec import Upcaster

VERSIONS: dict[str, int] = {}
UPCASTERS: dict[tuple[str, int], Upcaster] = {}
