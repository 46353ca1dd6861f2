"""Permit sources: where hutch permits are read from."""
