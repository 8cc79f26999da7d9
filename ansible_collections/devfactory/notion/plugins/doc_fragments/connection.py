# -*- coding: utf-8 -*-

# Copyright: (c) 2026, devfactory contributors
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Which Notion to talk to, with which token, and where devfactory keeps its state."""

    DOCUMENTATION = r"""
options:
  token:
    description:
      - Notion integration token.
      - With O(target), the token of that running local Notion server.
      - Without O(target), a token selects the real Notion API; no token at all selects
        the embedded local server in O(home).
      - If not set, the environment variable E(NOTION_TOKEN) is used.
      - Never logged, never written to the state, a report or a backup.
    type: str
  target:
    description:
      - URL of a running local Notion server, for example V(http://127.0.0.1:8787).
      - When not set, the target is chosen as the devfactory CLI chooses it, from the
        settings, real Notion if a O(token) is set, else the embedded local server on
        C($DEVFACTORY_HOME/notion.sqlite), in-process, with no port.
    type: str
  home:
    description:
      - The devfactory working directory, which holds the deploy state (the ids of every
        database, property and seed row), the reports, the backups and the embedded server.
      - If not set, the environment variable E(DEVFACTORY_HOME) is used, else C(.devfactory)
        in the current directory.
      - Give each workspace and target its own home.
    type: path
  rate:
    description:
      - Requests per second devfactory allows itself against the target.
      - V(0) turns client-side pacing off, for a local server.
      - If not set, E(DEVFACTORY_NOTION_RATE) is used, else 3, the rate Notion allows.
    type: float
  timeout:
    description:
      - Seconds one call may take before it counts as failed (and is retried).
    type: float
    default: 30
  attempts:
    description:
      - Attempts per call, the first included; transient failures (429 with its
        Retry-After, 409, 5xx, timeouts, dropped connections) are retried with back-off.
    type: int
    default: 12
requirements:
  - devfactory (the Python package, installed for the Python that runs the module)
notes:
  - >-
    The modules run where the Notion API is reached from, usually the controller; use
    C(connection: local) with C(ansible_python_interpreter: "{{ ansible_playbook_python }}")
    so the Python that has devfactory installed runs them.
  - >-
    All modules of the collection are in the action group C(devfactory.notion.notion), so
    C(module_defaults) with C(group/devfactory.notion.notion) sets these options once.
"""

    SPEC = r"""
options:
  spec:
    description:
      - Path of the workspace spec (YAML). Its environment overlay
        C(<stem>.<environment>.yaml) next to it is merged over it.
      - Mutually exclusive with O(spec_inline).
    type: path
  spec_inline:
    description:
      - The workspace spec as data (the same keys as a spec file), for specs built from
        variables. Overlays can be given under its C(environments) key; with an
        O(environment), that key needs an entry for it, if only an empty one, as devfactory
        refuses an environment it knows nothing of.
      - Mutually exclusive with O(spec).
    type: dict
  environment:
    description:
      - The environment to deploy, for example V(dev), V(staging) or V(prod); it selects the
        overlay and names the state.
      - If not set, V(default) with no overlay.
    type: str
  spec_vars:
    description:
      - Values for C(${VARS}) in the spec, on top of the environment of the module.
    type: dict
    default: {}
"""
