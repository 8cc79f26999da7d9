"""Tests for spec validation: model errors with places, semantic checks, rules plugins, schema."""

# Asserts put the expected value first (structlog style), which SIM300 calls a Yoda condition.

from __future__ import annotations

import json
import sys
import textwrap
import types
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from devfactory.errors import SpecError
from devfactory.spec.jsonschema import render_spec_json_schema, spec_json_schema
from devfactory.spec.load import load_spec_data
from devfactory.spec.model import Spec
from devfactory.spec.rules import RuleViolation, named_rule, rule
from devfactory.spec.validate import (
    PROPERTY_TYPES,
    back_properties,
    load_and_validate,
    validate_spec,
)

ROOT = Path(__file__).parents[2]
HEAD = "apiVersion: devfactory/v1\nworkspace: test\n"

CLIENTS_AND_PROJECTS = """\
apiVersion: devfactory/v1
workspace: consulting
databases:
  clients:
    title: Clients
    protect: true
    properties:
      Name: title
      Status: {type: select, options: [Active, Prospect, {name: Archived, color: gray}]}
      Active Projects: {type: rollup, relation: Projects, property: Status, function: count}
    rows:
      - {Name: Acme Corp, Status: Active}
  projects:
    title: Pipeline Projects
    properties:
      Name: title
      Client: {type: relation, to: clients, synced_as: Projects}
      Budget: {type: number, format: dollar}
      Code: {type: unique_id, prefix: PRJ}
      Margin: {type: formula, expression: 'prop("Budget") * 0.2'}
      Status: {type: status, renamed_from: [Stage]}
    rows:
      - {Name: ERP, Client: Acme Corp, Budget: 1000, Status: In progress}
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test works in its own directory, so locations read ``spec.yaml:…``."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _no_installed_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rules that happen to be installed in the environment do not leak into tests."""
    monkeypatch.setattr(metadata, "entry_points", lambda group: [])


def write(name: str, text: str) -> Path:
    """Write dedented ``text`` to ``name`` in the current directory."""
    path = Path(name)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def database(body: str, *, key: str = "things", title: str = "Things") -> str:
    """A spec with one database whose indented ``body`` follows ``title:``."""
    indented = textwrap.indent(textwrap.dedent(body), "    ")
    return f"{HEAD}databases:\n  {key}:\n    title: {title}\n{indented}"


def valid(text: str, **kwargs: Any) -> Spec:
    """Validate ``text`` written as ``spec.yaml``."""
    return load_and_validate(write("spec.yaml", text), **kwargs)


def problems(text: str, **kwargs: Any) -> list[str]:
    """The issues, as printed, of validating ``text``."""
    with pytest.raises(SpecError) as info:
        valid(text, **kwargs)
    return [str(issue) for issue in info.value.issues]


def messages(text: str, **kwargs: Any) -> list[str]:
    """Only ``location: message`` of each issue, without the hint."""
    return [found.split(" — ")[0] for found in problems(text, **kwargs)]


class TestValidSpecs:
    def test_issue_example_is_valid(self) -> None:
        """The spec of the issue validates, rollup over a back property included."""
        spec = valid(CLIENTS_AND_PROJECTS)
        assert ["clients", "projects"] == list(spec.databases)
        assert spec.databases["clients"].protect

    @pytest.mark.parametrize("environment", [None, "dev", "staging", "prod"])
    def test_consulting_example_is_valid(self, environment: str | None) -> None:
        """The shipped example validates in every environment."""
        spec = load_and_validate(
            ROOT / "examples/consulting/workspace.yaml",
            environment=environment,
            environ={"NOTION_PARENT_PAGE_ID": "0123456789abcdef0123456789abcdef"},
        )
        assert 7 == len(spec.databases)

    def test_validate_spec_takes_a_loaded_spec(self) -> None:
        """validate_spec works on what load_spec_data returns."""
        loaded = load_spec_data(write("spec.yaml", CLIENTS_AND_PROJECTS))
        assert "consulting" == validate_spec(loaded).workspace


class TestBackProperties:
    def test_synced_as_names_the_back_property(self) -> None:
        """A synced_as relation creates that property on its target."""
        spec = valid(CLIENTS_AND_PROJECTS)
        assert {"clients": {"Projects": ("projects", "Client")}, "projects": {}} == (
            back_properties(spec)
        )

    def test_dual_without_name_gets_notions_default(self) -> None:
        """A dual relation without synced_as gets Notion's default name."""
        text = CLIENTS_AND_PROJECTS.replace("synced_as: Projects", "dual: true").replace(
            "relation: Projects", "relation: Related to Pipeline Projects (Client)"
        )
        assert {"Related to Pipeline Projects (Client)": ("projects", "Client")} == (
            back_properties(valid(text))["clients"]
        )

    def test_one_way_relations_create_nothing(self) -> None:
        """A one-way relation has no back property."""
        spec = valid(
            database("properties:\n  Name: title\n  Parent: {type: relation, to: things}\n")
        )
        assert {"things": {}} == back_properties(spec)


