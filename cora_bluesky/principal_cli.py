"""``cora principal``: the record's principals from the console, which acts as the login name."""

from __future__ import annotations

import argparse
from typing import Any

ROLES = ["viewer", "operator", "safety", "admin"]


def _connect(args: argparse.Namespace) -> Any:
    import cora_bluesky

    return cora_bluesky.connect(args.uri, principal=args.acting_as)


def _show(principal: Any) -> str:
    return f"{principal.id}  {', '.join(principal.roles) or '(no roles)'}"


def _bootstrap(args: argparse.Namespace) -> int:
    with _connect(args) as record:
        principal = record.bootstrap(roles=["admin", *args.role])
    print(f"first administrator of this record: {_show(principal)}")
    return 0


def _register(args: argparse.Namespace) -> int:
    with _connect(args) as record:
        principal = record.register_principal(principal_id=args.name, roles=args.role)
    print(f"registered {_show(principal)}")
    return 0


def _roles(args: argparse.Namespace) -> int:
    with _connect(args) as record:
        principal = record.change_principal_roles(args.name, roles=args.role)
    print(f"{_show(principal)}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from cora_bluesky.application.ports import every

    with _connect(args) as record:
        for principal in every(record.list_principals):
            print(_show(principal))
    return 0


def add_commands(commands: Any) -> None:
    """Add ``cora principal bootstrap|register|roles|list`` to the console's commands."""
    verbs = commands.add_parser("principal", help="who may act on the record, with which roles").add_subparsers(
        dest="verb", required=True
    )

    def verb(name: str, handler: Any, help: str) -> argparse.ArgumentParser:
        parser = verbs.add_parser(name, help=help)
        parser.add_argument("--uri", default=argparse.SUPPRESS, help="record URI (default: $CORA_URI or the user's record)")
        parser.add_argument(
            "--as", dest="acting_as", metavar="NAME", help="act as this principal (default: the login name)"
        )
        parser.set_defaults(handler=handler)
        return parser

    first = verb("bootstrap", _bootstrap, "make the acting principal the first administrator of an empty record")
    first.add_argument("--role", action="append", default=[], choices=["viewer", "operator"],
                       help="a further role to hold besides admin (repeat)")
    register = verb("register", _register, "register a principal with its roles (administrators)")
    register.add_argument("name", help="the principal's name (a login name, say)")
    register.add_argument("--role", action="append", default=[], choices=ROLES, help="a role to hold (repeat)")
    roles = verb("roles", _roles, "give a principal exactly these roles; none retires it (administrators)")
    roles.add_argument("name", help="the principal's name")
    roles.add_argument("--role", action="append", default=[], choices=ROLES, help="a role to hold (repeat)")
    verb("list", _list, "list principals and their roles")
