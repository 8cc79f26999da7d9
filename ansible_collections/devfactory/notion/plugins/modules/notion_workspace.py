#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, devfactory contributors
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: notion_workspace
short_description: Converge a Notion workspace to a devfactory spec
version_added: "0.1.0"
description:
  - Plans the changes that take a Notion workspace to a devfactory workspace spec and applies
    them, the way C(devfactory apply --auto-approve) does, then verifies that a fresh plan is
    empty.
  - Databases, properties, relations (both ways), rollups, formulas and seed rows are matched
    by the ids in the deploy state, so renames happen in place and a second run makes no
    call.
  - Destructive changes (removing a property, changing its type, removing select options that
    rows use) pass devfactory's confidence gate, or run with O(allow_destroy) after an
    encrypted backup of the affected databases.
  - In check mode the module only plans; nothing is written to Notion or to the state.
  - A thin layer over the devfactory library (C(devfactory.deploy.engine)).
options:
  allow_destroy:
    description:
      - Make destructive changes without the gate's approval.
      - The databases they touch are backed up first, encrypted with
        E(DEVFACTORY_BACKUP_KEY) (or O(backup_key)); without a key nothing is changed.
      - Databases with C(protect) set in the spec refuse destructive changes regardless.
    type: bool
    default: false
  backup_key:
    description:
      - Key for the backup taken before destructive changes (base64 of 32 bytes, or a
        passphrase).
      - If not set, the environment variable E(DEVFACTORY_BACKUP_KEY) is used.
    type: str
  verify:
    description:
      - After applying, plan again and fail if the workspace did not converge.
    type: bool
    default: true
  validate_only:
    description:
      - Only load and validate the spec (as C(devfactory validate)); no call to Notion is made.
    type: bool
    default: false
extends_documentation_fragment:
  - devfactory.notion.connection
  - devfactory.notion.connection.spec
attributes:
  check_mode:
    support: full
    description: Plans and reports what would change; nothing is written.
  diff_mode:
    support: full
    description: Returns the planned changes as before and after, one pair per database.
  platform:
    support: full
    platforms: posix
    description: Runs wherever Notion (or the local server) is reachable, usually the controller.
author:
  - devfactory contributors (@devfactory)
seealso:
  - module: devfactory.notion.notion_workspace_info
  - module: devfactory.notion.notion_backup
"""

EXAMPLES = r"""
- name: Deploy the consulting workspace (dev) to a local Notion server
  devfactory.notion.notion_workspace:
    spec: examples/consulting/workspace.yaml
    environment: dev
    target: http://127.0.0.1:8787
    token: "{{ local_notion_token }}"
    home: /var/lib/devfactory/acme
  register: deployed

- name: Show the report
  ansible.builtin.debug:
    msg: "{{ deployed.summary }} — report in {{ deployed.report }}"

- name: A spec built from variables, on real Notion (token from NOTION_TOKEN)
  devfactory.notion.notion_workspace:
    spec_inline: "{{ base_spec | combine(overrides, recursive=True) }}"
    environment: prod
    spec_vars:
      NOTION_PARENT_PAGE_ID: "{{ parent_page_id }}"

- name: Allow destructive changes (backed up first)
  devfactory.notion.notion_workspace:
    spec: workspace.yaml
    environment: dev
    allow_destroy: true
    backup_key: "{{ vault_backup_key }}"

- name: Only validate the spec (no call to Notion)
  devfactory.notion.notion_workspace:
    spec: workspace.yaml
    environment: prod
    validate_only: true
    spec_vars:
      NOTION_PARENT_PAGE_ID: "0123456789abcdef0123456789abcdef"
"""

RETURN = r"""
workspace:
  description: The workspace name from the spec.
  returned: always
  type: str
  sample: consulting
environment:
  description: The environment deployed.
  returned: always
  type: str
  sample: dev
target:
  description: The target's label (never a token).
  returned: unless validate_only
  type: str
  sample: http://127.0.0.1:8787
summary:
  description: Counts of resources the plan adds, changes and destroys.
  returned: unless validate_only
  type: dict
  sample: {"add": 43, "change": 0, "destroy": 0}
changes:
  description: The plan's changes, one line each, with Terraform's symbols.
  returned: unless validate_only
  type: list
  elements: str
  sample: ['+ databases.clients: database "[dev] Clients"']
drift:
  description: Changes made outside devfactory that the plan puts back.
  returned: unless validate_only
  type: list
  elements: str
notes:
  description: What the plan cannot change and only reports.
  returned: unless validate_only
  type: list
  elements: str
refused:
  description: Destructive changes a protected database refuses.
  returned: unless validate_only
  type: list
  elements: str
calls:
  description: The API calls the plan promises (C(total) and C(by_kind)).
  returned: unless validate_only
  type: dict
  sample: {"total": 47, "by_kind": {"create_database": 7}}
observe_reads:
  description: Reads made to observe the workspace before planning.
  returned: unless validate_only
  type: int
plan:
  description: The plan as the CLI prints it.
  returned: unless validate_only
  type: str
report:
  description: Path of the YAML apply report in C($DEVFACTORY_HOME/reports).
  returned: when applied (not in check mode)
  type: str
  sample: /var/lib/devfactory/acme/reports/consulting.dev.20261125T195155.yaml
calls_made:
  description: Calls the apply made.
  returned: when applied (not in check mode)
  type: int
retries:
  description: Retried calls during the apply.
  returned: when applied (not in check mode)
  type: int