class TestModelErrors:
    def test_unknown_property_type_lists_the_valid_ones(self) -> None:
        """An unknown type is reported at the type, with a suggestion and every valid type."""
        found = problems(database("properties:\n  Name: titel\n"))
        assert 1 == len(found)
        assert found[0].startswith(
            "spec.yaml:7:13: unknown property type 'titel' for 'Name' — did you mean 'title'? "
            "valid types: title, rich_text,"
        )
        assert all(kind in found[0] for kind in PROPERTY_TYPES)

    def test_unknown_type_in_long_form_points_at_the_type(self) -> None:
        """In the long form the type value itself is pointed at."""
        found = messages(database("properties:\n  Name: title\n  N: {type: numbr}\n"))
        assert ["spec.yaml:8:17: unknown property type 'numbr' for 'N'"] == found

    def test_extra_key_says_remove_or_check_spelling(self) -> None:
        """An unknown key is reported at the key, with the allowed ones."""
        assert [
            "spec.yaml:6:5: unknown key 'protected' in database 'things' — did you mean "
            "'protect'? otherwise remove it; allowed here: title, icon, description, protect, inline, "
            "properties, rows"
        ] == problems(database("protected: true\nproperties: {Name: title}\n"))

    def test_extra_key_with_a_close_match(self) -> None:
        """A near miss of a known key gets a did-you-mean."""
        found = problems(
            database("properties:\n  Name: title\n  B: {type: number, formt: dollar}\n")
        )
        assert [
            "spec.yaml:8:25: unknown key 'formt' in property 'B' — did you mean 'format'? "
            "otherwise remove it; allowed here: description, renamed_from, type, format"
        ] == found

    def test_extra_key_at_the_top(self) -> None:
        """Unknown top-level keys list the top-level keys."""
        found = problems(HEAD + "databse: {}\ndatabases: {}\n")
        assert ["spec.yaml:3:1: unknown key 'databse' in the spec — did you mean 'databases'? "
                "otherwise remove it; allowed here: apiVersion, workspace, parent, databases, "
                "rules"] == found  # fmt: skip

    def test_missing_key_says_what_to_add(self) -> None:
        """A missing key is reported at its parent's key, with what to add."""
        assert [
            "spec.yaml:4:3: database 'things' is missing 'title' — add `title: <the "
            "database's name in Notion>`"
        ] == problems(HEAD + "databases:\n  things:\n    properties: {Name: title}\n")

    def test_missing_top_level_keys(self) -> None:
        """Missing top-level keys are reported at the start of the file."""
        assert [
            "spec.yaml:1:1: the spec is missing 'apiVersion'",
            "spec.yaml:1:1: the spec is missing 'databases'",
        ] == messages("workspace: test\n")

    def test_invalid_choice_suggests_the_closest(self) -> None:
        """A value outside a fixed set gets the closest one and the list."""
        found = problems(
            database("properties:\n  Name: title\n  B: {type: number, format: dolar}\n")
        )
        assert found[0].startswith(
            "spec.yaml:8:33: 'dolar' is not a valid number format — did you mean 'dollar'? "
            "use one of: number, number_with_commas,"
        )

    def test_rollup_function_and_color(self) -> None:
        """Rollup functions and colours are checked the same way."""
        found = messages(
            database(
                """\
                properties:
                  Name: title
                  S: {type: select, options: [{name: A, color: grey}]}
                  R: {type: rollup, relation: X, property: Y, function: total}
                """
            )
        )
        assert [
            "spec.yaml:8:52: 'grey' is not a valid color",
            "spec.yaml:9:61: 'total' is not a valid rollup function",
        ] == found

    def test_property_without_type(self) -> None:
        """A mapping without type says to add one."""
        found = problems(database("properties:\n  Name: title\n  B: {format: dollar}\n"))
        assert found[0].startswith("spec.yaml:8:7: property 'B' has no type — add `type: <one of")

    def test_property_of_the_wrong_shape(self) -> None:
        """A property that is neither a type name nor a mapping is explained."""
        assert [
            "spec.yaml:8:10: property 'B' is 5 (a number); expected a type name or a mapping — "
            "write `B: rich_text` or `B: {type: number, format: dollar}`"
        ] == problems(database("properties:\n  Name: title\n  B: 5\n"))

    def test_invalid_database_key(self) -> None:
        """A database key with capitals or spaces is reported with a usable suggestion."""
        found = problems(
            HEAD + "databases:\n  My Things:\n    title: T\n    properties: {N: title}\n"
        )
        assert [
            "spec.yaml:4:3: database key 'My Things' is not valid — use lowercase letters, "
            "digits, '-' and '_', starting with a letter (at most 63), e.g. 'my_things'"
        ] == found

    def test_text_value_that_is_a_number(self) -> None:
        """A number where text is needed says to quote it."""
        assert ["spec.yaml:5:12: 'title' must be text, not 2024 (a number) — quote it"] == (
            problems(database("properties: {Name: title}\n", title="2024"))
        )

    def test_option_with_a_comma(self) -> None:
        """The model's own checks come through with the place of the value."""
        found = messages(
            database("properties:\n  Name: title\n  S: {type: select, options: ['a,b']}\n")
        )
        assert [
            "spec.yaml:8:35: property 'S' (option 1): option names cannot contain commas "
            "(Notion refuses them)"
        ] == found

    def test_parent_page_id(self) -> None:
        """A malformed parent page id is explained."""
        found = problems(HEAD + "parent: {page_id: 'not-an-id'}\ndatabases: {}\n")
        assert [
            "spec.yaml:3:19: 'page_id' is too short (at least 32 characters) — a Notion page id "
            "is 32 hex digits (dashes optional), from the end of the page's URL"
        ] == found

    def test_relation_target_that_is_not_a_key(self) -> None:
        """A relation to a title instead of a key says so."""
        found = messages(
            database("properties:\n  Name: title\n  R: {type: relation, to: Things}\n")
        )
        assert ["spec.yaml:8:31: relation target 'Things' is not a database key"] == found

    def test_row_value_of_the_wrong_shape_is_one_issue(self) -> None:
        """A row value no form accepts is one issue, not one per form."""
        assert [
            "spec.yaml:8:16: seed row value of 'Name' is a mapping — a row value is text, a "
            "number, true/false, a list of texts or a {start, end} date (null for empty)"
        ] == problems(database("properties: {Name: title}\nrows:\n  - {Name: {a: 1}}\n"))

    def test_row_that_is_not_a_mapping(self) -> None:
        """A seed row must be a mapping."""
        found = messages(database("properties: {Name: title}\nrows: [5]\n"))
        assert [
            "spec.yaml:7:12: seed row 1 of 'things' must be a mapping, not 5 (a number)"
        ] == found

    def test_wrong_container_types(self) -> None:
        """Lists and mappings in the wrong place are named."""
        found = messages(HEAD + "rules: x\ndatabases: [a]\n")
        assert [
            "spec.yaml:3:8: 'rules' must be a list, not the text 'x'",
            "spec.yaml:4:12: 'databases' must be a mapping, not a list",
        ] == found

    def test_booleans(self) -> None:
        """A flag that is not true or false is named."""
        found = messages(database("protect: maybe\nproperties: {Name: title}\n"))
        assert ["spec.yaml:6:14: 'protect' must be true or false, not the text 'maybe'"] == found

    def test_empty_and_too_long_values(self) -> None:
        """Empty and oversized values name the limit."""
        found = messages(
            database(f"icon: ''\ndescription: {'x' * 2001}\nproperties: {{Name: title}}\n")
        )
        assert [
            "spec.yaml:6:11: 'icon' is empty",
            "spec.yaml:7:18: 'description' is too long (2001 characters, at most 2000)",
        ] == found


