"""The JSON Schema of a spec file, for editors (autocompletion and squiggles while typing).

Generated from the pydantic model, with the short forms the model accepts before validation
added: ``Name: title`` for a property, ``[Active, Prospect]`` for options. The committed copy
is ``docs/spec.schema.json``; regenerate it with::

    python -m devfactory.spec.jsonschema > docs/spec.schema.json

and point an editor at it, e.g. with a first line of
``# yaml-language-server: $schema=../../docs/spec.schema.json``. The schema checks shapes
only: relations, rollups, formulas and seed rows are checked by ``devfactory validate``.
"""

from __future__ import annotations

import json
from typing import Any

from devfactory.spec.model import Spec
from devfactory.spec.validate import PROPERTY_TYPES

__all__ = ["SCHEMA_ID", "render_spec_json_schema", "spec_json_schema"]

SCHEMA_ID = "urn:devfactory:spec:v1"
"""The schema's ``$id``: a name, not a download location."""

_OPTION_REF = {"$ref": "#/$defs/Option"}


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a spec file, keys by their YAML names."""
    generated = Spec.model_json_schema(by_alias=True, mode="validation")
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "devfactory workspace spec",
        "description": (
            "A Notion workspace as code: databases, their properties and seed rows. "
            "See docs/spec.md."
        ),
    }
    schema.update(
        {key: value for key, value in generated.items() if key not in ("title", "description")}
    )
    properties = schema["$defs"]["DatabaseSpec"]["properties"]["properties"]
    properties["additionalProperties"] = {
        "anyOf": [
            {
                "type": "string",
                "enum": list(PROPERTY_TYPES),
                "description": "Short form: just the type.",
            },
            properties["additionalProperties"],
        ]
    }
    result: dict[str, Any] = _with_short_options(schema)
    return result


def render_spec_json_schema() -> str:
    """:func:`spec_json_schema` as the text of ``docs/spec.schema.json``."""
    return json.dumps(spec_json_schema(), indent=2, ensure_ascii=False) + "\n"


def _with_short_options(node: Any) -> Any:
    """``node`` with every reference to an option also accepting a plain option name."""
    if node == _OPTION_REF:
        return {"anyOf": [{"type": "string", "description": "Short form: the option name."}, node]}
    if isinstance(node, dict):
        return {key: _with_short_options(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_with_short_options(value) for value in node]
    return node


if __name__ == "__main__":  # pragma: no cover - the regeneration command in the docstring
    print(render_spec_json_schema(), end="")
