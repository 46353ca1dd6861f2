"""The record server (needs the ``server`` extra): :func:`create_app` over a Record."""

from cora_bluesky.server.app import create_app

__all__ = ["create_app"]