class TestAllAtOnce:
    def test_model_and_semantic_issues_come_together_sorted(self) -> None:
        """A broken property does not hide semantic issues elsewhere; all are sorted by line."""
        text = database(
            """\
            properties:
              Name: title
              Budget: {type: number, format: dolar}
              Margin: {type: formula, expression: 'prop("Budgt") * 2'}
              Link: {type: relation, to: nowhere}
            rows:
              - {Name: A, Budget: 5, Nope: 1}
            """
        )
        assert [
            "spec.yaml:8:38: 'dolar' is not a valid number format",
            "spec.yaml:9:44: formula 'Margin' reads prop(\"Budgt\"), which is not a property of 'things'",
            "spec.yaml:10:34: relation 'Link' points to 'nowhere', which is not a database of this spec",
            "spec.yaml:12:30: seed row 'A': 'Nope' is not a property of 'things'",
        ] == messages(text)

    def test_broken_database_does_not_cascade(self) -> None:
        """Relations to a database the model could not read are not reported as unknown."""
        text = HEAD + textwrap.dedent(
            """\
            databases:
              a:
                title: A
                properties: {Name: title, B: {type: relation, to: b, synced_as: Back}}
              b:
                title: 5
                properties: nope
            """
        )
        assert [
            "spec.yaml:8:12: 'title' must be text, not 5 (a number)",
            "spec.yaml:9:17: 'properties' must be a mapping, not the text 'nope'",
        ] == messages(text)

    def test_error_text_is_one_line_per_issue(self) -> None:
        """SpecError prints every issue on its own line, file:line:col first."""
        with pytest.raises(SpecError) as info:
            valid(database("properties:\n  Name: title\n  A: titel\n  B: numbr\n"))
        lines = str(info.value).splitlines()
        assert 2 == len(lines)
        assert all(line.startswith("spec.yaml:") for line in lines)


class TestTitleProperty:
    def test_no_title_property(self) -> None:
        """A database needs a title property."""
        assert [
            "spec.yaml:6:5: database 'things' has no title property — add exactly one, "
            "e.g. `Name: title`"
        ] == problems(database("properties: {Notes: rich_text}\n"))

    def test_two_title_properties(self) -> None:
        """A second title property is reported."""
        assert [
            "spec.yaml:8:7: database 'things' has more than one title property ('Name', "
            "'Other') — keep one title; make 'Other' rich_text"
        ] == problems(database("properties:\n  Name: title\n  Other: title\n"))

    def test_broken_title_is_not_also_missing(self) -> None:
        """A mistyped title is reported once, not also as a missing title."""
        assert 1 == len(problems(database("properties:\n  Name: titel\n")))


