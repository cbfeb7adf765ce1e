"""The OpenAPI schema plugin that gives each listed struct's schema its example body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from litestar.plugins import OpenAPISchemaPlugin

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition

__all__ = ["SchemaExamples"]


class SchemaExamples(OpenAPISchemaPlugin):
    """Adds `examples: [example]` to the component schema of every type in `examples`.

    Litestar builds the schema of a msgspec struct itself (its struct plugin) and offers no
    place for a whole-object example: `msgspec.Meta(examples=...)` reaches a field, and
    `ResponseSpec(examples=...)` one answer of one route. This plugin must come before
    Litestar's own (a plugin passed to `Litestar(plugins=...)` does): it claims the listed types,
    lets the next plugin that supports the type build the schema as usual, and adds the
    example, so every route that sends or takes the type shows it."""

    def __init__(self, examples: Mapping[type, Any]) -> None:
        self.examples = examples

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return not field_definition.is_union and field_definition.annotation in self.examples

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        builder = next(
            (
                plugin
                for plugin in schema_creator.plugins
                if plugin is not self and schema_creator.plugin_supports_field(plugin, field_definition)
            ),
            None,
        )
        if builder is None:
            raise TypeError(f"no OpenAPI schema plugin builds {field_definition.annotation!r}")
        schema = builder.to_openapi_schema(field_definition=field_definition, schema_creator=schema_creator)
        schema.examples = [self.examples[field_definition.annotation]]
        return schema
