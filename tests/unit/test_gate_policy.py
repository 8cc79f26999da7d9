"""The policy file: loading, errors with file:line:col, and how rules match calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from devfactory.errors import PolicyError
from devfactory.gate.policy import Policy, ToolCall, load_policy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "policy.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_example_policy_loads_and_classifies_filesystem_tools() -> None:
    """examples/policy.yaml compiles; reads are read, writes are write, per its rules."""
    policy = load_policy(EXAMPLE)
    assert (
        "read"
        == policy.assess(
            ToolCall("filesystem", "filesystem__read_text_file", {"path": "/projects/a"})
        ).risk
    )
    assert (
        "write"
        == policy.assess(
            ToolCall("filesystem", "filesystem__write_file", {"path": "/projects/a"})
        ).risk
    )
    assert (
        "destructive"
        == policy.assess(ToolCall("docker", "docker__remove", {"container": "x"})).risk
    )


def test_unknown_decision_word_is_reported_with_its_position(tmp_path: Path) -> None:
    """A wrong decision word names file:line:col of the value."""
    path = write(tmp_path, 'rules:\n  - match: "x__*"\n    decision: maybe\n')
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert f"{path}:3:15: unknown decision 'maybe'" in str(err.value)


def test_unknown_keys_bad_regex_and_bad_glob_are_all_reported(tmp_path: Path) -> None:
    """Every problem is listed, each at its own line."""
    path = write(
        tmp_path,
        "rules:\n"
        '  - match: "a__*"\n'
        "    decison: deny\n"
        '  - match: "b__[x"\n'
        "    decision: deny\n"
        "  - match: c__x\n"
        '    when: {query: {regex: "(unclosed"}}\n'
        "    decision: deny\n",
    )
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    text = str(err.value)
    assert f"{path}:3:5: unknown key 'decison'" in text
    assert f"{path}:4:12: unbalanced brackets" in text
    assert f"{path}:7:" in text and "invalid regular expression" in text
    assert 4 == len(err.value.issues)  # the first rule also lacks a decision


def test_yaml_syntax_error_is_a_policy_error(tmp_path: Path) -> None:
    """Broken YAML is reported as a PolicyError with its position, not a traceback."""
    path = write(tmp_path, "rules: [\n  - match: x\n")
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert str(path) in str(err.value) and "invalid YAML" in str(err.value)


def test_deny_beats_halt_beats_allow(tmp_path: Path) -> None:
    """All matching rules apply and the strongest decision wins, whatever the order."""
    path = write(
        tmp_path,
        "rules:\n"
        '  - {match: "fs__*", decision: allow}\n'
        '  - {match: "fs__write", decision: halt, reason: review writes}\n'
        '  - {match: "*write*", when: {path: {glob: "/etc/**"}}, decision: deny, reason: no etc}\n',
    )
    policy = load_policy(path)
    assert "deny" == policy.assess(ToolCall("fs", "fs__write", {"path": "/etc/x"})).decision
    assert "halt" == policy.assess(ToolCall("fs", "fs__write", {"path": "/tmp/x"})).decision
    assert "allow" == policy.assess(ToolCall("fs", "fs__read", {"path": "/etc/x"})).decision


def test_the_most_dangerous_risk_wins_and_overrides_annotations(tmp_path: Path) -> None:
    """A rule's risk class beats the server's annotations; of two rules the graver wins."""
    path = write(
        tmp_path,
        'rules:\n  - {match: "t__*", risk: write}\n  - {match: "t__drop", risk: destructive}\n',
    )
    policy = load_policy(path)
    call = ToolCall("t", "t__drop", annotations={"readOnlyHint": True})
    assert ("destructive", "policy") == (policy.assess(call).risk, policy.assess(call).risk_source)
    assert (
        "write" == policy.assess(ToolCall("t", "t__put", annotations={"readOnlyHint": True})).risk
    )


def test_unclassified_tools_fall_back_to_annotations_then_destructive() -> None:
    """No rule: read-only hint → read; closed-world non-destructive → write; else destructive."""
    policy = Policy()
    assert "read" == policy.assess(ToolCall("s", "x", annotations={"readOnlyHint": True})).risk
    closed = {"destructiveHint": False, "openWorldHint": False}
    assert "write" == policy.assess(ToolCall("s", "x", annotations=closed)).risk
    open_world = policy.assess(ToolCall("s", "x", annotations={"destructiveHint": False}))
    assert ("destructive", "annotations") == (open_world.risk, open_world.risk_source)
    bare = policy.assess(ToolCall("s", "x"))
    assert ("destructive", "unknown") == (bare.risk, bare.risk_source)


@pytest.mark.parametrize(
    ("when", "args", "holds"),
    [
        ("{recursive: true}", {"recursive": True}, True),
        ("{recursive: true}", {"recursive": 1}, False),
        ("{count: {gt: 10}}", {"count": 11}, True),
        ("{count: {gt: 10}}", {"count": 10}, False),
        ("{count: {le: 10}}", {"count": True}, False),
        ('{query: {regex: "(?i)drop table"}}', {"query": "x; DROP TABLE t"}, True),
        ("{net: {in: [host, none]}}", {"net": "host"}, True),
        ("{net: {in: [host, none]}}", {"net": "bridge"}, False),
        ("{force: {exists: true}}", {"force": False}, True),
        ("{force: {exists: false}}", {"force": False}, False),
        ("{opts.privileged: true}", {"opts": {"privileged": True}}, True),
        ('{paths: {glob: "/etc/**"}}', {"paths": ["/tmp/a", "/etc/b"]}, True),
        ('{path: {glob: "/etc/**"}}', {"path": "/srv/app/../../etc/shadow"}, True),
        ('{path: {glob: "/etc/**"}}', {"path": "/etcetera/x"}, False),
        ("{tags: {contains: urgent}}", {"tags": ["a", "urgent"]}, True),
        ('{name: {equals: x, regex: "^x$"}}', {"name": "x"}, True),
    ],
)
def test_when_predicates(tmp_path: Path, when: str, args: dict[str, object], holds: bool) -> None:
    """Each condition kind of ``when``; all conditions of a rule must hold."""
    path = write(tmp_path, f'rules:\n  - match: "t"\n    when: {when}\n    decision: deny\n')
    policy = load_policy(path)
    assert holds == ("deny" == policy.assess(ToolCall("s", "t", args)).decision)


def test_server_glob_restricts_a_rule(tmp_path: Path) -> None:
    """``match: {server: ...}`` only matches calls to that server."""
    path = write(tmp_path, 'rules:\n  - {match: {server: "prod-*"}, decision: halt}\n')
    policy = load_policy(path)
    assert "halt" == policy.assess(ToolCall("prod-db", "anything")).decision
    assert policy.assess(ToolCall("dev-db", "anything")).decision is None


def test_defaults_and_durations(tmp_path: Path) -> None:
    """Defaults set the verdict per risk, the approval TTL (30m) and the thresholds."""
    path = write(
        tmp_path,
        "defaults:\n  destructive: allow\n  approval_ttl: 30m\n  thresholds: {blast_radius: 5}\n",
    )
    defaults = load_policy(path).defaults
    assert ("allow", 1800.0, 5) == (
        defaults.destructive,
        defaults.approval_ttl,
        defaults.blast_radius,
    )


def test_unparseable_arguments_are_flagged() -> None:
    """Raw text that is not a JSON object is unusable; a JSON object string is parsed."""
    policy = Policy()
    assert policy.assess(ToolCall("s", "t", "not json")).argument_problem
    assert "not an object" in str(policy.assess(ToolCall("s", "t", "[1, 2]")).argument_problem)
    parsed = policy.assess(ToolCall("s", "t", '{"a": 1}'))
    assert ({"a": 1}, None) == (parsed.arguments, parsed.argument_problem)


def test_schema_failures_are_flagged() -> None:
    """With an input schema, a missing required argument or a wrong type is a problem."""
    schema = {"required": ["path"], "properties": {"path": {"type": "string"}}}
    missing = ToolCall("s", "t", {}, input_schema=schema).parsed_arguments()
    assert (
        None,
        "arguments do not fit the tool's schema: missing required argument 'path'",
    ) == missing
    wrong = ToolCall("s", "t", {"path": 3}, input_schema=schema).parsed_arguments()
    assert "should be string" in str(wrong[1])


def test_tool_call_round_trips_through_json_and_fingerprints_canonically() -> None:
    """to_json/from_json keep every field; key order does not change the fingerprint."""
    call = ToolCall(
        "notion",
        "notion__trash_page",
        {"b": 1, "a": [1, 2]},
        {"destructiveHint": True},
        {"rationale": "user asked", "confidence": 0.9},
        {"affected": 3},
    )
    again = ToolCall.from_json(call.to_json())
    assert call == again
    assert (
        call.fingerprint()
        == ToolCall("notion", "notion__trash_page", {"a": [1, 2], "b": 1}).fingerprint()
    )
    assert (
        call.fingerprint()
        != ToolCall("notion", "notion__trash_page", {"a": [1, 2], "b": 2}).fingerprint()
    )