class TestRelations:
    def test_unknown_target(self) -> None:
        """A relation to an unknown database gets a suggestion and the list."""
        text = CLIENTS_AND_PROJECTS.replace("to: clients", "to: client")
        assert [
            "spec.yaml:17:36: relation 'Client' points to 'client', which is not a database of "
            "this spec — did you mean 'clients'? databases: clients, projects",
            "spec.yaml:10:49: rollup 'Active Projects' goes through 'Projects', which is not a "
            "property of 'clients' — 'clients' has no relation: declare one, or a two-way "
            "relation to it (synced_as)",
        ] == sorted(problems(text), key=lambda t: "spec.yaml:17" not in t)

    def test_synced_as_collides_with_a_declared_property(self) -> None:
        """A back property may not reuse a name declared on the target."""
        text = CLIENTS_AND_PROJECTS.replace("synced_as: Projects", "synced_as: Status")
        assert [
            "spec.yaml:10:49: rollup 'Active Projects' goes through 'Projects', which is not a "
            "property of 'clients'",
            "spec.yaml:17:56: two-way relation 'Client' would create 'Status' on 'clients', which "
            "already declares a property 'Status'",
        ] == messages(text)

    def test_two_back_properties_with_one_name(self) -> None:
        """Two relations may not create the same back property."""
        text = CLIENTS_AND_PROJECTS.replace(
            "      Budget:",
            "      Payer: {type: relation, to: clients, synced_as: Projects}\n      Budget:",
        )
        assert [
            "spec.yaml:18:55: two-way relation 'Payer' would create 'Projects' on 'clients', "
            "which projects.Client already creates there — give one of them another synced_as name"
        ] == problems(text)

    def test_two_way_self_relation_is_refused(self) -> None:
        """Notion cannot sync a relation with itself."""
        found = problems(
            database(
                "properties:\n  Name: title\n  Parent: {type: relation, to: things, dual: true}\n"
            )
        )
        assert [
            "spec.yaml:8:50: relation 'Parent' of 'things' is two-way to its own database — "
            "Notion cannot sync a relation with itself; remove synced_as/dual to make it one-way"
        ] == found

    def test_one_way_self_relation_is_fine(self) -> None:
        """A one-way relation to its own database is accepted."""
        spec = valid(
            database("properties:\n  Name: title\n  Parent: {type: relation, to: things}\n")
        )
        assert "relation" == spec.databases["things"].properties["Parent"].type


class TestRollups:
    def test_relation_must_exist(self) -> None:
        """The rollup's relation must be a relation of its database."""
        text = CLIENTS_AND_PROJECTS.replace("relation: Projects", "relation: Projcts")
        assert [
            "spec.yaml:10:49: rollup 'Active Projects' goes through 'Projcts', which is not a "
            "property of 'clients' — did you mean 'Projects'? relations of 'clients': Projects"
        ] == problems(text)

    def test_relation_must_be_a_relation(self) -> None:
        """Naming a property of another type says which type it is."""
        text = CLIENTS_AND_PROJECTS.replace("relation: Projects", "relation: Status")
        assert [
            "spec.yaml:10:49: rollup 'Active Projects' goes through 'Status', which is a select "
            "property, not a relation"
        ] == messages(text)

    def test_property_must_exist_on_the_related_database(self) -> None:
        """The rolled-up property must exist on the related database."""
        text = CLIENTS_AND_PROJECTS.replace("property: Status", "property: Stat")
        found = problems(text)
        assert 1 == len(found)
        assert found[0].startswith(
            "spec.yaml:10:69: rollup 'Active Projects' reads 'Stat' of 'projects', which has no "
            "such property — did you mean 'Status'? properties of 'projects': Budget, Client,"
        )

    def test_rollup_through_a_declared_relation_of_a_back_property(self) -> None:
        """A rollup may read a back property of the related database."""
        text = CLIENTS_AND_PROJECTS.replace(
            "      Margin:",
            "      Client Projects: {type: rollup, relation: Client, property: Projects, "
            "function: count}\n      Margin:",
        )
        assert "rollup" == valid(text).databases["projects"].properties["Client Projects"].type


