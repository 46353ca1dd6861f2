"""Refusals in IPython: the spec's name, the message and the fix in a few lines, not a traceback.

:func:`~cora_bluesky.install` puts this in place when it runs inside IPython; the traceback
stays one command away (``%tb``).
"""

from __future__ import annotations

import logging
import sys
import textwrap
from typing import Any

from cora_bluesky.domain.errors import CoraError

def brief(refusal: CoraError, width: int = 100) -> str:
    """A refusal as a few lines: the spec's name, then the message (which carries the fix)."""
    body = "\n".join(
        textwrap.fill(paragraph, width=width, initial_indent="  ", subsequent_indent="  ")
        for paragraph in refusal.message.splitlines() if paragraph.strip()
    )
    facts = {key: value for key, value in refusal.data.items() if key not in {"problems"}}
    said = ", ".join(f"{k}={v}" for k, v in facts.items())
    extra = f"\n  ({textwrap.shorten(said, width=width - 4, placeholder=' ...')})" if facts else ""
    return f"{refusal.name} (refused by the record)\n{body}{extra}\n  %tb shows the traceback"


def show_refusals_briefly(shell: Any | None = None) -> bool:
    """Show :class:`CoraError` briefly in this IPython session; ``False`` outside IPython.

    Other custom exception handlers the session has are kept for their exceptions.
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    if CoraError in shell.custom_exceptions:  # installed on another RunEngine already
        return True
    previous, previous_types = shell.CustomTB, tuple(shell.custom_exceptions)

    def handler(self, etype, value, tb, tb_offset=None):
        if not isinstance(value, CoraError):
            return previous(etype, value, tb, tb_offset)  # another handler's exception, as before
        # IPython leaves these unset for a custom exception; %tb reads them
        sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
        if hasattr(sys, "last_exc") or sys.version_info >= (3, 12):
            sys.last_exc = value
        print(brief(value))
        return None

    shell.set_custom_exc((CoraError, *previous_types), handler)
    logging.getLogger("bluesky").addFilter(_brief_in_log)
    return True


def _brief_in_log(record: logging.LogRecord) -> bool:
    """The RunEngine logs a refused run's traceback ("Run aborted"); keep the line, drop the traceback."""
    failure = record.exc_info[1] if record.exc_info else None
    if isinstance(failure, CoraError):
        record.msg = f"{record.msg}: {failure.name}"
        record.exc_info, record.exc_text = None, None
    return True
