"""The workspace spec: what a Notion workspace should look like, as pydantic models.

A spec file (``apiVersion: devfactory/v1``) declares databases by logical key, their
properties (every creatable Notion property type) and optional seed rows. The models check
types and shapes; :mod:`devfactory.spec.validate` checks what needs the whole spec
(relation targets, rollup paths, one title per database, formula references).

Property short form: ``Name: title`` is the same as ``Name: {type: title}``; select options
may be plain names (``[Active, Prospect]``) or ``{name, color, description}``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

__all__ = [
    "API_VERSION",
    "COLORS",
    "NUMBER_FORMATS",
    "ROLLUP_FUNCTIONS",
    "SIMPLE_TYPES",
    "DatabaseSpec",
    "FormulaProperty",
    "NumberProperty",
    "Option",
    "ParentSpec",
    "PropertySpec",
    "RelationProperty",
    "RollupProperty",
    "RowValue",
    "SelectProperty",
    "SimpleProperty",
    "Spec",
    "StatusProperty",
    "UniqueIdProperty",
]

API_VERSION = "devfactory/v1"
COLORS = ("default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red")
Color = Literal[
    "default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red"
]
NUMBER_FORMATS = (
    "number", "number_with_commas", "percent", "dollar", "australian_dollar", "canadian_dollar",
    "singapore_dollar", "euro", "pound", "yen", "ruble", "rupee", "won", "yuan", "real", "lira",
    "rupiah", "franc", "hong_kong_dollar", "new_zealand_dollar", "krona", "norwegian_krone",
    "mexican_peso", "rand", "new_taiwan_dollar", "danish_krone", "zloty", "baht", "forint",
    "koruna", "shekel", "chilean_peso", "philippine_peso", "dirham", "colombian_peso", "riyal",
    "ringgit", "leu", "argentine_peso", "uruguayan_peso", "peruvian_sol",
)  # fmt: skip
NumberFormat = Literal[
    "number", "number_with_commas", "percent", "dollar", "australian_dollar", "canadian_dollar",
    "singapore_dollar", "euro", "pound", "yen", "ruble", "rupee", "won", "yuan", "real", "lira",
    "rupiah", "franc", "hong_kong_dollar", "new_zealand_dollar", "krona", "norwegian_krone",
    "mexican_peso", "rand", "new_taiwan_dollar", "danish_krone", "zloty", "baht", "forint",
    "koruna", "shekel", "chilean_peso", "philippine_peso", "dirham", "colombian_peso", "riyal",
    "ringgit", "leu", "argentine_peso", "uruguayan_peso", "peruvian_sol",
]  # fmt: skip
ROLLUP_FUNCTIONS = (
    "count", "count_values", "empty", "not_empty", "unique", "show_unique", "percent_empty",
    "percent_not_empty", "sum", "average", "median", "min", "max", "range", "earliest_date",
    "latest_date", "date_range", "checked", "unchecked", "percent_checked", "percent_unchecked",
    "count_per_group", "percent_per_group", "show_original",
)  # fmt: skip
RollupFunction = Literal[
    "count", "count_values", "empty", "not_empty", "unique", "show_unique", "percent_empty",
    "percent_not_empty", "sum", "average", "median", "min", "max", "range", "earliest_date",
    "latest_date", "date_range", "checked", "unchecked", "percent_checked", "percent_unchecked",
    "count_per_group", "percent_per_group", "show_original",
]  # fmt: skip
SIMPLE_TYPES = (
    "title", "rich_text", "date", "people", "files", "checkbox", "url", "email", "phone_number",
    "created_time", "created_by", "last_edited_time", "last_edited_by",
)  # fmt: skip
SimpleType = Literal[
    "title", "rich_text", "date", "people", "files", "checkbox", "url", "email", "phone_number",
    "created_time", "created_by", "last_edited_time", "last_edited_by",
]  # fmt: skip

KEY_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
NAME_MAX = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _option(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class Option(_Strict):
    """A select, multi_select or status option: a name, optionally a colour and description."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    color: Color | None = None
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _no_commas(cls, value: str) -> str:
        if "," in value:
            raise ValueError("option names cannot contain commas (Notion refuses them)")
        return value


OptionItem = Annotated[Option, BeforeValidator(_option)]


class _PropertyBase(_Strict):
    description: str | None = Field(default=None, max_length=NAME_MAX)
    renamed_from: list[Annotated[str, Field(min_length=1, max_length=NAME_MAX)]] = Field(
        default_factory=list,
        description="Earlier names of this property: a rename in place, never drop-and-add.",
    )