class TestFormulas:
    def test_syntax_error_points_into_the_expression(self) -> None:
        """A formula that does not compile is located at the error inside the expression."""
        found = problems(
            database(
                "properties:\n  Name: title\n  F: {type: formula, expression: 'prop(\"Name\") +'}\n"
            )
        )
        assert 1 == len(found)
        assert found[0].startswith(
            "spec.yaml:8:53: formula 'F' does not compile: Syntax error: unexpected end of formula"
        )

    def test_unknown_function(self) -> None:
        """Unknown functions are compile errors."""
        found = messages(
            database("properties:\n  Name: title\n  F: {type: formula, expression: 'nope(1)'}\n")
        )
        assert 1 == len(found)
        assert found[0].startswith("spec.yaml:8:39: formula 'F' does not compile:")

    def test_unknown_reference_is_located(self) -> None:
        """A reference to a missing property is located at its prop(…)."""
        assert [
            "spec.yaml:8:43: formula 'F' reads prop(\"Nme\"), which is not a property of 'things' "
            "— did you mean 'Name'? formulas read properties of their own database, back "
            "properties included"
        ] == problems(
            database(
                "properties:\n  Name: title\n  F: {type: formula, expression: '1 + prop(\"Nme\")'}\n"
            )
        )

    def test_multiline_formula_is_located_at_its_start(self) -> None:
        """In a folded expression the start of the value is given."""
        text = database(
            'properties:\n  Name: title\n  F:\n    type: formula\n    expression: >-\n      1 +\n      prop("X")\n'
        )
        assert [
            "spec.yaml:10:21: formula 'F' reads prop(\"X\"), which is not a property of 'things'"
        ] == (messages(text))

    def test_references_to_back_properties_are_fine(self) -> None:
        """A formula may read a back property."""
        text = CLIENTS_AND_PROJECTS.replace(
            "    rows:\n      - {Name: Acme",
            "      N: {type: formula, expression: 'length(prop(\"Projects\"))'}\n    rows:\n      - {Name: Acme",
        )
        assert "formula" == valid(text).databases["clients"].properties["N"].type


class TestRenames:
    def test_renamed_from_another_current_property(self) -> None:
        """An old name that is still a current property is refused."""
        text = CLIENTS_AND_PROJECTS.replace("renamed_from: [Stage]", "renamed_from: [Budget]")
        assert [
            "spec.yaml:21:45: 'Status' is renamed from 'Budget', but 'Budget' is also a current "
            "property — remove 'Budget' from renamed_from, or rename the other property"
        ] == problems(text)

    def test_renamed_from_itself(self) -> None:
        """A property's own name in renamed_from is refused."""
        text = CLIENTS_AND_PROJECTS.replace("renamed_from: [Stage]", "renamed_from: [Status]")
        assert ["spec.yaml:21:45: 'Status' lists its own name in renamed_from"] == messages(text)

    def test_one_old_name_for_two_properties(self) -> None:
        """Two properties cannot both be renamed from one old name."""
        text = CLIENTS_AND_PROJECTS.replace(
            "      Code:", "      Old: {type: rich_text, renamed_from: [Stage]}\n      Code:"
        )
        assert [
            "spec.yaml:22:45: 'Stage' is in renamed_from of both 'Old' and 'Status'"
        ] == messages(text)

    def test_plain_rename_is_fine(self) -> None:
        """A rename from a name that is gone is accepted."""
        assert ["Stage"] == valid(CLIENTS_AND_PROJECTS).databases["projects"].properties[
            "Status"
        ].renamed_from


class TestDatabaseTitlesAndOptions:
    def test_titles_are_unique(self) -> None:
        """Two databases may not share a title."""
        text = CLIENTS_AND_PROJECTS.replace("title: Pipeline Projects", "title: Clients")
        assert [
            "spec.yaml:14:12: database title 'Clients' is also the title of 'clients' — give each "
            "database a distinct title; Notion users tell them apart by it"
        ] == problems(text)

    def test_option_names_are_unique(self) -> None:
        """An option listed twice is refused."""
        found = messages(
            database("properties:\n  Name: title\n  S: {type: multi_select, options: [a, b, a]}\n")
        )
        assert ["spec.yaml:8:47: option 'a' of 'S' is listed twice"] == found


ROWS = """\
properties:
  Name: title
  Kind: {type: select, options: [Big, Small]}
  Tags: {type: multi_select, options: [x, y]}
  Stage: status
  Phase: {type: status, options: [Open, Closed]}
  Amount: number
  Done: checkbox
  Due: date
  Owner: people
  Files: files
  Site: url
  Code: {type: unique_id, prefix: T}
  Made: created_time
  Parent: {type: relation, to: things}
rows:
  - Name: First
"""


def rows(*lines: str) -> str:
    """The ROWS database with extra keys on its first seed row, and more rows."""
    extra = "".join(
        f"    {line}\n" if not line.startswith("-") else f"  {line}\n" for line in lines
    )
    return database(ROWS + extra)


