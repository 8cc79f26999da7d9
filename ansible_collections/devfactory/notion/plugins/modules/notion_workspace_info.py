#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, devfactory contributors
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: notion_workspace_info
short_description: Report drift and the deploy state of a Notion workspace
version_added: "0.1.0"
description:
  - Plans a devfactory workspace spec against the live workspace and returns what applying
    would change (drift), and the deploy state, the ids of every database, data source,
    property and seed row that relations are resolved with.
  - With O(checks), also runs C(devfactory verify)'s checks, every database exists, every
    property has its type, every relation points at the right database, every seed row
    exists, every rollup computes.
  - Never changes anything, in Notion or in the state.
  - A thin layer over the devfactory library (C(devfactory.deploy.engine)).
options:
  checks:
    description:
      - Also read every row and run the verification checks of C(devfactory verify).
    type: bool
    default: false
extends_documentation_fragment:
  - devfactory.notion.connection
  - devfactory.notion.connection.spec
attributes:
  check_mode:
    support: full
    description: The module never changes anything, so it runs unchanged in check mode.
  diff_mode:
    support: none
    description: The module changes nothing, so there is no diff; RV(drift) lists what would change.
  platform:
    support: full
    platforms: posix
    description: Runs wherever Notion (or the local server) is reachable, usually the controller.
author:
  - devfactory contributors (@devfactory)
seealso:
  - module: devfactory.notion.notion_workspace
"""

EXAMPLES = r"""
- name: Is the workspace in sync with the spec?
  devfactory.notion.notion_workspace_info:
    spec: examples/consulting/workspace.yaml
    environment: dev
    checks: true
  register: info

- name: Fail on drift
  ansible.builtin.assert:
    that: info.in_sync
    fail_msg: "drift: {{ info.drift | join(', ') }}"

- name: The data source id of the clients database (from the deploy state)
  ansible.builtin.debug:
    msg: "{{ info.state.databases.clients.data_source_id }}"
"""

RETURN = r"""
workspace:
  description: The workspace name from the spec.
  returned: always
  type: str
  sample: consulting
environment:
  description: The environment.
  returned: always
  type: str
  sample: dev
target:
  description: The target's label (never a token).
  returned: always
  type: str
in_sync:
  description: Whether the plan is empty (and, with O(checks), every check passed).
  returned: always
  type: bool
drift:
  description: What applying would change, one line each (an empty list when in sync).
  returned: always
  type: list
  elements: str
  sample: ['~ databases.clients.Notes: renamed to "Memo" outside devfactory']
changes:
  description: The same lines as RV(drift).
  returned: always
  type: list
  elements: str
out_of_band:
  description: The changes made outside devfactory, among RV(drift).
  returned: always
  type: list
  elements: str
summary:
  description: Counts of resources applying would add, change and destroy.
  returned: always
  type: dict
  sample: {"add": 0, "change": 0, "destroy": 0}
calls:
  description: The API calls applying would make (C(total) and C(by_kind)).
  returned: always
  type: dict
notes:
  description: What the plan cannot change and only reports.
  returned: always
  type: list
  elements: str
refused:
  description: Destructive changes a protected database refuses.
  returned: always
  type: list
  elements: str
observe_reads:
  description: Reads made to observe the workspace.
  returned: always
  type: int
state:
  description: The deploy state, the id cache relations and renames are resolved with.
  returned: always
  type: dict
  contains:
    exists:
      description: Whether a state file exists yet.
      type: bool
    serial:
      description: Incremented on every save.
      type: int
    lineage:
      description: Identity of this state's history.
      type: str
    root_page_id:
      description: The page the databases live under, when devfactory made it.
      type: str
    databases:
      description: By database key, C(database_id), C(data_source_id), C(properties) (name to
        property id) and C(rows) (seed row title to page id).
      type: dict
state_file:
  description: Path of the deploy state.
  returned: always
  type: str
checks:
  description: The verification checks, each with C(id), C(description), C(ok) and C(detail).
  returned: when O(checks=true)
  type: list
  elements: dict
failed_checks:
  description: The checks that failed.
  returned: when O(checks=true)
  type: list
  elements: dict
error_kind:
  description: On failure, what kind of failure it was (see M(devfactory.notion.notion_workspace)).
  returned: failed
  type: str
"""

import asyncio

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.devfactory.notion.plugins.module_utils.devfactory_common import (
    api_for,
    connection_argument_spec,
    fail_on_error,
    load_spec,
    plan_result,
    require_devfactory,
    settings_for,
    spec_argument_spec,
    state_result,
    target_for,
)


def _observe(module, loaded, settings, target, state):
    from devfactory.deploy.engine import plan_workspace, verify_workspace
    from devfactory.notion.target import NotionSession

    ws = loaded.workspace

    async def run():
        async with NotionSession(target) as session:
            api = api_for(module)
            if module.params["checks"]:
                result = await verify_workspace(ws, target, settings.home, session=session, api=api)
                return result.plan, result.checks
            return await plan_workspace(ws, state, session, api), None

    return asyncio.run(run())


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(spec_argument_spec())
    argument_spec.update(checks=dict(type="bool", default=False))
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("spec", "spec_inline")],
        required_one_of=[("spec", "spec_inline")],
        supports_check_mode=True,
    )
    require_devfactory(module)

    from devfactory.deploy.state import StateFile

    result = dict(changed=False)
    label = None
    loaded = None
    try:
        loaded = load_spec(module)
        ws = loaded.workspace
        result.update(workspace=ws.workspace, environment=ws.environment)
        settings = settings_for(module)
        target = target_for(module, settings)
        label = target.label
        state_file = StateFile(settings.home, ws.workspace, ws.environment)
        state = state_file.load(target.label)
        result.update(
            target=label,
            state_file=str(state_file.path),
            state=state_result(state, state_file.path.exists()),
        )
        plan, checks = _observe(module, loaded, settings, target, state)
        planned = plan_result(plan)
        result.update(planned)
        result.update(drift=planned["changes"], out_of_band=planned["drift"])
        in_sync = plan.empty
        if checks is not None:
            listed = [
                dict(id=c.id, description=c.description, ok=c.ok, detail=c.detail) for c in checks
            ]
            result.update(checks=listed, failed_checks=[c for c in listed if not c["ok"]])
            in_sync = in_sync and not result["failed_checks"]
        result["in_sync"] = in_sync
    except Exception as exc:  # devfactory's errors become fail_json with their kind
        fail_on_error(module, exc, label, **result)
    finally:
        if loaded is not None:
            loaded.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
