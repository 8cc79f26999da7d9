# -*- coding: utf-8 -*-

# Copyright: (c) 2026, devfactory contributors
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)

"""What the devfactory.notion modules share: the devfactory import, the connection options,
the target, the spec, and devfactory's exception tree mapped onto fail_json.

The modules are a thin layer: every plan, apply, verify, backup and restore is the devfactory
library's (devfactory.deploy.engine, devfactory.deploy.backup, devfactory.deploy.restore).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import tempfile
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib

try:
    import yaml
    from pydantic import SecretStr

    from devfactory.config import load_settings
    from devfactory.deploy.engine import load_workspace
    from devfactory.deploy.guard import GateHalted
    from devfactory.errors import (
        ConfigError,
        DevfactoryError,
        GatewayTimeoutError,
        InternalError,
        NotionError,
        ObjectNotFoundError,
        PlanError,
        RateLimitedError,
        RestrictedResourceError,
        SpecError,
        StateLockedError,
        TargetError,
        TransientNotionError,
        UnauthorizedError,
        UserError,
    )
    from devfactory.executor import Executor, RetryPolicy
    from devfactory.notion.api import NotionAPI
    from devfactory.notion.target import resolve_target
except ImportError:
    HAS_DEVFACTORY = False
    DEVFACTORY_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_DEVFACTORY = True
    DEVFACTORY_IMPORT_ERROR = None


def connection_argument_spec():
    """The options every module takes (documented in the connection doc fragment)."""
    return dict(
        token=dict(type="str", no_log=True, fallback=(env_fallback, ["NOTION_TOKEN"])),
        target=dict(type="str"),
        home=dict(type="path", fallback=(env_fallback, ["DEVFACTORY_HOME"])),
        rate=dict(type="float"),
        timeout=dict(type="float", default=30),
        attempts=dict(type="int", default=12),
    )


def spec_argument_spec():
    """The options that name a spec (documented in the connection.spec doc fragment)."""
    return dict(
        spec=dict(type="path"),
        spec_inline=dict(type="dict"),
        environment=dict(type="str"),
        spec_vars=dict(type="dict", default={}),
    )


def require_devfactory(module):
    """Fail with the standard message when the devfactory library cannot be imported."""
    if not HAS_DEVFACTORY:
        module.fail_json(
            msg=missing_required_lib("devfactory"), exception=DEVFACTORY_IMPORT_ERROR
        )


def settings_for(module, **extra):
    """devfactory's Settings from the environment, with the module's options on top."""
    params = module.params
    settings = load_settings()
    update = dict(extra)
    if params.get("home"):
        update["home"] = _path(params["home"])
    if params.get("rate"):
        update["notion_rate"] = float(params["rate"])
    token = params.get("token")
    if token:
        # With a URL the token is that server's (DEVFACTORY_EMULATOR_TOKEN); without one a
        # token selects real Notion (NOTION_TOKEN), as in the CLI.
        key = "emulator_token" if params.get("target") else "notion_token"
        update[key] = SecretStr(token)
    return settings.model_copy(update=update) if update else settings


def target_for(module, settings):
    """The devfactory Target the options select (resolve_target, as the CLI does)."""
    target = resolve_target(settings, module.params.get("target") or None)
    if module.params.get("rate") == 0:
        import dataclasses

        target = dataclasses.replace(target, rate=None)
    return target


def api_for(module):
    """A NotionAPI whose executor uses the module's timeout and attempts."""
    policy = RetryPolicy(
        attempts=max(1, int(module.params["attempts"])),
        timeout=float(module.params["timeout"]) if module.params["timeout"] else None,
    )
    return NotionAPI(Executor(policy))


class LoadedSpec(object):
    """A validated spec and its desired workspace; removes the temporary file of an inline
    spec on close()."""

    def __init__(self, spec, workspace, path, tmpdir=None):
        self.spec = spec
        self.workspace = workspace
        self.path = path
        self._tmpdir = tmpdir

    def close(self):
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