class TestRows:
    def test_row_naming_a_renamed_property_gets_its_new_name(self) -> None:
        """A seed row still using an old name is told the new one, not the whole list."""
        assert [
            "spec.yaml:10:19: seed row 'A': 'Notes' was renamed to 'Account Notes' "
            "— write 'Account Notes' here"
        ] == problems(
            database(
                "properties:\n  Name: title\n"
                "  Account Notes: {type: rich_text, renamed_from: [Notes]}\n"
                "rows:\n  - {Name: A, Notes: x}\n"
            )
        )

    def test_every_form_that_is_accepted(self) -> None:
        """Each property type accepts its documented value forms."""
        spec = valid(
            rows(
                "Kind: Big", "Tags: [x, y]", "Stage: In progress", "Phase: Closed", "Amount: 1.5",
                "Done: true", "Due: '2026-03-01'", "Owner: [a@example.com]", "Files: https://x.example/f.pdf",
                "Site: https://example.com", "Parent: [Second]",
                "- {Name: Second, Tags: x, Due: {start: '2026-03-01T10:00:00Z', end: null}, Amount: null}",
            )
        )  # fmt: skip
        assert 2 == len(spec.databases["things"].rows)

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("Kind: Huge", "spec.yaml:23:15: seed row 'First': 'Kind' is 'Huge', which is not an option of 'Kind'"),
            ("Tags: [x, z]", "spec.yaml:23:19: seed row 'First': 'Tags' is 'z', which is not an option of 'Tags'"),
            ("Stage: Doing", "spec.yaml:23:16: seed row 'First': 'Stage' is 'Doing', which is not an option of 'Stage'"),
            ("Phase: Done", "spec.yaml:23:16: seed row 'First': 'Phase' is 'Done', which is not an option of 'Phase'"),
            ("Kind: [Big]", "spec.yaml:23:15: seed row 'First': 'Kind' must be a text, not a list"),
            ("Amount: '12'", "spec.yaml:23:17: seed row 'First': 'Amount' must be a number, not the text '12'"),
            ("Amount: true", "spec.yaml:23:17: seed row 'First': 'Amount' must be a number, not true (a boolean)"),
            ("Amount: .nan", "spec.yaml:23:17: seed row 'First': 'Amount' must be a finite number"),
            ("Done: 'yes'", "spec.yaml:23:15: seed row 'First': 'Done' must be true or false, not the text 'yes'"),
            ("Due: 2026-13-01", "spec.yaml:23:14: seed row 'First': 'Due' is '2026-13-01', not an ISO date"),
            ("Due: 5", "spec.yaml:23:14: seed row 'First': 'Due' must be a date, not 5 (a number)"),
            ("Due: {end: '2026-01-01'}", "spec.yaml:23:14: seed row 'First': 'Due' has no start date"),
            ("Due: {start: '2026-01-01', end: x}", "spec.yaml:23:41: seed row 'First': 'Due' end is 'x', not an ISO date"),
            ("Due: {start: '2026-01-01', at: x}", "spec.yaml:23:40: seed row 'First': 'Due' has unknown date key 'at'"),
            ("Site: 5", "spec.yaml:23:15: seed row 'First': 'Site' must be text, not 5 (a number)"),
            ("Owner: 5", "spec.yaml:23:16: seed row 'First': 'Owner' must be a text or a list of texts, not 5 (a number)"),
            ("Parent: Nobody", "spec.yaml:23:17: seed row 'First': 'Parent' is 'Nobody', which is not the title of a seed row of 'things'"),
            ("Code: 3", "spec.yaml:23:9: seed row 'First': 'Code' is a unique_id property, which Notion computes"),
            ("Made: '2026-01-01'", "spec.yaml:23:9: seed row 'First': 'Made' is a created_time property, which Notion computes"),
            ("Nmae: x", "spec.yaml:23:9: seed row 'First': 'Nmae' is not a property of 'things'"),
        ],
    )  # fmt: skip
    def test_values_are_checked_by_type(self, line: str, expected: str) -> None:
        """Each property type refuses what it cannot hold, at the value's place."""
        assert [expected] == messages(rows(line))

    def test_title_is_required(self) -> None:
        """A seed row needs a title."""
        assert [
            "spec.yaml:23:9: seed row 2 of 'things' has no title ('Name') — add `Name: <title>`; "
            "seed rows are matched by title"
        ] == problems(rows("- {Kind: Big}"))

    def test_titles_are_unique(self) -> None:
        """Seed rows are upserted by title, so titles are unique."""
        assert [
            "spec.yaml:23:16: seed row title 'First' is used twice in 'things' (rows 1 and 2)"
        ] == messages(rows("- {Name: First}"))

    def test_back_property_in_a_row(self) -> None:
        """A back property is set from the other side."""
        text = CLIENTS_AND_PROJECTS.replace(
            "{Name: Acme Corp, Status: Active}", "{Name: Acme Corp, Projects: ERP}"
        )
        assert [
            "spec.yaml:12:27: 'Projects' is the back side of projects.Client — set the relation "
            "on the 'projects' rows ('Client') instead"
        ] == problems(text)

    def test_relation_values_name_seed_rows_of_the_target(self) -> None:
        """Relation values are checked against the target's seed row titles."""
        text = CLIENTS_AND_PROJECTS.replace("Client: Acme Corp,", "Client: [Acme Corp, Acme Inc],")
        assert [
            "spec.yaml:23:41: seed row 'ERP': 'Client' is 'Acme Inc', which is not the title of a "
            "seed row of 'clients' — known: Acme Corp"
        ] == problems(text)

    def test_status_defaults(self) -> None:
        """A status without options accepts Notion's three defaults."""
        for value in ("Not started", "In progress", "Done"):
            assert 2 == len(
                valid(rows(f"- {{Name: {value[:3]}, Stage: {value}}}")).databases["things"].rows
            )


