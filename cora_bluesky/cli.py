"""The ``cora`` command."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Sequence


def _demo(args: argparse.Namespace) -> int:
    from cora_bluesky.demo import run_demo

    startup = Path(args.profile) / "startup"
    if not startup.is_dir():
        print(f"no profile at {args.profile}: run cora demo from the repository, or pass --profile", file=sys.stderr)
        return 2
    uri = args.uri
    if uri is None:
        from platformdirs import user_data_dir

        path = Path(user_data_dir("cora-bluesky")) / "demo.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):  # each demo tells its story on a fresh record
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        uri = f"sqlite:///{path}"
    run_demo(uri, startup.resolve())
    print(f"\nThe record is in {uri}")
    return 0


def _copy(args: argparse.Namespace) -> int:
    from cora_bluesky.application.copying import copy_record
    from cora_bluesky.storage import open_store, require_durable

    require_durable(args.target)
    source, target = open_store(args.source), open_store(args.target)
    try:
        copy_record(source, target, merge=args.merge, say=print)
    finally:
        source.close()
        target.close()
    return 0


def _rebuild_projections(args: argparse.Namespace) -> int:
    from cora_bluesky.application.rebuilding import rebuild_projections
    from cora_bluesky.storage import default_uri, open_store

    store = open_store(args.uri or default_uri())
    try:
        report = rebuild_projections(store, say=print)
    finally:
        store.close()
    for stream_id, why in report.failed:
        print(f"cannot fold {stream_id}: {why}", file=sys.stderr)
    print(
        f"rebuilt {report.rebuilt} projection(s), {report.current} already current, from {report.events}"
        f" events in {report.streams} streams; {len(report.failed)} stream(s) could not be folded"
    )
    return 1 if report.failed else 0


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``2h`` or ``1d``."""
    try:
        return timedelta(seconds=float(text[:-1]) * _UNITS[text[-1]])
    except (KeyError, ValueError, IndexError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 30m, 2h or 1d") from None


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; add one, for example +00:00")
    return value


def _stale(args: argparse.Namespace) -> int:
    import cora_bluesky

    with cora_bluesky.connect(args.uri) as record:
        stale = record.stale_runs(idle_for=args.older_than)
        if not stale:
            print(f"no open run has been idle for {args.older_than} or longer")
        for run, last_seen in stale:
            print(f"{run.id}  {run.status:8}  last seen {last_seen.isoformat()}  {run.name}")
            print(f"    cora runs truncate {run.id} --reason '...' --interrupted-at {last_seen.isoformat()}")
    return 0


def _key(api_key: str | None) -> dict[str, str]:
    return {"api_key": api_key} if api_key else {}


def _tiled(address: str, api_key: str | None) -> Any:
    """The Tiled client of the catalog at ``address`` (a databroker v2 catalog is one too)."""
    from tiled.client import from_uri

    return from_uri(address, **_key(api_key))


def _verify(args: argparse.Namespace) -> int:
    import cora_bluesky
    from cora_bluesky import console
    from cora_bluesky.catalogs import UriCatalog

    catalog = _tiled(args.catalog, args.api_key) if args.catalog else UriCatalog(**_key(args.api_key))
    with cora_bluesky.connect(args.uri, catalog=catalog) as record:
        lines, ok = console.verify_run(record, args.run)
    print("\n".join(lines))
    print("the catalog holds the documents the run recorded" if ok else "NOT VERIFIED")
    return 0 if ok else 1


def _import(args: argparse.Namespace) -> int:
    import cora_bluesky
    from cora_bluesky.importing import import_catalog, progress_bar

    try:
        catalog = _tiled(args.catalog, args.api_key)
    except ImportError:
        print("cora import reads Tiled or databroker catalogs: pip install 'cora-bluesky[data]'", file=sys.stderr)
        return 2
    except Exception as failure:  # an address that does not answer, a refused key
        print(f"RunDataUnreachable: {args.catalog} could not be opened: {failure}", file=sys.stderr)
        return 2
    bar = progress_bar()
    try:
        with cora_bluesky.connect(args.uri) as record:
            report = import_catalog(record, catalog, since=args.since, until=args.until, progress=bar)
    finally:
        bar.close()
    print("\n".join(report.lines()))
    return 2 if report.stopped else 1 if report.failed else 0


def _truncate(args: argparse.Namespace) -> int:
    import cora_bluesky

    with cora_bluesky.connect(args.uri) as record:
        run = record.truncate_run(args.run, reason=args.reason, interrupted_at=args.interrupted_at)
    print(f"{run.id} is Truncated: {run.last_reason}")
    return 0


def _record(args: argparse.Namespace) -> int:
    import cora_bluesky
    from cora_bluesky.callbacks.recorder import CoraRecorder
    from cora_bluesky.callbacks.spool import Spool
    from cora_bluesky.install import default_spool

    try:
        from bluesky.callbacks.zmq import RemoteDispatcher
    except ImportError as missing:  # pyzmq is the zmq extra
        print(f"cora record --zmq needs pyzmq: pip install 'cora-bluesky[zmq]' ({missing})", file=sys.stderr)
        return 2
    record = cora_bluesky.connect(args.uri)
    recorder = CoraRecorder(record, dataset_uri=args.dataset_uri, spool=Spool(args.spool or default_spool(record)))
    dispatcher = RemoteDispatcher(args.zmq)
    dispatcher.subscribe(recorder)
    print(f"recording documents from {args.zmq} into the record", flush=True)
    try:
        dispatcher.start()
    except KeyboardInterrupt:
        pass
    finally:
        recorder.close(60)
        record.close()
    return 0


def _permit(text: str) -> tuple[str, bool]:
    name, _, value = text.partition("=")
    if not name or value not in {"0", "1"}:
        raise argparse.ArgumentTypeError(f"{text!r} is not HUTCH=1 (permitted) or HUTCH=0")
    return name, value == "1"


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from cora_bluesky.server import create_app
    except ImportError as missing:
        print(f"cora serve needs the server extra: pip install 'cora-bluesky[server]' ({missing})", file=sys.stderr)
        return 2
    import cora_bluesky

    with cora_bluesky.connect(args.uri, permits=_permits(args)) as record:
        print(f"serving the record at http://{args.host}:{args.port}/docs", flush=True)
        uvicorn.run(create_app(record), host=args.host, port=args.port, log_level="warning")
    return 0


def _permits(args: argparse.Namespace) -> Any:
    import cora_bluesky

    if args.permit:  # fixed permits, for trials away from a PSS
        return cora_bluesky.StaticPermits(dict(args.permit))
    from cora_bluesky.gates.epics import EpicsPermits

    return EpicsPermits()


def _mcp(args: argparse.Namespace) -> int:
    try:
        from cora_bluesky.server.tools import serve_stdio
    except ImportError as missing:
        print(f"cora mcp needs the server extra: pip install 'cora-bluesky[server]' ({missing})", file=sys.stderr)
        return 2
    import cora_bluesky

    secret = os.environ.get("CORA_TOKEN")
    if not secret:
        print("cora mcp acts for the holder of $CORA_TOKEN; `cora token create` issues one", file=sys.stderr)
        return 2
    with cora_bluesky.connect(args.uri, permits=_permits(args)) as record:
        token = record.authenticate(secret)  # refuse at once rather than on every call
        print(f"serving the record's tools over stdio for {token.principal} ({token.role})", file=sys.stderr)
        serve_stdio(record, secret)
    return 0


def _token_create(args: argparse.Namespace) -> int:
    import cora_bluesky

    with cora_bluesky.connect(args.uri) as record:
        token, secret = record.issue_token(principal=args.principal, role=args.role, expires_at=args.expires_at)
    print(f"token {token.id} for {token.principal} ({token.role}); shown once, keep it secret:", file=sys.stderr)
    print(secret)
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    import cora_bluesky

    with cora_bluesky.connect(args.uri) as record:
        token = record.revoke_token(args.token_id)
    print(f"token {token.id} of {token.principal} is revoked")
    return 0


def _token_list(args: argparse.Namespace) -> int:
    import cora_bluesky

    from cora_bluesky.application.ports import every

    with cora_bluesky.connect(args.uri) as record:
        for token in every(record.list_tokens):
            print(f"{token.id}  {token.status:7}  {token.role:8}  {token.principal}")
    return 0


def _listing(kind: str):
    def handler(args: argparse.Namespace) -> int:
        import cora_bluesky
        from cora_bluesky import console

        filters = {key: getattr(args, key) for key in ("status", "plan_id", "subject_id", "created_from",
                                                         "created_before", "start_uid", "scan_id", "external_ref")
                   if getattr(args, key, None) is not None}
        with cora_bluesky.connect(args.uri) as record:
            listing = getattr(record, f"list_{kind}s")
            page = listing(limit=args.limit, cursor=args.cursor, **filters)
            line = getattr(console, f"{kind}_line")
            for item in page.items:
                print(line(item))
            if not page.items:
                print(f"no {kind}s")
            if page.next:
                print(f"more: --cursor {page.next}")
        return 0

    return handler


def _showing(kind: str):
    def handler(args: argparse.Namespace) -> int:
        import cora_bluesky
        from cora_bluesky import console

        with cora_bluesky.connect(args.uri) as record:
            print("\n".join(getattr(console, f"show_{kind}")(record, args.id)))
        return 0

    return handler


def _model(args: argparse.Namespace) -> int:
    import cora_bluesky
    from cora_bluesky.application.beamline import apply_model, diff_model
    from cora_bluesky.application.beamline_model import read_model

    substitutions = dict(args.substitute or [])
    model = read_model(args.file, substitutions=substitutions)
    with cora_bluesky.connect(args.uri) as record:
        if args.verb == "diff":
            changes = diff_model(record, model, source=args.file)
            for change in changes:
                print(change)
            recorded = sum(1 for change in changes if change.recorded)
            print(f"{recorded} change(s) to record" + (f"; apply with: cora model apply {args.file}" if recorded else ""))
            return 0
        apply_model(record, model, source=args.file, say=lambda change: print(change, flush=True))
        print("the record matches the model")
    return 0


def _substitution(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE (for ${{NAME}} in PV names)")
    return name, value


def _uri_option(parser: argparse.ArgumentParser) -> None:
    """``--uri`` after a subcommand too; it overrides the global one only when given."""
    parser.add_argument("--uri", default=argparse.SUPPRESS, help="record URI (default: $CORA_URI or the user's record)")


def main(argv: Sequence[str] | None = None) -> int:
    from cora_bluesky import __version__

    parser = argparse.ArgumentParser(prog="cora", description="cora-bluesky: the beamline's system of record")
    parser.add_argument("--version", action="version", version=f"cora-bluesky {__version__}")
    parser.add_argument("--uri", help="record URI for every command (default: $CORA_URI, else the user's record)")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="tell a simulated 2-BM session through the record")
    demo.add_argument("--uri", default=argparse.SUPPRESS,
                      help="record URI (default: a fresh SQLite file in the user's data directory)")
    demo.add_argument("--profile", default="profile_collection", help="the beamline profile (default: ./profile_collection)")
    demo.set_defaults(handler=_demo)
    copy = commands.add_parser("copy", help="copy a whole record to another store, ids and timestamps kept")
    copy.add_argument("source", help="URI of the record to copy")
    copy.add_argument("target", help="URI of the store to copy into")
    copy.add_argument("--merge", action="store_true", help="copy into a target that already holds a record")
    copy.set_defaults(handler=_copy)
    rebuild = commands.add_parser("rebuild-projections", help="rebuild every projection row from the event streams")
    rebuild.add_argument("--uri", help="record URI (default: $CORA_URI or the user's record)")
    rebuild.set_defaults(handler=_rebuild_projections)
    runs = commands.add_parser("runs", help="inspect and close runs").add_subparsers(dest="verb", required=True)
    for kind, statuses in (("run", "Running, Held, Completed, Aborted, Stopped, Truncated"),
                           ("procedure", "Registered, Running, Completed, Aborted, Truncated"),
                           ("clearance", "Defined, Submitted, UnderReview, Approved, Active, Expired, ...")):
        verbs = runs if kind == "run" else commands.add_parser(
            f"{kind}s", help=f"inspect {kind}s").add_subparsers(dest="verb", required=True)
        listing = verbs.add_parser("list", help=f"list {kind}s, newest first (the REST list's filters)")
        listing.add_argument("--status", help=statuses)
        if kind == "run":
            listing.add_argument("--plan-id", dest="plan_id")
            listing.add_argument("--subject-id", dest="subject_id")
            listing.add_argument("--start-uid", dest="start_uid", help="holding this Bluesky run")
            listing.add_argument("--scan-id", dest="scan_id", type=int, help="holding a Bluesky run of this scan_id")
            listing.add_argument("--external-ref", dest="external_ref", help="carrying this reference (scheme:id)")
        if kind != "clearance":
            listing.add_argument("--created-from", dest="created_from", type=_instant, help="ISO 8601 with a zone")
            listing.add_argument("--created-before", dest="created_before", type=_instant, help="ISO 8601 with a zone")
        listing.add_argument("--limit", type=int, default=50, help="at most this many (1-500, default 50)")
        listing.add_argument("--cursor", help="the cursor a previous page printed")
        _uri_option(listing)
        listing.set_defaults(handler=_listing(kind))
        show = verbs.add_parser("show", help=f"a {kind}'s timeline and what it left")
        show.add_argument("id", help=f"the {kind} id")
        _uri_option(show)
        show.set_defaults(handler=_showing(kind))
    model = commands.add_parser("model", help="reconcile the record with a beamline model file").add_subparsers(
        dest="verb", required=True)
    for verb, said in (("diff", "show what the file would change in the record"),
                       ("apply", "record what the file changes (named events; nothing recorded is rewritten)")):
        step = model.add_parser(verb, help=said)
        step.add_argument("file", help="the beamline model (TOML)")
        step.add_argument("--substitute", type=_substitution, action="append", metavar="NAME=VALUE",
                          help="a value for ${NAME} in PV names (repeat)")
        _uri_option(step)
        step.set_defaults(handler=_model)
    verify = runs.add_parser("verify", help="check that the catalog still holds the documents the run recorded")
    verify.add_argument("run", help="the run id")
    verify.add_argument("--catalog", help="the Tiled address of the catalog (default: each link's own address)")
    verify.add_argument("--api-key", default=os.environ.get("TILED_API_KEY"),
                        help="the catalog's API key (default: $TILED_API_KEY)")
    _uri_option(verify)
    verify.set_defaults(handler=_verify)
    stale = runs.add_parser("stale", help="list open runs with no recorded activity for a while")
    stale.add_argument("--older-than", type=_duration, default=timedelta(hours=2), help="idle time (default 2h)")
    _uri_option(stale)
    stale.set_defaults(handler=_stale)
    truncate = runs.add_parser("truncate", help="close a run that died unwatched")
    truncate.add_argument("run", help="the run id")
    truncate.add_argument("--reason", required=True, help="what happened, in a sentence")
    truncate.add_argument("--interrupted-at", type=_instant, help="best guess of when it really stopped")
    _uri_option(truncate)
    truncate.set_defaults(handler=_truncate)
    importing = commands.add_parser(
        "import", help="bring a catalog's Bluesky runs in as imported runs (resumable; skips what it holds)")
    importing.add_argument("catalog", help="the Tiled address of the catalog (Tiled, or databroker v2 served by Tiled)")
    importing.add_argument("--since", type=_instant, help="only runs that started at or after (zoned ISO 8601)")
    importing.add_argument("--until", type=_instant, help="only runs that started before (zoned ISO 8601)")
    importing.add_argument("--api-key", default=os.environ.get("TILED_API_KEY"),
                           help="the catalog's API key (default: $TILED_API_KEY)")
    _uri_option(importing)
    importing.set_defaults(handler=_import)
    recording = commands.add_parser("record", help="fold documents from a Bluesky 0MQ proxy into the record")
    recording.add_argument("--zmq", required=True, help="the proxy's outbound HOST:PORT")
    _uri_option(recording)
    recording.add_argument("--spool", help="spool folder (default: one per record in the user's data directory)")
    recording.add_argument("--dataset-uri", default="bluesky://run/{uid}", help="how a run is resolved, with {uid}")
    recording.set_defaults(handler=_record)
    serve = commands.add_parser("serve", help="serve the record over HTTP (REST, bearer tokens)")
    _uri_option(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--permit", type=_permit, action="append", metavar="HUTCH=0|1",
        help="fixed hutch permits instead of reading the PSS over EPICS (trials only; repeat per hutch)",
    )
    serve.set_defaults(handler=_serve)
    tools = commands.add_parser("mcp", help="serve the record's MCP tools over stdio, acting for $CORA_TOKEN")
    tools.add_argument("--uri", help="record URI (default: $CORA_URI or the user's record)")
    tools.add_argument(
        "--permit", type=_permit, action="append", metavar="HUTCH=0|1",
        help="fixed hutch permits instead of reading the PSS over EPICS (trials only; repeat per hutch)",
    )
    tools.set_defaults(handler=_mcp)
    token = commands.add_parser("token", help="bearer tokens of the record server").add_subparsers(
        dest="verb", required=True
    )
    issue = token.add_parser("create", help="issue a token and print it once")
    issue.add_argument("--principal", required=True, help="who the token acts for")
    issue.add_argument("--role", required=True, choices=["viewer", "operator", "safety", "admin"])
    issue.add_argument("--expires-at", type=_instant, help="when the token stops working (zoned ISO 8601)")
    _uri_option(issue)
    issue.set_defaults(handler=_token_create)
    revoke = token.add_parser("revoke", help="revoke a token")
    revoke.add_argument("token_id", help="the token's id (not its secret)")
    _uri_option(revoke)
    revoke.set_defaults(handler=_token_revoke)
    listing = token.add_parser("list", help="list tokens (never their secrets)")
    _uri_option(listing)
    listing.set_defaults(handler=_token_list)
    from cora_bluesky.principal_cli import add_commands

    add_commands(commands)
    args = parser.parse_args(argv)
    from cora_bluesky.domain.errors import CoraError

    try:
        return args.handler(args)
    except CoraError as refusal:
        print(f"{type(refusal).__name__}: {refusal.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