def load_spec(module):
    """Load and validate the spec the options name (devfactory.deploy.engine.load_workspace).

    ``spec_vars`` join the environment for ``${VARS}``; an inline spec is written to a
    private temporary file first, since devfactory reads specs from files.
    """
    params = module.params
    for name, value in (params.get("spec_vars") or {}).items():
        os.environ[str(name)] = "" if value is None else str(value)
    tmpdir = None
    if params.get("spec_inline") is not None:
        tmpdir = tempfile.mkdtemp(prefix="devfactory-spec-")
        path = os.path.join(tmpdir, "workspace.yaml")
        with open(path, "w") as handle:
            yaml.safe_dump(params["spec_inline"], handle, sort_keys=False, allow_unicode=True)
    else:
        path = params["spec"]
        if not os.path.isfile(path):
            module.fail_json(msg="spec %s: no such file" % path, error_kind="spec")
    try:
        spec, workspace = load_workspace(_path(path), params.get("environment") or None)
    except BaseException:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    return LoadedSpec(spec, workspace, path, tmpdir)


def _path(value):
    from pathlib import Path

    return Path(value)


def change_line(change):
    """One plan change as the CLI and the report print it."""
    line = "%s %s: %s" % (change.symbol, change.address, change.summary)
    return line + (" [destructive]" if change.destructive else "")


def plan_result(plan):
    """The plan as plain data for a module result."""
    return dict(
        summary=dict(plan.summary),
        changes=[change_line(c) for c in plan.changes],
        drift=["%s %s: %s" % (c.symbol, c.address, c.summary) for c in plan.drift],
        notes=list(plan.notes),
        refused=list(plan.refused),
        calls=dict(total=len(plan.steps), by_kind=plan.calls_by_kind()),
        observe_reads=plan.observe_reads,
    )


def plan_diff(plan):
    """Ansible's diff, one before/after pair per database, from the plan's changes.

    Creates appear only after, deletions only before; a detail written ``old -> new`` is
    split into its two sides.
    """
    groups = {}
    order = []
    for change in plan.changes:
        group = change.database or change.address
        if group not in groups:
            groups[group] = ([], [])
            order.append(group)
        before, after = groups[group]
        head = "%s: %s" % (change.address, change.summary)
        if change.action in ("create", "adopt", "restore"):
            after.append(head)
            after.extend("    " + d for d in change.details)
        elif change.action == "delete":
            before.append(head)
            before.extend("    " + d for d in change.details)
        else:  # update, replace
            before.append(change.address + ":")
            after.append(change.address + ":")
            for detail in change.details or [change.summary]:
                old, sep, new = detail.partition(" -> ")
                if sep:
                    before.append("    " + old)
                    after.append("    " + old.split(":", 1)[0] + ": " + new)
                else:
                    after.append("    " + detail)
    diffs = []
    for group in order:
        before, after = groups[group]
        label = group if "." in group or group == "root_page" else "databases." + group
        diffs.append(
            dict(
                before_header="%s (now)" % label,
                after_header="%s (spec)" % label,
                before="\n".join(before) + ("\n" if before else ""),
                after="\n".join(after) + ("\n" if after else ""),
            )
        )
    return diffs


def state_result(state, exists):
    """The deploy state (the id cache relations are resolved with) as plain data."""
    return dict(
        exists=exists,
        serial=state.serial,
        lineage=state.lineage,
        root_page_id=state.root_page_id,
        databases=dict(
            (
                key,
                dict(
                    database_id=db.database_id,
                    data_source_id=db.data_source_id,
                    properties=dict(db.properties),
                    rows=dict((title, row.page_id) for title, row in db.rows.items()),
                ),
            )
            for key, db in state.databases.items()
        ),
    )


# ------------------------------------------------------------------------------ errors

