"""Tests for reading spec files: positions, safe YAML, overlays, merging and interpolation."""

# Asserts put the expected value first (structlog style), which SIM300 calls a Yoda condition.

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from devfactory.errors import SpecError
from devfactory.spec import load
from devfactory.spec.load import Issue, LoadedSpec, Location, SourceMap, load_spec_data

BASE = """\
apiVersion: devfactory/v1
workspace: test
databases:
  clients:
    title: Clients
    icon: "🏢"
    properties:
      Name: title
      Status: {type: select, options: [Active, Prospect]}
    rows:
      - {Name: Acme, Status: Active}
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test works in its own directory, so locations read ``spec.yaml:…``."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=["libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the C parser and with PyYAML's pure-Python one."""
    if request.param == "python":
        monkeypatch.setattr(load, "_YAML_PARSER", yaml.SafeLoader)
    return str(request.param)


def write(name: str, text: str) -> Path:
    """Write dedented ``text`` to ``name`` in the current directory."""
    path = Path(name)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def loaded(text: str, **kwargs: Any) -> LoadedSpec:
    """Load ``text`` written as ``spec.yaml``."""
    return load_spec_data(write("spec.yaml", text), **kwargs)


def problems(text: str | None = None, **kwargs: Any) -> list[str]:
    """The issues, as printed, of loading ``text`` (or the existing ``spec.yaml``)."""
    path = write("spec.yaml", text) if text is not None else Path("spec.yaml")
    with pytest.raises(SpecError) as info:
        load_spec_data(path, **kwargs)
    return [str(issue) for issue in info.value.issues]


class TestLocationAndIssue:
    def test_location_prints_file_line_column(self) -> None:
        """A location prints as file:line:col."""
        assert "spec.yaml:3:7" == str(Location("spec.yaml", 3, 7))

    def test_issue_prints_location_message_and_hint(self) -> None:
        """An issue prints as file:line:col: message — hint."""
        issue = Issue(Location("spec.yaml", 3, 7), "bad value", "fix it")
        assert "spec.yaml:3:7: bad value — fix it" == str(issue)

    def test_issue_without_location_or_hint(self) -> None:
        """Parts that are missing are left out of the text."""
        assert "bad value" == str(Issue(None, "bad value"))
        assert "bad value — fix it" == str(Issue(None, "bad value", "fix it"))

    def test_spec_error_lists_one_issue_per_line(self) -> None:
        """SpecError's text is its issues, one per line."""
        error = SpecError([Issue(None, "a"), Issue(Location("f", 1, 2), "b", "c")])
        assert "a\nf:1:2: b — c" == str(error)


