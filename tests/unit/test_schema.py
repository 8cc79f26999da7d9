"""Schema changes with Notion's semantics, tested on the core without HTTP."""

from __future__ import annotations

import pytest

from devfactory.emulator.schema import (
    NUMBER_FORMATS,
    apply_properties,
    find_property,
    render_properties,
)
from devfactory.errors import NotionValidationError
from tests.unit.helpers import add_row, make_ctx, make_ds


def test_properties_render_in_order_with_ids() -> None:
    """Properties keep creation order; the title's id is "title"; others are short ids."""
    ctx = make_ctx()
    ds = make_ds(ctx, {"Name": {"title": {}}, "B": {"checkbox": {}}, "A": {"date": {}}})
    rendered = render_properties(ctx, ds)
    assert ["Name", "B", "A"] == list(rendered)
    assert "title" == rendered["Name"]["id"] and "title" != rendered["B"]["id"]


def test_renaming_rewrites_formulas() -> None:
    """A formula referring to a renamed property follows the new name."""
    ctx = make_ctx()
    ds = make_ds(
        ctx,
        {
            "Name": {"title": {}},
            "Budget": {"number": {}},
            "Margin": {"formula": {"expression": 'prop("Budget") * 2'}},
        },
    )
    with ctx.store.transaction():
        apply_properties(ctx, ds, {"Budget": {"name": "Amount"}}, "body.properties", creating=False)
    assert 'prop("Amount") * 2' == find_property(ds, "Margin")["config"]["expression"]


def test_formula_cycles_are_refused() -> None:
    """Formulas may use formulas, but not in a cycle."""
    ctx = make_ctx()
    ds = make_ds(ctx, {"Name": {"title": {}}, "A": {"formula": {"expression": "1"}}})
    with ctx.store.transaction():
        apply_properties(
            ctx,
            ds,
            {"B": {"formula": {"expression": 'prop("A") + 1'}}},
            "body.properties",
            creating=False,
        )
    with pytest.raises(NotionValidationError, match=r"cycle|itself"), ctx.store.transaction():
        apply_properties(
            ctx,
            ds,
            {"A": {"formula": {"expression": 'prop("B") + 1'}}},
            "body.properties",
            creating=False,
        )


def test_exactly_one_title() -> None:
    """A schema without a title, or with two, is refused."""
    ctx = make_ctx()
    with pytest.raises(NotionValidationError, match="Title property is missing"):
        make_ds(ctx, {"Text": {"rich_text": {}}})
    with pytest.raises(NotionValidationError):
        make_ds(ctx, {"A": {"title": {}}, "B": {"title": {}}})


def test_unique_id_backfills_existing_rows() -> None:
    """Adding a unique_id numbers existing rows in creation order, then continues."""
    ctx = make_ctx()
    ds = make_ds(ctx, {"Name": {"title": {}}})
    rows = [add_row(ctx, ds, {}) for _ in range(3)]
    with ctx.store.transaction():
        apply_properties(
            ctx, ds, {"Code": {"unique_id": {"prefix": "T"}}}, "body.properties", creating=False
        )
    pid = find_property(ds, "Code")["id"]
    assert [1, 2, 3] == [r.properties[pid] for r in rows]
    assert 4 == add_row(ctx, ds, {}).properties[pid]


def test_not_creatable_types_are_refused() -> None:
    """button and verification cannot be created, with a clear message."""
    ctx = make_ctx()
    ds = make_ds(ctx, {"Name": {"title": {}}})
    with pytest.raises(NotionValidationError, match="cannot be created"), ctx.store.transaction():
        apply_properties(ctx, ds, {"Go": {"button": {}}}, "body.properties", creating=False)


def test_bad_number_format() -> None:
    """Number formats come from Notion's list."""
    ctx = make_ctx()
    with pytest.raises(NotionValidationError, match="format"):
        make_ds(ctx, {"Name": {"title": {}}, "N": {"number": {"format": "bitcoin"}}})


def test_duplicate_option_names_are_refused() -> None:
    """An option set cannot name the same option twice."""
    ctx = make_ctx()
    with pytest.raises(NotionValidationError, match="Duplicate"):
        make_ds(
            ctx,
            {"Name": {"title": {}}, "S": {"select": {"options": [{"name": "x"}, {"name": "x"}]}}},
        )


@pytest.mark.parametrize("fmt", sorted(NUMBER_FORMATS))
def test_every_number_format_is_accepted(fmt: str) -> None:
    """All of Notion's number formats create and render."""
    ctx = make_ctx()
    ds = make_ds(ctx, {"Name": {"title": {}}, "N": {"number": {"format": fmt}}})
    assert {"format": fmt} == render_properties(ctx, ds)["N"]["number"]
