#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, devfactory contributors
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: notion_backup
short_description: Take or restore an encrypted backup of deployed Notion databases
version_added: "0.1.0"
description:
  - With O(state=present), backs up the databases the deploy state of a workspace knows,
    schema and every row, into one file encrypted with AES-256-GCM, as C(devfactory backup)
    does.
  - With O(state=restored), recreates a backup's databases, rows, relations, rollups and
    formulas under a new page (or O(into)), as C(devfactory restore) does. A restore only
    creates; the databases the backup came from are never read or written.
  - Both always report a change; neither is repeated by a second run unless it is run
    again, so guard them with C(when) (the M(devfactory.notion.notion_workspace) module already
    backs up before destructive changes).
  - A thin layer over the devfactory library (C(devfactory.deploy.backup),
    C(devfactory.deploy.restore)).
options:
  state:
    description:
      - V(present) takes a backup, V(restored) restores the backup at O(path).
    type: str
    choices: [present, restored]
    default: present
  path:
    description:
      - With O(state=present), where to write the backup; the default is a new file
        C($DEVFACTORY_HOME/backups/<workspace>.<environment>.<UTC time>.dfbak).
      - With O(state=restored), the backup file to restore (required).
    type: path
  workspace:
    description:
      - With O(state=present), the workspace name, instead of O(spec) or O(spec_inline).
    type: str
  databases:
    description:
      - With O(state=present), only these database keys; default all that the state knows.
    type: list
    elements: str
  into:
    description:
      - With O(state=restored), the id of the page to restore under; required on real
        Notion, where integrations cannot create workspace-level pages.
    type: str
  backup_key:
    description:
      - The encryption key, base64 of 32 bytes used as it is, or a passphrase stretched with
        scrypt.
      - If not set, the environment variable E(DEVFACTORY_BACKUP_KEY) is used.
      - A backup cannot be read without the key that wrote it.
    type: str
extends_documentation_fragment:
  - devfactory.notion.connection
  - devfactory.notion.connection.spec
attributes:
  check_mode:
    support: full
    description:
      - V(present) checks the key and the state and reports the change without reading or
        writing anything.
      - V(restored) decrypts the backup and reports what it holds without restoring.
  diff_mode:
    support: none
    description: A backup or a restore is an action, not a state to compare.
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
- name: Back up the deployed consulting workspace (dev)
  devfactory.notion.notion_backup:
    spec: examples/consulting/workspace.yaml
    environment: dev
    backup_key: "{{ vault_backup_key }}"
  register: backup

- name: Back up two databases to a given file
  devfactory.notion.notion_backup:
    workspace: consulting
    environment: dev
    databases: [clients, projects]
    path: /srv/backups/clients-projects.dfbak

- name: Restore it into another workspace, under a page shared with the integration
  devfactory.notion.notion_backup:
    state: restored
    path: "{{ backup.path }}"
    into: "{{ restore_page_id }}"
    token: "{{ other_workspace_token }}"
"""

RETURN = r"""
path:
  description: The backup file written or restored.
  returned: success, except O(state=present) in check mode
  type: str
  sample: /var/lib/devfactory/acme/backups/consulting.dev.20261125T194151Z.dfbak
workspace:
  description: The workspace the backup is of.
  returned: always
  type: str
environment:
  description: The environment the backup is of.
  returned: always
  type: str
databases:
  description: What the backup holds, one entry per database with C(key), C(title),
    C(properties) and C(rows).
  returned: success, except O(state=present) in check mode
  type: list
  elements: dict
created:
  description: When the backup was taken (ISO 8601, UTC).
  returned: success, except O(state=present) in check mode
  type: str
restored:
  description: Counts of what the restore made (C(databases), C(properties), C(rows), C(links)).
  returned: when O(state=restored) and not in check mode
  type: dict
page_id:
  description: The page the restore made everything under.
  returned: when O(state=restored) and not in check mode
  type: str
page_title:
  description: The title of that page, when the restore made it.
  returned: when O(state=restored) and not in check mode
  type: str
target:
  description: The target's label (never a token).
  returned: always
  type: str
ids:
  description: Old id to new id, for databases, data sources and rows.
  returned: when O(state=restored) and not in check mode
  type: dict
warnings_restore:
  description: What the restore could not keep, one line each (also shown as warnings).
  returned: when O(state=restored) and not in check mode
  type: list
  elements: str