class TestPositions:
    def test_scalar_values_are_located(self, parser: str) -> None:
        """A value's location is where the value starts, 1-based."""
        spec = loaded(BASE)
        assert "spec.yaml:5:12" == str(spec.source.locate(("databases", "clients", "title")))

    def test_keys_are_located(self, parser: str) -> None:
        """locate_key gives where the key of an entry is written."""
        spec = loaded(BASE)
        assert "spec.yaml:4:3" == str(spec.source.locate_key(("databases", "clients")))
        assert "spec.yaml:5:5" == str(spec.source.locate_key(("databases", "clients", "title")))

    def test_list_items_and_flow_mappings(self, parser: str) -> None:
        """Items of lists and flow mappings have their own positions."""
        spec = loaded(BASE)
        path = ("databases", "clients", "properties", "Status", "options", 1)
        assert "spec.yaml:9:48" == str(spec.source.locate(path))
        row = ("databases", "clients", "rows", 0, "Status")
        assert "spec.yaml:11:30" == str(spec.source.locate(row))

    def test_columns_count_characters_not_bytes(self, parser: str) -> None:
        """An emoji before a value counts as one column."""
        spec = loaded('apiVersion: x\nicons: ["🏢", "🚀", x]\n')
        assert "spec.yaml:2:19" == str(spec.source.locate(("icons", 2)))

    def test_missing_path_gives_nearest_ancestor(self) -> None:
        """A path that does not exist resolves to its nearest existing ancestor."""
        spec = loaded(BASE)
        path = ("databases", "clients", "properties", "Name", "type")
        assert spec.source.locate(path) == spec.source.locate(path[:-1])

    def test_discriminator_tags_are_skipped(self) -> None:
        """Segments that are not keys (pydantic's 'select' tag) are skipped, not a dead end."""
        spec = loaded(BASE)
        path = ("databases", "clients", "properties", "Status", "select", "options", 0)
        assert "spec.yaml:9:40" == str(spec.source.locate(path))

    def test_unknown_root_gives_document_start(self) -> None:
        """A path with no known segment resolves to the document."""
        spec = loaded(BASE)
        assert "spec.yaml:1:1" == str(spec.source.locate(("nothing", 3)))

    def test_empty_source_map_locates_nothing(self) -> None:
        """A source map without entries answers None."""
        assert None is SourceMap({}).locate(("a",))
        assert None is SourceMap({}).locate_key(("a",))
        assert None is SourceMap({}).locate_offset(("a",), 1)

    @pytest.mark.parametrize(
        ("line", "column"),
        [
            ("f: prop(x) + 1", 12),
            ("f: 'it''s prop(x) + 1'", 19),
            ('f: "say \\"hi\\" prop(x) + 1"', 24),
        ],
    )
    def test_offsets_inside_one_line_strings(self, parser: str, line: str, column: int) -> None:
        """An offset inside a one-line string maps to its column, escapes included."""
        spec = loaded(line + "\n")
        offset = spec.data["f"].index("+")
        assert Location("spec.yaml", 1, column) == spec.source.locate_offset(("f",), offset)

    def test_offsets_in_multiline_strings_give_the_start(self) -> None:
        """In a folded string the start of the value is the best place there is."""
        spec = loaded("f: >-\n  prop(x)\n  + 1\n")
        assert Location("spec.yaml", 1, 4) == spec.source.locate_offset(("f",), 9)

    def test_paths_lists_every_located_value(self) -> None:
        """paths() includes the document, keys and list items."""
        spec = loaded("a: [1, 2]\n")
        assert [(), ("a",), ("a", 0), ("a", 1)] == list(spec.source.paths())


class TestScalars:
    def test_yaml_1_2_core_schema(self) -> None:
        """true/false are booleans, yes/no/on/off stay text, numbers are numbers."""
        data = loaded(
            "a: true\nb: False\nc: yes\nd: off\ne: 12\nf: -1.5e3\ng: 0x1F\nh: 0o17\ni: ~\nj:\n"
        ).data
        assert {
            "a": True, "b": False, "c": "yes", "d": "off", "e": 12, "f": -1500.0,
            "g": 31, "h": 15, "i": None, "j": None,
        } == data  # fmt: skip

    def test_dates_stay_text(self) -> None:
        """Unquoted dates are text, as Notion wants them."""
        assert {"d": "2026-03-01", "t": "2026-03-01T10:00:00Z"} == loaded(
            "d: 2026-03-01\nt: 2026-03-01T10:00:00Z\n"
        ).data

    def test_special_floats(self) -> None:
        """.inf and .nan are read as floats."""
        data = loaded("a: .inf\nb: -.Inf\nc: .nan\n").data
        assert float("inf") == data["a"]
        assert float("-inf") == data["b"]
        assert data["c"] != data["c"]

    def test_keys_are_text_as_written(self) -> None:
        """Keys are names: `2024:` and `yes:` mean the text written."""
        assert {"2024": 1, "yes": 2, "null": 3} == loaded("2024: 1\nyes: 2\nnull: 3\n").data

    def test_quoted_values_are_text(self) -> None:
        """A quoted number is text."""
        assert {"a": "12", "b": "true"} == loaded("a: '12'\nb: \"true\"\n").data

    def test_standard_tags_are_read(self) -> None:
        """!!str, !!int, !!float, !!bool and !!null work as in YAML."""
        data = loaded(
            "a: !!str 12\nb: !!int '7'\nc: !!float 2\nd: !!bool 'true'\ne: !!null ''\n"
        ).data
        assert {"a": "12", "b": 7, "c": 2.0, "d": True, "e": None} == data

    def test_standard_tag_with_wrong_value(self) -> None:
        """A standard tag that does not fit its value is reported there."""
        assert [
            "spec.yaml:1:4: 'ab' cannot be read as !!int — remove the tag or fix the value"
        ] == problems("a: !!int ab\n")

    def test_huge_integers_stay_text(self) -> None:
        """An integer too long for Python to convert is kept as text, not a crash."""
        digits = "9" * 5000
        assert {"a": digits} == loaded(f"a: {digits}\n").data


