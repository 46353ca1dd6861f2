"""JSON Schema checks for Method parameter schemas, built on ``jsonschema``."""

from __future__ import annotations

import functools
import json
from typing import Any, Mapping

import jsonschema
from jsonschema.validators import validator_for

from cora_bluesky.domain.values import ParameterCheck


def schema_problems(schema: Mapping[str, Any]) -> tuple[str, ...]:
    """Why ``schema`` is not a valid JSON Schema (empty when it is)."""
    try:
        validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
    except jsonschema.SchemaError as error:
        return (error.message,)
    return ()


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    return validator_for(schema, default=jsonschema.Draft202012Validator)(schema)


def parameter_check(schema: Mapping[str, Any] | None) -> ParameterCheck | None:
    """A checker for a Method's schema, or ``None`` when the Method declares none."""
    if schema is None:
        return None
    validator = _validator(json.dumps(schema, sort_keys=True))

    def check(parameters: Mapping[str, Any]) -> tuple[str, ...]:
        errors = sorted(validator.iter_errors(parameters), key=lambda err: list(err.absolute_path))
        return tuple(
            f"{'/'.join(map(str, err.absolute_path)) or '(root)'}: {err.message}" for err in errors
        )

    return check