RULES_FILE = """\
from devfactory.spec.rules import RuleViolation, rule


def rule_icons(spec):
    for key, database in spec.databases.items():
        if database.icon is None:
            yield RuleViolation(("databases", key, "title"), f"{key} has no icon", "add `icon:`")


@rule
def named_freely(spec):
    return [RuleViolation(("workspace",), "workspace names are audited")]


def helper(spec):
    raise AssertionError("not a rule: never called")
"""


class TestRulesFiles:
    def test_rules_from_a_file(self) -> None:
        """rule_* functions and @rule functions run; violations are located by path."""
        write("rules.py", RULES_FILE)
        assert [
            "spec.yaml:2:12: workspace names are audited [rules.py:named_freely]",
            "spec.yaml:6:12: things has no icon [rules.py:rule_icons] — add `icon:`",
        ] == problems(
            database("properties: {Name: title}\n").replace(
                "databases:", "rules: [rules.py]\ndatabases:"
            )
        )

    def test_rules_run_only_on_a_valid_model(self) -> None:
        """With model errors, rules do not run (they would see a partial spec)."""
        write("rules.py", RULES_FILE)
        text = database("properties: {Name: titel}\n").replace(
            "databases:", "rules: [rules.py]\ndatabases:"
        )
        assert 1 == len(problems(text))

    def test_missing_rules_file(self) -> None:
        """A rules file that does not exist is reported where it is listed."""
        text = (
            HEAD + "rules: [nope.py]\n" + database("properties: {Name: title}\n").removeprefix(HEAD)
        )
        assert [
            "spec.yaml:3:9: rules file 'nope.py' does not exist — paths under `rules:` are "
            "relative to the spec file"
        ] == problems(text)

    def test_rules_files_must_be_python(self) -> None:
        """Only .py files are run as rules, so a typo cannot execute another file."""
        write("notes.txt", "print('never run')\n")
        text = (
            HEAD
            + "rules: [notes.txt]\n"
            + database("properties: {Name: title}\n").removeprefix(HEAD)
        )
        assert [
            "spec.yaml:3:9: rules file 'notes.txt' is not a .py file — list Python files only"
        ] == (problems(text))

    def test_rule_that_exits(self) -> None:
        """A rule calling sys.exit is reported like any failure, and validation goes on."""
        write("rules.py", "import sys\n\n\ndef rule_exit(spec):\n    sys.exit(3)\n")
        text = (
            HEAD
            + "rules: [rules.py]\n"
            + database("properties: {Name: title}\n").removeprefix(HEAD)
        )
        assert ["rules.py:5:5: rule rules.py:rule_exit failed: SystemExit: 3"] == messages(text)

    def test_rules_file_that_does_not_import(self) -> None:
        """A rules file with an error is reported at the failing line of that file."""
        write("rules.py", "import os\n\nx = 1 / 0\n")
        text = (
            HEAD
            + "rules: [rules.py]\n"
            + database("properties: {Name: title}\n").removeprefix(HEAD)
        )
        assert [
            "rules.py:3:5: rules file rules.py failed to import: ZeroDivisionError: division by zero"
        ] == messages(text)

    def test_rules_file_with_a_syntax_error(self) -> None:
        """A syntax error in a rules file is located in that file."""
        write("rules.py", "def rule_x(spec):\n    return [\n")
        text = (
            HEAD
            + "rules: [rules.py]\n"
            + database("properties: {Name: title}\n").removeprefix(HEAD)
        )
        found = messages(text)
        assert 1 == len(found)
        assert found[0].startswith("rules.py:2:")
        assert "failed to import: SyntaxError" in found[0]

    def test_rule_that_raises(self) -> None:
        """A rule that raises becomes an issue naming it, located at the raising line."""
        write("rules.py", "def rule_broken(spec):\n    return spec.nothing\n")
        text = (
            HEAD
            + "rules: [rules.py]\n"
            + database("properties: {Name: title}\n").removeprefix(HEAD)
        )
        found = messages(text)
        assert 1 == len(found)
        assert found[0].startswith(
            "rules.py:2:12: rule rules.py:rule_broken failed: AttributeError:"
        )

    def test_rule_that_returns_nonsense(self) -> None:
        """A rule that yields something else than violations is reported, not crashed on."""
        write(
            "rules.py",
            "def rule_odd(spec):\n    return ['not a violation']\n\n\ndef rule_none(spec):\n    return None\n",
        )
        text = (
            HEAD
            + "rules: [rules.py]\n"
            + database("properties: {Name: title}\n").removeprefix(HEAD)
        )
        assert [
            "rules.py:1:1: rule rules.py:rule_odd returned str, not a RuleViolation"
        ] == messages(text)


