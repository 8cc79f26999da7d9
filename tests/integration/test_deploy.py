"""The deploy engine end to end on the embedded local server: converge, stay idempotent,
rename in place, guard destructive changes, adopt, recover from drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devfactory.deploy.state import StateFile
from devfactory.errors import PlanError
from tests.integration.deploy_helpers import (
    apply,
    desired,
    embedded,
    plan,
    spec_data,
    verify,
    with_client,
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def state_of(home: Path, ws: Any, target: Any) -> Any:
    return StateFile(home, ws.workspace, ws.environment).load(target.label)


def rows_of(target: Any, data_source_id: str) -> list[dict[str, Any]]:
    async def read(client: Any) -> list[dict[str, Any]]:
        result = await client.data_sources.query(data_source_id)
        return list(result["results"])

    return list(with_client(target, read))


def title(row: dict[str, Any]) -> str:
    return "".join(
        t["plain_text"]
        for p in row["properties"].values()
        if p["type"] == "title"
        for t in p["title"]
    )


class TestConverge:
    def test_first_apply_creates_everything_and_verifies(self, home: Path) -> None:
        """From empty: the calls made equal the calls planned, and a new plan is empty."""
        ws = desired(spec_data())
        target = embedded(home)
        report = apply(ws, target, home)
        assert report.error is None and report.verified is True
        assert report.calls_planned == report.calls_made and report.retries == 0
        assert {"add": 8, "change": 0, "destroy": 0} == report.plan.summary  # type: ignore[union-attr]
        state = state_of(home, ws, target)
        rows = {title(r): r for r in rows_of(target, state.databases["clients"].data_source_id)}
        acme = rows["Acme Corp"]["properties"]
        assert 2 == acme["Active Projects"]["rollup"]["number"]
        assert 16500 == acme["Pipeline"]["rollup"]["number"]
        projects = {
            title(r): r for r in rows_of(target, state.databases["projects"].data_source_id)
        }
        assert 2400 == projects["Website"]["properties"]["Margin"]["formula"]["number"]
        assert [projects["Website"]["id"]] == [
            x["id"] for x in projects["Audit"]["properties"]["Depends on"]["relation"]
        ]

    def test_second_apply_writes_nothing_and_reads_little(self, home: Path) -> None:
        """Idempotent: 0 changes, no write, reads at most data sources + 1."""
        ws = desired(spec_data())
        target = embedded(home)
        apply(ws, target, home)
        again = apply(ws, target, home)
        assert again.plan is not None and again.plan.empty
        assert 0 == again.calls_made
        assert again.observe_reads <= len(ws.databases) + 1

    def test_report_file_is_written(self, home: Path) -> None:
        """Every apply leaves a YAML report with calls and verification."""
        report = apply(desired(spec_data()), embedded(home), home)
        assert report.path is not None and report.path.exists()
        text = report.path.read_text()
        assert "calls:" in text and "verification:" in text


class TestChanges:
    def test_renamed_from_keeps_the_column_and_its_data(self, home: Path) -> None:
        """renamed_from renames in place: same property id, values kept, no -/+."""
        target = embedded(home)
        apply(desired(spec_data()), target, home)
        before = state_of(home, desired(spec_data()), target).databases["clients"]

        def rename(data: dict[str, Any]) -> None:
            props = data["databases"]["clients"]["properties"]
            props["Remarks"] = {"type": "rich_text", "renamed_from": ["Notes"]}
            del props["Notes"]
            acme = data["databases"]["clients"]["rows"][0]
            acme["Remarks"] = acme.pop("Notes")

        ws = desired(spec_data(rename))
        planned = plan(ws, target, home)
        assert ["update"] == [c.action for c in planned.changes]
        assert not planned.destructive
        # the seed rows' values did not change, only the name they are under: no row write
        assert ["update_data_source"] == [s.kind for s in planned.steps]
        report = apply(ws, target, home)
        assert report.verified is True and 1 == report.calls_made
        after = state_of(home, ws, target).databases["clients"]
        assert before.properties["Notes"] == after.properties["Remarks"]
        assert "Notes" not in after.properties
        assert plan(ws, target, home).empty
        rows = {title(r): r for r in rows_of(target, after.data_source_id)}
        assert (
            "first client"
            == rows["Acme Corp"]["properties"]["Remarks"]["rich_text"][0]["plain_text"]
        )

    def test_rename_done_in_notion_is_put_back_in_place(self, home: Path) -> None:
        """A column renamed in the UI is renamed back by id (drift), never recreated."""
        ws = desired(spec_data())
        target = embedded(home)
        apply(ws, target, home)
        state = state_of(home, ws, target)
        notes_id = state.databases["clients"].properties["Notes"]

        async def ui_rename(client: Any) -> None:
            await client.data_sources.update(
                state.databases["clients"].data_source_id, properties={notes_id: {"name": "Memo"}}
            )

        with_client(target, ui_rename)
        planned = plan(ws, target, home)
        assert ["update"] == [c.action for c in planned.changes]
        assert planned.drift and "Memo" in planned.drift[0].summary
        apply(ws, target, home)
        assert notes_id == state_of(home, ws, target).databases["clients"].properties["Notes"]

    def test_rename_done_in_notion_then_taken_into_the_spec(self, home: Path) -> None:
        """Renamed in the UI, then the spec follows (rows too): nothing to do, no row rewrite,
        and the state knows the column by its new name."""
        target = embedded(home)
        apply(desired(spec_data()), target, home)
        state = state_of(home, desired(spec_data()), target)
        notes_id = state.databases["clients"].properties["Notes"]

        async def ui_rename(client: Any) -> None:
            await client.data_sources.update(
                state.databases["clients"].data_source_id, properties={notes_id: {"name": "Memo"}}
            )

        def follow(data: dict[str, Any]) -> None:
            props = data["databases"]["clients"]["properties"]
            props["Memo"] = props.pop("Notes")
            acme = data["databases"]["clients"]["rows"][0]
            acme["Memo"] = acme.pop("Notes")

        with_client(target, ui_rename)
        ws = desired(spec_data(follow))
        planned = plan(ws, target, home)
        assert planned.empty and not planned.drift
        assert {"clients": {"Acme Corp"}} == {k: set(v) for k, v in planned.row_hashes.items()}
        report = apply(ws, target, home)
        assert 0 == report.calls_made
        after = state_of(home, ws, target).databases["clients"]
        assert notes_id == after.properties["Memo"] and "Notes" not in after.properties
        assert plan(ws, target, home).empty

    def test_removal_is_refused_without_allow_destroy(self, home: Path) -> None:
        """Removing a managed property is destructive: refused, then allowed with the flag."""
        target = embedded(home)
        apply(desired(spec_data()), target, home)

        def drop(data: dict[str, Any]) -> None:
            del data["databases"]["clients"]["properties"]["Notes"]

        ws = desired(spec_data(drop))
        with pytest.raises(PlanError, match="destructive"):
            apply(ws, target, home)
        report = apply(ws, target, home, allow_destroy=True, backup=None)
        assert report.verified is True
        assert (
            "Notes" not in state_of(home, ws, target).databases["clients"].properties
            or report.plan is not None
        )

    def test_protected_database_refuses_even_with_allow_destroy(self, home: Path) -> None:
        """protect: true refuses destructive changes whatever the flags."""

        def protect(data: dict[str, Any]) -> None:
            data["databases"]["clients"]["protect"] = True

        target = embedded(home)
        apply(desired(spec_data(protect)), target, home)

        def drop(data: dict[str, Any]) -> None:
            protect(data)
            del data["databases"]["clients"]["properties"]["Notes"]

        with pytest.raises(PlanError, match="protected"):
            apply(desired(spec_data(drop)), target, home, allow_destroy=True)

    def test_removing_an_option_rows_use_is_destructive(self, home: Path) -> None:
        """Dropping a select option a row uses is destructive; an unused one is not."""
        target = embedded(home)
        apply(desired(spec_data()), target, home)

        def drop_used(data: dict[str, Any]) -> None:
            data["databases"]["clients"]["properties"]["Status"]["options"] = [
                "Active",
                {"name": "Archived", "color": "gray"},
            ]

        def drop_unused(data: dict[str, Any]) -> None:
            data["databases"]["clients"]["properties"]["Status"]["options"] = ["Active", "Prospect"]

        assert plan(desired(spec_data(drop_used)), target, home).destructive
        unused = plan(desired(spec_data(drop_unused)), target, home)
        assert not unused.destructive and unused.changes

    def test_type_change_is_a_destructive_replace(self, home: Path) -> None:
        """Changing a property's type shows -/+ and needs --allow-destroy."""
        target = embedded(home)
        apply(desired(spec_data()), target, home)

        def retype(data: dict[str, Any]) -> None:
            data["databases"]["clients"]["properties"]["Notes"] = "url"

        planned = plan(desired(spec_data(retype)), target, home)
        assert ["replace"] == [c.action for c in planned.changes]
        assert planned.destructive

    def test_new_property_and_option_apply_in_place(self, home: Path) -> None:
        """Adding a property and an option is one PATCH of the data source."""
        target = embedded(home)
        apply(desired(spec_data()), target, home)

        def grow(data: dict[str, Any]) -> None:
            props = data["databases"]["clients"]["properties"]
            props["Website"] = "url"
            props["Status"]["options"].append("Churned")

        planned = plan(desired(spec_data(grow)), target, home)
        assert 1 == len(planned.steps) and "update_data_source" == planned.steps[0].kind
        assert apply(desired(spec_data(grow)), target, home).verified is True