class SimpleProperty(_PropertyBase):
    """A property type with no settings (title, rich_text, date, people, checkbox, …)."""

    type: SimpleType


class NumberProperty(_PropertyBase):
    """A number with one of Notion's display formats."""

    type: Literal["number"]
    format: NumberFormat = "number"


class SelectProperty(_PropertyBase):
    """A select or multi_select: its options are the whole option set."""

    type: Literal["select", "multi_select"]
    options: list[OptionItem] = Field(default_factory=list)


class StatusProperty(_PropertyBase):
    """A status; without options Notion's defaults (Not started, In progress, Done)."""

    type: Literal["status"]
    options: list[OptionItem] | None = None


class FormulaProperty(_PropertyBase):
    """A formula over other properties of the same database."""

    type: Literal["formula"]
    expression: Annotated[str, Field(min_length=1, max_length=10_000)]


class RelationProperty(_PropertyBase):
    """A relation to another database (by its key); ``synced_as`` makes it two-way and
    names the property it creates on the other side."""

    type: Literal["relation"]
    to: Annotated[str, Field(pattern=KEY_PATTERN)]
    synced_as: Annotated[str, Field(min_length=1, max_length=NAME_MAX)] | None = None
    dual: bool | None = Field(
        default=None,
        description="Two-way without naming the other side (Notion names it). Implied by synced_as.",
    )

    @property
    def is_dual(self) -> bool:
        """Whether the relation is two-way."""
        return self.synced_as is not None or bool(self.dual)


class RollupProperty(_PropertyBase):
    """A rollup: a function over ``property`` of the rows a ``relation`` of this database links."""

    type: Literal["rollup"]
    relation: Annotated[str, Field(min_length=1)]
    property: Annotated[str, Field(min_length=1)]
    function: RollupFunction


class UniqueIdProperty(_PropertyBase):
    """An auto-incrementing id, optionally with a prefix (``PRJ-12``)."""

    type: Literal["unique_id"]
    prefix: Annotated[str, Field(min_length=1, max_length=100)] | None = None


PropertySpec = Annotated[
    SimpleProperty
    | NumberProperty
    | SelectProperty
    | StatusProperty
    | FormulaProperty
    | RelationProperty
    | RollupProperty
    | UniqueIdProperty,
    Field(discriminator="type"),
]


def _short_property(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


PropertyItem = Annotated[PropertySpec, BeforeValidator(_short_property)]
DateValue = dict[str, str | None]
RowValue = str | int | float | bool | None | list[str] | DateValue


class ParentSpec(_Strict):
    """Where the databases live: a page the integration can write under."""

    page_id: Annotated[str, Field(min_length=32, max_length=36)]

    @field_validator("page_id")
    @classmethod
    def _page_id(cls, value: str) -> str:
        if not re.fullmatch(
            r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
            value,
        ):
            raise ValueError("should be a Notion page id (32 hex digits, dashes optional)")
        return value


class DatabaseSpec(_Strict):
    """One database (with one data source): title, looks, properties, seed rows."""

    title: Annotated[str, Field(min_length=1, max_length=2000)]
    icon: Annotated[str, Field(min_length=1, max_length=2000)] | None = Field(
        default=None, description="An emoji, or an https:// image URL."
    )
    description: Annotated[str, Field(max_length=2000)] | None = None
    protect: bool = Field(default=False, description="Refuse destructive changes to this database.")
    inline: bool = False
    properties: dict[Annotated[str, Field(min_length=1, max_length=NAME_MAX)], PropertyItem]
    rows: list[dict[str, RowValue]] = Field(
        default_factory=list, description="Seed rows, upserted by title; relations by target title."
    )


class Spec(_Strict):
    """A whole workspace."""

    api_version: Literal["devfactory/v1"] = Field(alias="apiVersion")
    workspace: Annotated[str, Field(pattern=KEY_PATTERN)]
    parent: ParentSpec | None = None
    databases: dict[Annotated[str, Field(pattern=KEY_PATTERN)], DatabaseSpec]
    environments: dict[Annotated[str, Field(pattern=KEY_PATTERN)], dict[str, Any]] = Field(
        default_factory=dict,
        description="Overlays by environment name, deep-merged over the rest (maps merge, lists replace).",
    )
    rules: list[str] = Field(
        default_factory=list,
        description="Python files with custom validation rules, relative to the spec.",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