verified:
  description: Whether a fresh plan after the apply was empty (null when not verified).
  returned: when applied (not in check mode)
  type: bool
remaining:
  description: What a fresh plan after the apply still wanted to change.
  returned: when applied (not in check mode)
  type: list
  elements: str
backups:
  description: Backup files written before destructive changes.
  returned: when applied (not in check mode)
  type: list
  elements: str
state_file:
  description: Path of the deploy state (ids of every database, property and seed row).
  returned: unless validate_only
  type: str
databases:
  description: Number of databases in the spec.
  returned: always
  type: int
  sample: 7
properties:
  description: Number of properties in the spec (back properties of two-way relations included).
  returned: always
  type: int
rows:
  description: Number of seed rows in the spec.
  returned: always
  type: int
error_kind:
  description:
    - On failure, what kind of failure it was, for C(rescue) blocks to act on.
    - One of V(spec), V(config), V(locked), V(approval_required), V(refused), V(target),
      V(unauthorized), V(forbidden), V(not_found), V(rate_limited), V(timeout),
      V(unreachable), V(transient), V(notion), V(user), V(internal), or V(not_converged)
      when the apply ran but verify still found changes.
  returned: failed
  type: str
  sample: unauthorized
approval_id:
  description: The approval to review when the gate halted destructive changes.
  returned: when error_kind is approval_required
  type: str
"""

import asyncio

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible_collections.devfactory.notion.plugins.module_utils.devfactory_common import (
    api_for,
    connection_argument_spec,
    fail_on_error,
    load_spec,
    plan_diff,
    plan_result,
    require_devfactory,
    settings_for,
    spec_argument_spec,
    target_for,
)

try:
    from pydantic import SecretStr
except ImportError:
    pass  # require_devfactory() fails with the missing library's message


def _spec_counts(workspace):
    return dict(
        databases=len(workspace.databases),
        properties=sum(len(db.properties) for db in workspace.databases.values()),
        rows=sum(len(db.rows) for db in workspace.databases.values()),
    )


def _plan(module, loaded, settings, target):
    from devfactory.deploy.engine import plan_workspace
    from devfactory.deploy.state import StateFile
    from devfactory.notion.target import NotionSession

    ws = loaded.workspace
    state = StateFile(settings.home, ws.workspace, ws.environment).load(target.label)

    async def run():
        async with NotionSession(target) as session:
            return await plan_workspace(ws, state, session, api_for(module))

    return asyncio.run(run())


def _apply(module, loaded, settings, target):
    from devfactory.db import Database
    from devfactory.deploy.backup import backup_before_destroy
    from devfactory.deploy.engine import ApplyOptions, apply_workspace
    from devfactory.gate import gate_for

    async def backup(plan, state, session, api):
        return await backup_before_destroy(plan, state, session, api, settings)

    options = ApplyOptions(
        auto_approve=True,
        allow_destroy=module.params["allow_destroy"],
        verify=module.params["verify"],
        backup=backup,
    )
    # Destructive changes pass the confidence gate as they do in the CLI; its approvals
    # live in the store of this DEVFACTORY_HOME.
    store = Database(settings.store_url)
    try:
        options.gate = gate_for(settings, store)
        return asyncio.run(
            apply_workspace(loaded.workspace, target, settings.home, options, api=api_for(module))
        )
    finally:
        store.close()


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(spec_argument_spec())
    argument_spec.update(
        allow_destroy=dict(type="bool", default=False),
        backup_key=dict(type="str", no_log=True, fallback=(env_fallback, ["DEVFACTORY_BACKUP_KEY"])),
        verify=dict(type="bool", default=True),
        validate_only=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("spec", "spec_inline")],
        required_one_of=[("spec", "spec_inline")],
        supports_check_mode=True,
    )
    require_devfactory(module)

    from devfactory.deploy.render import render_plan
    from devfactory.deploy.state import StateFile

    result = dict(changed=False)
    label = None
    loaded = None
    try:
        loaded = load_spec(module)
        ws = loaded.workspace
        result.update(workspace=ws.workspace, environment=ws.environment, **_spec_counts(ws))
        if module.params["validate_only"]:
            module.exit_json(**result)
        extra = {}
        if module.params.get("backup_key"):
            extra["backup_key"] = SecretStr(module.params["backup_key"])
        settings = settings_for(module, **extra)
        target = target_for(module, settings)
        label = target.label
        result["target"] = label
        result["state_file"] = str(StateFile(settings.home, ws.workspace, ws.environment).path)
        if module.check_mode:
            plan = _plan(module, loaded, settings, target)
        else:
            report = _apply(module, loaded, settings, target)
            plan = report.plan
            result.update(
                report=str(report.path) if report.path is not None else None,
                calls_made=report.calls_made,
                retries=report.retries,
                verified=report.verified,
                remaining=list(report.remaining),
                backups=list(report.backups),
            )
        result.update(plan_result(plan))
        result["plan"] = render_plan(plan, rate=target.rate)
        result["changed"] = not plan.empty
        if module._diff and not plan.empty:
            result["diff"] = plan_diff(plan)
    except Exception as exc:  # devfactory's errors become fail_json with their kind
        fail_on_error(module, exc, label, **result)
    finally:
        if loaded is not None:
            loaded.close()
    if result.get("verified") is False:
        module.fail_json(
            msg="applied, but verify found the workspace not converged: %s"
            % "; ".join(result["remaining"]),
            error_kind="not_converged",
            **result
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