class TestRecovery:
    def test_database_deleted_outside_is_recreated(self, home: Path) -> None:
        """The "disappears" test: a database trashed and gone is planned again."""
        ws = desired(spec_data())
        target = embedded(home)
        apply(ws, target, home)
        state = state_of(home, ws, target)
        path = home / "notion.sqlite"
        from devfactory.emulator.store import Store

        store = Store(path)
        with store.transaction():
            for record_id in (state.databases["clients"].data_source_id,):
                record = store.get(record_id)
                assert record is not None
                store.remove(record)
        store.close()
        planned = plan(ws, target, home)
        assert any(
            c.address == "databases.clients" and c.action == "create" for c in planned.changes
        )
        assert apply(ws, target, home).verified is True

    def test_lost_state_adopts_instead_of_duplicating(self, home: Path) -> None:
        """Without its state file, apply finds the root page, databases and rows by title."""
        ws = desired(spec_data())
        target = embedded(home)
        apply(ws, target, home)
        old = state_of(home, ws, target)
        StateFile(home, ws.workspace, ws.environment).path.unlink()
        report = apply(ws, target, home)
        assert report.verified is True
        new = state_of(home, ws, target)
        assert old.root_page_id == new.root_page_id
        assert {k: v.database_id for k, v in old.databases.items()} == {
            k: v.database_id for k, v in new.databases.items()
        }
        assert 3 == len(rows_of(target, new.databases["projects"].data_source_id))

    def test_verify_reports_drift_and_checks(self, home: Path) -> None:
        """verify: exit 0 in sync; after a change outside, exit 2 with the drift listed."""
        ws = desired(spec_data())
        target = embedded(home)
        apply(ws, target, home)
        clean = verify(ws, target, home)
        assert 0 == clean.exit_code and all(c.ok for c in clean.checks)
        state = state_of(home, ws, target)

        async def drop_column(client: Any) -> None:
            await client.data_sources.update(
                state.databases["projects"].data_source_id, properties={"Budget": None}
            )

        with_client(target, drop_column)
        drifted = verify(ws, target, home)
        assert 2 == drifted.exit_code
        assert any("Budget" in c.address for c in drifted.plan.changes)