# What the user can do about each kind of failure, after devfactory's own message.
HINTS = {
    "spec": "fix the spec (every problem is listed with file:line:col)",
    "config": "fix the setting named above (an option of the module or its environment variable)",
    "locked": "another apply of this workspace is running; wait for it, or if that process is "
    "gone run `devfactory state unlock`",
    "approval_required": "review and approve it with `devfactory approvals approve %(approval_id)s` "
    "and run again, or set allow_destroy: true (a backup is taken first)",
    "refused": "set allow_destroy: true to make destructive changes (a backup is taken first), "
    "or change the spec",
    "target": "the target cannot do what the spec asks",
    "unauthorized": "Notion rejected the token (401): check the token option or NOTION_TOKEN, "
    "and that it belongs to this target",
    "forbidden": "the integration may not do this (403): share the parent page with the "
    "integration, or give it the capability",
    "not_found": "not found (404): the object was deleted, or is not shared with the integration",
    "rate_limited": "rate limited (429) even after retrying: lower the rate option, use "
    "`throttle: 1` for workspaces that share a token, or run again later",
    "timeout": "the target did not answer in time, even after retrying: check the target URL and "
    "the network, or raise the timeout option",
    "unreachable": "cannot reach the target: is the server running, and is the target URL right?",
    "transient": "the target kept failing after every retry; run again later",
    "notion": "the target refused a request",
    "internal": "this is a bug in devfactory; please report it",
    "user": "",
    "error": "",
}


def _chain(exc):
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _is_timeout(exc):
    if isinstance(exc, (TimeoutError, GatewayTimeoutError)):
        return True
    if getattr(exc, "status", None) == 504:
        return True
    names = [cls.__name__ for cls in type(exc).__mro__]
    return "TimeoutException" in names or "RequestTimeoutError" in names


def _is_unreachable(exc):
    names = [cls.__name__ for cls in type(exc).__mro__]
    return "ConnectError" in names or isinstance(exc, ConnectionError)


def error_kind(exc):
    """The kind of a devfactory failure, by what the user can do about it."""
    if isinstance(exc, SpecError):
        return "spec"
    if isinstance(exc, ConfigError):
        return "config"
    if isinstance(exc, StateLockedError):
        return "locked"
    if isinstance(exc, GateHalted):
        return "approval_required"
    if isinstance(exc, PlanError):
        return "refused" if "destructive" in str(exc) or "refused" in str(exc) else "user"
    if isinstance(exc, TargetError):
        return "target"
    if isinstance(exc, UserError):
        chain = _chain(exc)
        if any(isinstance(e, UnauthorizedError) for e in chain):
            return "unauthorized"
        return "user"
    if isinstance(exc, UnauthorizedError):
        return "unauthorized"
    if isinstance(exc, RestrictedResourceError):
        return "forbidden"
    if isinstance(exc, ObjectNotFoundError):
        return "not_found"
    if isinstance(exc, NotionError):
        chain = _chain(exc)
        # The executor gives up with a TransientNotionError whose cause is the last failure.
        if any(isinstance(e, RateLimitedError) or getattr(e, "status", None) == 429 for e in chain):
            return "rate_limited"
        if any(_is_timeout(e) for e in chain):
            return "timeout"
        if any(_is_unreachable(e) for e in chain):
            return "unreachable"
        if isinstance(exc, TransientNotionError):
            return "transient"
        return "notion"
    if isinstance(exc, InternalError):
        return "internal"
    return "error"


def failure(exc, target_label=None):
    """``msg`` and the extra keys of fail_json for a devfactory error."""
    kind = error_kind(exc)
    extra = dict(error_kind=kind, error_class=type(exc).__name__, error=str(exc))
    if isinstance(exc, GateHalted):
        extra["approval_id"] = exc.approval_id
    if isinstance(exc, SpecError):
        extra["issues"] = [str(issue) for issue in exc.issues]
    if isinstance(exc, NotionError):
        extra["status"] = exc.status
        extra["code"] = exc.code
    hint = HINTS.get(kind, "") % dict(approval_id=extra.get("approval_id", "ID"))
    where = " (target %s)" % target_label if target_label else ""
    msg = "%s%s: %s" % (kind.replace("_", " "), where, exc)
    if hint:
        msg = "%s — %s" % (msg, hint)
    extra["msg"] = msg
    return extra


def fail_on_error(module, exc, target_label=None, **result):
    """fail_json for ``exc``: a devfactory error with its kind and hint; anything else with
    its traceback (a bug)."""
    if HAS_DEVFACTORY and isinstance(exc, DevfactoryError):
        data = failure(exc, target_label)
        data.update(result)
        module.fail_json(**data)
    module.fail_json(
        msg="unexpected error: %s: %s" % (type(exc).__name__, exc),
        error_kind="internal",
        exception=traceback.format_exc(),
        **result
    )