error_kind:
  description: On failure, what kind of failure it was (see M(devfactory.notion.notion_workspace)).
  returned: failed
  type: str
"""

import asyncio

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible_collections.devfactory.notion.plugins.module_utils.devfactory_common import (
    api_for,
    connection_argument_spec,
    fail_on_error,
    load_spec,
    require_devfactory,
    settings_for,
    spec_argument_spec,
    target_for,
)

try:
    from pydantic import SecretStr
except ImportError:
    pass  # require_devfactory() fails with the missing library's message


def _contents(data):
    from devfactory.deploy.backup import summarize

    return dict(
        workspace=data.get("workspace"),
        environment=data.get("environment"),
        created=data.get("created"),
        databases=[
            dict(key=s.key, title=s.title, properties=s.properties, rows=s.rows)
            for s in summarize(data)
        ],
    )


def _take(module, settings, target, result):
    from devfactory.deploy.backup import backup_key, backup_path, save_backup, take_backup
    from devfactory.deploy.state import StateFile
    from devfactory.errors import UserError
    from devfactory.notion.target import NotionSession

    params = module.params
    key = backup_key(settings)  # before reading anything: no key, no backup
    if params.get("spec") or params.get("spec_inline") is not None:
        loaded = load_spec(module)
        loaded.close()
        name, environment = loaded.workspace.workspace, loaded.workspace.environment
    elif params.get("workspace"):
        name, environment = params["workspace"], params.get("environment") or "default"
    else:
        module.fail_json(msg="state=present needs spec, spec_inline or workspace", error_kind="user")
    result.update(workspace=name, environment=environment)
    state_file = StateFile(settings.home, name, environment)
    if not state_file.path.exists():
        raise UserError("no deploy state at %s: nothing to back up" % state_file.path)
    state = state_file.load(target.label)
    if module.check_mode:
        return
    databases = params.get("databases") or None

    async def run():
        async with NotionSession(target) as session:
            return await take_backup(state, session, api_for(module), databases=databases)

    data = asyncio.run(run())
    path = params.get("path")
    written = save_backup(
        data,
        key,
        _as_path(path) if path else backup_path(settings.home, state.workspace, state.environment),
    )
    result.update(_contents(data))
    result["path"] = str(written)


def _restore(module, settings, target, result):
    from devfactory.deploy.backup import backup_key, read_backup
    from devfactory.deploy.restore import restore_backup
    from devfactory.notion.target import NotionSession

    path = module.params.get("path")
    if not path:
        module.fail_json(msg="state=restored needs path, the backup file", error_kind="user")
    data = read_backup(_as_path(path), backup_key(settings))
    result.update(_contents(data))
    result["path"] = path
    if module.check_mode:
        return

    async def run():
        async with NotionSession(target) as session:
            return await restore_backup(
                data, session, api_for(module), into_page_id=module.params.get("into")
            )

    restored = asyncio.run(run())
    result.update(
        restored=dict(
            databases=restored.databases,
            properties=restored.properties,
            rows=restored.rows,
            links=restored.links,
        ),
        page_id=restored.page_id,
        page_title=restored.page_title,
        ids=dict(restored.ids),
        warnings_restore=list(restored.warnings),
    )
    for warning in restored.warnings:
        module.warn(warning)


def _as_path(value):
    from pathlib import Path

    return Path(value)  # the option is of type path: already expanded


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(spec_argument_spec())
    argument_spec.update(
        state=dict(type="str", choices=["present", "restored"], default="present"),
        path=dict(type="path"),
        workspace=dict(type="str"),
        databases=dict(type="list", elements="str"),
        into=dict(type="str"),
        backup_key=dict(type="str", no_log=True, fallback=(env_fallback, ["DEVFACTORY_BACKUP_KEY"])),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("spec", "spec_inline", "workspace")],
        required_if=[("state", "restored", ("path",))],
        supports_check_mode=True,
    )
    require_devfactory(module)

    result = dict(changed=True)
    label = None
    try:
        extra = {}
        if module.params.get("backup_key"):
            extra["backup_key"] = SecretStr(module.params["backup_key"])
        settings = settings_for(module, **extra)
        target = target_for(module, settings)
        label = target.label
        result["target"] = label
        if module.params["state"] == "present":
            _take(module, settings, target, result)
        else:
            _restore(module, settings, target, result)
    except Exception as exc:  # devfactory's errors become fail_json with their kind
        fail_on_error(module, exc, label, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