class TestSafeYaml:
    def test_aliases_are_refused(self) -> None:
        """Aliases are refused where they are used, so no billion-laughs expansion."""
        assert [
            "spec.yaml:2:4: YAML aliases are not supported (*x) — repeat the value instead, "
            "or use environments/overlays for variants"
        ] == problems("a: &x [1, 2]\nb: *x\n")

    def test_anchors_alone_are_harmless(self) -> None:
        """An anchor nobody refers to is accepted."""
        assert {"a": [1, 2]} == loaded("a: &x [1, 2]\n").data

    def test_python_tags_are_refused(self) -> None:
        """Tags outside the standard ones are refused and nothing is constructed."""
        found = problems("a: !!python/object/apply:os.system [echo hi]\n")
        assert ["spec.yaml:1:4: YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'"] == [
            text.split(" is not")[0] for text in found
        ]

    def test_local_tags_are_refused(self) -> None:
        """A local tag such as !secret is refused."""
        assert "YAML tag '!secret' is not supported" in problems("a: !secret x\n")[0]

    def test_duplicate_keys_are_errors(self, parser: str) -> None:
        """A duplicate key is reported at the duplicate, naming the first line."""
        assert [
            "spec.yaml:3:3: duplicate key 'b' (first defined on line 2) — remove one of them; "
            "YAML keys must be unique within a mapping"
        ] == problems("a:\n  b: 1\n  b: 2\n")

    def test_every_problem_of_a_file_is_reported(self) -> None:
        """Duplicates, aliases and tags do not stop the reading: all are reported."""
        found = problems("a: 1\na: 2\nb: *x\nc: !foo 1\nd: ${NOPE}\n")
        assert [2, 3, 4, 5] == [int(text.split(":")[1]) for text in found]

    def test_complex_keys_are_refused(self) -> None:
        """A list used as a key is refused."""
        assert ["spec.yaml:1:3: only text keys are supported — use a plain name as the key"] == (
            problems("? [a, b]\n: 1\n")
        )

    def test_one_document_only(self) -> None:
        """A second document is refused."""
        found = problems("a: 1\n---\nb: 2\n")
        assert ["spec.yaml:2:1: a spec file holds one YAML document"] == [
            text.split(" — ")[0] for text in found
        ]

    def test_nesting_depth_is_capped(self) -> None:
        """Deep nesting is refused before anything recurses over it."""
        found = problems("a: " + "[" * 200 + "]" * 200 + "\n")
        assert 1 == len(found)
        assert f"nesting is deeper than {load.MAX_DEPTH} levels" in found[0]

    def test_size_is_capped(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A file over the size limit is refused without being parsed."""
        monkeypatch.setattr(load, "MAX_BYTES", 10)
        assert ["spec.yaml:1:1: file is too large (24 bytes, limit 10)"] == [
            text.split(" — ")[0] for text in problems("apiVersion: devfactory/v1\n"[:24])
        ]

    def test_syntax_errors_are_located(self, parser: str) -> None:
        """A syntax error names the place and the problem, and stops that file."""
        found = problems("a: [1, 2\nb: 3\n")
        assert 1 == len(found)
        assert found[0].startswith("spec.yaml:2:")
        assert "invalid YAML" in found[0]

    def test_control_characters_are_located(self) -> None:
        """A control character is reported where it is."""
        found = problems("a: 1\nb: x\x07y\n")
        assert found[0].startswith("spec.yaml:2:5: invalid YAML")

    def test_root_must_be_a_mapping(self) -> None:
        """A list at the top is refused."""
        found = problems("- a\n- b\n")
        assert ["spec.yaml:1:1: a spec file is a YAML mapping"] == [
            t.split(" — ")[0] for t in found
        ]

    def test_empty_file_is_refused(self) -> None:
        """An empty file is not a spec."""
        assert problems("")[0].startswith("spec.yaml:1:1: a spec file is a YAML mapping")

    def test_missing_file(self) -> None:
        """A missing file is one issue naming the path."""
        with pytest.raises(SpecError) as info:
            load_spec_data(Path("nope.yaml"))
        assert ["cannot read nope.yaml: No such file or directory"] == [
            str(issue).split(" — ")[0] for issue in info.value.issues
        ]

    def test_invalid_utf8_is_located(self) -> None:
        """Bytes that are not UTF-8 are reported at their line and column."""
        Path("spec.yaml").write_bytes(b"a: 1\nb: \xff\n")
        assert ["spec.yaml:2:4: file is not valid UTF-8 — save it as UTF-8"] == problems()

    def test_byte_order_mark_is_ignored(self) -> None:
        """A UTF-8 byte order mark does not get in the way."""
        Path("spec.yaml").write_bytes(b"\xef\xbb\xbfa: 1\n")
        assert {"a": 1} == load_spec_data(Path("spec.yaml")).data


class TestOverlays:
    def test_overlay_file_is_deep_merged(self) -> None:
        """Maps merge key by key, lists and scalars replace."""
        write("spec.yaml", BASE)
        write(
            "spec.dev.yaml",
            """\
            databases:
              clients:
                title: "[dev] Clients"
                properties:
                  Status: {type: select, options: [Only]}
                  Notes: rich_text
            """,
        )
        spec = load_spec_data(Path("spec.yaml"), environment="dev")
        clients = spec.data["databases"]["clients"]
        assert "[dev] Clients" == clients["title"]
        assert "🏢" == clients["icon"]
        assert ["Name", "Status", "Notes"] == list(clients["properties"])
        assert {"type": "select", "options": ["Only"]} == clients["properties"]["Status"]
        assert [{"Name": "Acme", "Status": "Active"}] == clients["rows"]

    def test_overlay_positions_point_into_the_overlay(self) -> None:
        """Values from the overlay are located in the overlay, the rest in the spec."""
        write("spec.yaml", BASE)
        write("spec.dev.yaml", 'databases:\n  clients:\n    title: "[dev] Clients"\n')
        source = load_spec_data(Path("spec.yaml"), environment="dev").source
        assert "spec.dev.yaml:3:12" == str(source.locate(("databases", "clients", "title")))
        assert "spec.yaml:6:11" == str(source.locate(("databases", "clients", "icon")))

    def test_lists_replace_whole(self) -> None:
        """An overlay list replaces the base list, even an empty one."""
        write("spec.yaml", BASE)
        write("spec.prod.yaml", "databases:\n  clients:\n    rows: []\n")
        spec = load_spec_data(Path("spec.yaml"), environment="prod")
        assert [] == spec.data["databases"]["clients"]["rows"]

    def test_environments_map_is_merged(self) -> None:
        """environments[env] is merged over the spec, and the key is dropped."""
        spec = loaded(
            BASE + "environments:\n  dev:\n    databases: {clients: {title: Dev}}\n",
            environment="dev",
        )
        assert "Dev" == spec.data["databases"]["clients"]["title"]
        assert "environments" not in spec.data
        assert "spec.yaml:14:34" == str(spec.source.locate(("databases", "clients", "title")))

    def test_file_then_map(self) -> None:
        """The overlay file is merged first, then the environments map over the result."""
        write("spec.yaml", BASE + "environments:\n  dev: {workspace: from-map}\n")
        write("spec.dev.yaml", "workspace: from-file\ndatabases: {clients: {icon: x}}\n")
        spec = load_spec_data(Path("spec.yaml"), environment="dev")
        assert "from-map" == spec.data["workspace"]
        assert "x" == spec.data["databases"]["clients"]["icon"]
        assert (Path("spec.yaml"), Path("spec.dev.yaml")) == spec.files
        assert "dev" == spec.environment

    def test_overlay_file_can_add_to_the_environments_map(self) -> None:
        """An environments map in the overlay file is merged too."""
        write("spec.yaml", BASE)
        write("spec.dev.yaml", "environments:\n  dev: {workspace: late}\n")
        assert "late" == load_spec_data(Path("spec.yaml"), environment="dev").data["workspace"]

    def test_without_environment_nothing_is_merged(self) -> None:
        """With no environment, overlay files and the map are ignored and the map dropped."""
        write("spec.yaml", BASE + "environments:\n  dev: {workspace: dev}\n")
        write("spec.dev.yaml", "workspace: dev\n")
        spec = load_spec_data(Path("spec.yaml"))
        assert "test" == spec.data["workspace"]
        assert "environments" not in spec.data
        assert (Path("spec.yaml"),) == spec.files

    def test_empty_environment_entry(self) -> None:
        """An environment with nothing to change is still an environment."""
        spec = loaded(BASE + "environments:\n  ci:\n", environment="ci")
        assert "test" == spec.data["workspace"]

    def test_unknown_environment_lists_the_known_ones(self) -> None:
        """Asking for an environment nobody defines names those that exist."""
        write("spec.yaml", BASE + "environments:\n  dev: {}\n")
        write("spec.prod.yaml", "workspace: p\n")
        write("other.staging.yaml", "workspace: s\n")
        assert [
            "spec.yaml:12:1: unknown environment 'qa' — known environments: dev, prod"
        ] == problems(environment="qa")

    def test_unknown_environment_without_any(self) -> None:
        """With no environment at all, the hint says how to add one."""
        assert [
            "spec.yaml:1:1: unknown environment 'qa' — add spec.qa.yaml next to the spec, "
            "or an `environments: {qa: …}` map"
        ] == problems(BASE, environment="qa")

    def test_invalid_environment_name(self) -> None:
        """An environment name that could escape the directory is refused."""
        assert [
            "invalid environment name '../x' — use lowercase letters, digits, '-' and '_', "
            "starting with a letter"
        ] == problems(BASE, environment="../x")

    def test_environments_must_be_a_map(self) -> None:
        """environments: as a list is refused where it is."""
        assert problems(BASE + "environments: [dev]\n")[0].startswith(
            "spec.yaml:12:15: `environments` must be a map"
        )

    def test_environment_entries_must_be_maps(self) -> None:
        """An environment that is not a map is refused; bad names too."""
        found = problems(BASE + "environments:\n  dev: 3\n  Bad Name: {}\n")
        assert [
            "spec.yaml:13:8: environment 'dev' must be a map merged over the spec",
            "spec.yaml:14:3: invalid environment name 'Bad Name'",
        ] == [text.split(" — ")[0] for text in found]

    def test_overlay_syntax_error_is_located_in_the_overlay(self) -> None:
        """A broken overlay is reported in the overlay file."""
        write("spec.yaml", BASE)
        write("spec.dev.yaml", "databases: [\n")
        found = problems(environment="dev")
        assert 1 == len(found)
        assert found[0].startswith("spec.dev.yaml:2:1: invalid YAML")

    def test_problems_of_both_files_are_collected(self) -> None:
        """Issues of the spec and of its overlay come together."""
        write("spec.yaml", BASE + "a: 1\na: 2\n")
        write("spec.dev.yaml", "b: ${MISSING}\n")
        found = problems(environment="dev", environ={})
        assert ["spec.yaml:13:1", "spec.dev.yaml:1:4"] == [t.split(": ")[0] for t in found]


class TestInterpolation:
    def test_variables_are_replaced(self) -> None:
        """${VAR} anywhere in a string is replaced from environ."""
        data = loaded(
            "a: ${X}\nb: 'id-${X}-${Y}'\nc: ['${Y}']\n", environ={"X": "1", "Y": "two"}
        ).data
        assert {"a": "1", "b": "id-1-two", "c": ["two"]} == data

    def test_defaults(self) -> None:
        """${VAR:-default} uses the default when VAR is unset or empty."""
        data = loaded(
            "a: ${X:-dflt}\nb: ${E:-dflt}\nc: ${S:-dflt}\nd: ${E}\n", environ={"E": "", "S": "set"}
        ).data
        assert {"a": "dflt", "b": "dflt", "c": "set", "d": ""} == data

    def test_escape(self) -> None:
        """$${ is a literal ${ and plain $ signs are left alone."""
        data = loaded("a: '$${X} costs $5'\n", environ={"X": "1"}).data
        assert {"a": "${X} costs $5"} == data

    def test_values_are_not_reinterpreted(self) -> None:
        """A substituted value stays text and is not interpolated again."""
        assert {"a": "${Y}"} == loaded("a: ${X}\n", environ={"X": "${Y}"}).data

    def test_keys_are_not_interpolated(self) -> None:
        """Only values are interpolated."""
        assert {"${X}": 1} == loaded("${X}: 1\n", environ={"X": "k"}).data

    def test_unset_variable_is_located_exactly(self) -> None:
        """An unset variable is reported at its own column, named."""
        assert [
            "spec.yaml:2:12: environment variable TOKEN is not set — write ${NAME} or "
            "${NAME:-default}; write $${ for a literal ${"
        ] == problems("a: 1\nb: 'Bearer ${TOKEN}'\n", environ={})

    def test_every_unset_variable_is_reported(self) -> None:
        """All unset variables are reported at once."""
        found = problems("a: ${A}\nb: ['${B}', '${C}']\n", environ={})
        assert ["A", "B", "C"] == [text.split("variable ")[1].split(" ")[0] for text in found]

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("'x ${'", "unterminated '${' (no closing '}')"),
            ("'${1X}'", "invalid variable reference '${1X}'"),
            ("'${A B}'", "invalid variable reference '${A B}'"),
        ],
    )
    def test_malformed_references(self, value: str, message: str) -> None:
        """Malformed references are errors, not left as they are."""
        assert message == problems(f"a: {value}\n", environ={})[0].split(": ", 1)[1].split(" — ")[0]

    def test_only_the_chosen_environment_needs_its_variables(self) -> None:
        """Variables in another environment's overlay are not needed."""
        text = BASE + "environments:\n  prod: {parent: {page_id: '${PAGE}'}}\n  dev: {}\n"
        assert "parent" not in loaded(text, environment="dev", environ={}).data
        assert ["spec.yaml:13:29: environment variable PAGE is not set"] == [
            t.split(" — ")[0] for t in problems(text, environment="prod", environ={})
        ]

    def test_environ_defaults_to_the_process_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without environ, os.environ is used."""
        monkeypatch.setenv("DEVFACTORY_TEST_VALUE", "from-env")
        assert {"a": "from-env"} == loaded("a: ${DEVFACTORY_TEST_VALUE}\n").data

    def test_interpolated_strings_lose_offsets(self) -> None:
        """After substitution the source columns no longer match: the value start is given."""
        spec = loaded("a: '${X} + 1'\n", environ={"X": "long value"})
        assert Location("spec.yaml", 1, 4) == spec.source.locate_offset(("a",), 12)


class TestExample:
    @pytest.mark.parametrize("environment", [None, "dev", "staging", "prod"])
    def test_consulting_example_loads(
        self, environment: str | None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The shipped example loads in every environment."""
        monkeypatch.chdir(Path(__file__).parents[2])
        spec = load_spec_data(
            Path("examples/consulting/workspace.yaml"),
            environment=environment,
            environ={"NOTION_PARENT_PAGE_ID": "0" * 32},
        )
        assert 7 == len(spec.data["databases"])
        assert "environments" not in spec.data