class TestRulePlugins:
    def test_extra_rules(self) -> None:
        """Rules passed to validate_spec run after the others."""

        def no_protect(spec: Spec) -> list[RuleViolation]:
            return [
                RuleViolation(("databases", key, "protect"), "protect is forbidden here")
                for key, db in spec.databases.items()
                if db.protect
            ]

        loaded = load_spec_data(write("spec.yaml", CLIENTS_AND_PROJECTS))
        with pytest.raises(SpecError) as info:
            validate_spec(loaded, extra_rules=[no_protect])
        assert ["spec.yaml:6:14: protect is forbidden here [no_protect]"] == [
            str(issue) for issue in info.value.issues
        ]

    def test_violation_paths_may_be_loose(self) -> None:
        """A string or odd path from a plugin still gives a place."""
        loaded = load_spec_data(write("spec.yaml", CLIENTS_AND_PROJECTS))

        def loose(spec: Spec) -> list[RuleViolation]:
            return [RuleViolation("workspace", "a"), RuleViolation(None, "b")]  # type: ignore[arg-type]

        with pytest.raises(SpecError) as info:
            validate_spec(loaded, extra_rules=[loose])
        assert ["spec.yaml:1:1: b [loose]", "spec.yaml:2:12: a [loose]"] == [
            str(issue) for issue in info.value.issues
        ]

    def test_entry_point_functions_and_modules(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Entry points name a rule function or a module of rules."""
        module = types.ModuleType("fake_rules_pkg")
        exec(textwrap.dedent(RULES_FILE).replace("def helper", "def _helper"), module.__dict__)
        for value in list(vars(module).values()):
            if callable(value) and hasattr(value, "__module__"):
                value.__module__ = "fake_rules_pkg"
        monkeypatch.setitem(sys.modules, "fake_rules_pkg", module)
        entries = [
            metadata.EntryPoint("one", "fake_rules_pkg:rule_icons", "devfactory.rules"),
            metadata.EntryPoint("all", "fake_rules_pkg", "devfactory.rules"),
        ]
        monkeypatch.setattr(metadata, "entry_points", lambda group: entries)
        found = messages(CLIENTS_AND_PROJECTS)
        assert [
            "spec.yaml:2:12: workspace names are audited [all.named_freely]",
            "spec.yaml:5:12: clients has no icon [all.rule_icons]",
            "spec.yaml:5:12: clients has no icon [one]",
            "spec.yaml:14:12: projects has no icon [all.rule_icons]",
            "spec.yaml:14:12: projects has no icon [one]",
        ] == found

    def test_entry_point_that_does_not_load(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An entry point that cannot be imported is an issue, not a traceback."""
        entries = [
            metadata.EntryPoint("gone", "no_such_module_xyz:rule", "devfactory.rules"),
            metadata.EntryPoint("odd", "json:__version__", "devfactory.rules"),
        ]
        monkeypatch.setattr(metadata, "entry_points", lambda group: entries)
        assert [
            "cannot load rules entry point 'gone' (no_such_module_xyz:rule): "
            "ModuleNotFoundError: No module named 'no_such_module_xyz'",
            "rules entry point 'odd' (json:__version__) is neither a function nor a module",
        ] == messages(CLIENTS_AND_PROJECTS)

    def test_installed_distribution(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A package installed with a devfactory.rules entry point is found by importlib.metadata."""
        monkeypatch.undo()  # the real entry_points, over a fake installed distribution
        monkeypatch.chdir(tmp_path)
        site = tmp_path / "site"
        (site / "acme_rules-1.0.dist-info").mkdir(parents=True)
        (site / "acme_rules-1.0.dist-info" / "METADATA").write_text(
            "Name: acme-rules\nVersion: 1.0\n"
        )
        (site / "acme_rules-1.0.dist-info" / "entry_points.txt").write_text(
            "[devfactory.rules]\nworkspace = acme_rules_mod:check_workspace\n"
        )
        (site / "acme_rules_mod.py").write_text(
            "from devfactory.spec.rules import RuleViolation\n\n\n"
            "def check_workspace(spec):\n"
            "    if spec.workspace != 'acme':\n"
            "        yield RuleViolation(('workspace',), 'workspace must be acme', 'rename it')\n"
        )
        monkeypatch.syspath_prepend(str(site))
        assert ["spec.yaml:2:12: workspace must be acme [workspace] — rename it"] == [
            line for line in problems(CLIENTS_AND_PROJECTS) if "[workspace]" in line
        ]

    def test_named_rule_and_decorator(self) -> None:
        """named_rule names a rule after its function; @rule returns the function itself."""

        def sample(spec: Spec) -> Iterator[RuleViolation]:
            yield from ()

        assert sample is rule(sample)
        assert "sample" == named_rule(sample).name
        assert "custom" == named_rule(sample, "custom").name


class TestJsonSchema:
    def test_committed_schema_is_current(self) -> None:
        """docs/spec.schema.json is what spec_json_schema() generates."""
        assert render_spec_json_schema() == (ROOT / "docs/spec.schema.json").read_text(
            encoding="utf-8"
        )

    def test_schema_has_identity_and_short_forms(self) -> None:
        """The schema names itself and accepts `Name: title` and plain option names."""
        schema = spec_json_schema()
        assert "urn:devfactory:spec:v1" == schema["$id"]
        assert {"apiVersion", "workspace", "databases"} <= set(schema["required"])
        short = schema["$defs"]["DatabaseSpec"]["properties"]["properties"]["additionalProperties"]
        assert list(PROPERTY_TYPES) == short["anyOf"][0]["enum"]
        options = json.dumps(schema["$defs"]["SelectProperty"]["properties"]["options"])
        assert '"Short form: the option name."' in options
