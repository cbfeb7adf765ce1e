"""An example body for every schema of the OpenAPI document.

Swagger UI (`/schema`) and generated clients show these for each request and answer. They live
in one place, keyed by the struct they illustrate, and `SchemaExamples` (an OpenAPI schema
plugin, wired in app.server) puts each on its struct's schema. Every example is decoded into
its struct by tests/docs/test_openapi_document.py, so one that no longer fits fails there, and
a new struct without an example fails there too.
"""

from __future__ import annotations

from typing import Any

from app.examples.ai_sdk import AI_SDK_EXAMPLES
from app.examples.native import NATIVE_EXAMPLES
from app.examples.plugin import SchemaExamples
from app.examples.v1 import V1_EXAMPLES

__all__ = ["EXAMPLES", "SchemaExamples", "schema_examples"]

EXAMPLES: dict[type, Any] = {**NATIVE_EXAMPLES, **V1_EXAMPLES, **AI_SDK_EXAMPLES}


def schema_examples() -> SchemaExamples:
    """The plugin, with every example."""
    return SchemaExamples(EXAMPLES)
