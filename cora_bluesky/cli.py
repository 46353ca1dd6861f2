"""The ``cora`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence


def _demo(args: argparse.Namespace) -> int:
    import cora_bluesky
    from cora_bluesky.demo import run_demo

    uri = args.uri
    if uri is None:
        from platformdirs import user_data_dir

        path = Path(user_data_dir("cora-bluesky")) / "demo.db"
        for suffix in ("", "-wal", "-shm"):  # each demo tells its story on a fresh record
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        uri = f"sqlite:///{path}"
    permits = cora_bluesky.StaticPermits({"2-BM-A": True, "2-BM-B": False})
    with cora_bluesky.connect(uri, permits=permits, principal="demo") as record:
        run_demo(record, permits)
    print(f"\nThe record is in {uri}")
    return 0


def _copy(args: argparse.Namespace) -> int:
    from cora_bluesky.application.copying import copy_record
    from cora_bluesky.storage import open_store

    source, target = open_store(args.source), open_store(args.target)
    try:
        copy_record(source, target, merge=args.merge, say=print)
    finally:
        source.close()
        target.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cora", description="cora-bluesky: the beamline's system of record")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="tell a simulated 2-BM session through the record")
    demo.add_argument("--uri", help="record URI (default: a fresh SQLite file in the user's data directory)")
    demo.set_defaults(handler=_demo)
    copy = commands.add_parser("copy", help="copy a whole record to another store, ids and timestamps kept")
    copy.add_argument("source", help="URI of the record to copy")
    copy.add_argument("target", help="URI of the store to copy into")
    copy.add_argument("--merge", action="store_true", help="copy into a target that already holds a record")
    copy.set_defaults(handler=_copy)
    args = parser.parse_args(argv)
    from cora_bluesky.domain.errors import CoraError

    try:
        return args.handler(args)
    except CoraError as refusal:
        print(f"{type(refusal).__name__}: {refusal.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
