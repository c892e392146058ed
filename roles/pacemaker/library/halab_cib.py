#!/usr/bin/python
# Copyright: halab contributors
# Apache-2.0
"""Apply a rendered Pacemaker CIB to the live cluster as a minimal patch."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: halab_cib
short_description: Converge the live Pacemaker CIB to a rendered CIB document by patching it
description:
  - Reads the live CIB with C(cibadmin --query).
  - Builds the desired CIB as a copy of the live one in which C(resources), C(constraints),
    C(fencing-topology), C(rsc_defaults), C(op_defaults) and C(alerts) are replaced by those of O(src)
    (or O(content)), a section absent there is removed, and the
    C(cib-bootstrap-options) property set holds the properties given plus the
    Pacemaker-owned ones that are live (O(owned_properties)). In C(nodes), the attribute and
    utilization sets whose id starts with C(halab-node-) become those of O(src) (a node
    missing there is added); the rest of each node (C(standby) set by an operator, ...)
    is kept, like C(status), other property sets and the C(cib) element's attributes.
  - Operator state survives (O(keep_operator_state)): constraints whose id starts with
    C(cli-prefer-) or C(cli-ban-) (left by C(crm_resource --move) and C(--ban)) are kept
    after the rendered ones while their resource exists, and so is the
    C(maintenance-mode) property when O(src) does not set it. Node C(standby) and
    C(maintenance) attributes outside the C(halab-node-) sets are kept in any case, unless
    O(keep_operator_state) is false. What was kept (or removed) is returned.
  - Computes the difference with C(crm_diff --no-version). An identical configuration is
    left untouched (and not verified: it is the one Pacemaker runs already).
  - Checks a differing desired CIB with C(crm_verify --xml-file) and fails, changing
    nothing, when it reports errors; else applies only the patch with C(cibadmin --patch).
  - Honours the C(CIB_file) environment variable like every Pacemaker tool, so it can
    operate on a CIB file instead of a running cluster.
version_added: "0.1.0"
author: halab contributors
options:
  src:
    description:
      - Path, on the managed node, of the full CIB document to converge to.
      - Exactly one of O(src) and O(content) is required.
    type: path
  content:
    description:
      - The full CIB document to converge to, given inline (for example from a template
        lookup): no file on the node, one round trip. Treated as a secret (it may hold
        fence device passwords): never echoed back in the task result.
    type: str
  keep_operator_state:
    description:
      - Keep the operator state described above. When false, C(cli-prefer-)/C(cli-ban-)
        constraints, node C(standby)/C(maintenance) attributes and a C(maintenance-mode)
        property that O(src) does not set are removed.
    type: bool
    default: true
  verify:
    description: Run C(crm_verify) on the desired CIB before applying it.
    type: bool
    default: true
  owned_properties:
    description:
      - C(cib-bootstrap-options) properties maintained by Pacemaker itself; their live
        values are kept unless O(src) sets them.
    type: list
    elements: str
    default: [dc-version, cluster-infrastructure, cluster-name, have-watchdog, last-lrm-refresh]
  redact:
    description:
      - Case-insensitive substrings of nvpair names whose values are replaced by
        C(********) in the diff shown in C(--diff) mode.
    type: list
    elements: str
    default: [passw, secret, token, key]
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
requirements:
  - pacemaker-cli-utils (cibadmin, crm_diff, crm_verify) on the managed node
notes:
  - Temporary files (they may hold secrets) are created in a private C(0700) directory and
    removed before the module returns.
  - Anything else changed in the replaced sections by hand (for example a hand-made
    location constraint or a hand-set C(target-role)) is removed: the rendered CIB is the truth.
"""

EXAMPLES = r"""
- name: Apply the rendered CIB as a patch
  halab_cib:
    content: "{{ lookup('template', 'cib.xml.j2') }}"

- name: Or render the CIB to a file
  ansible.builtin.template:
    src: cib.xml.j2
    dest: /var/lib/halab/pacemaker/cib.xml
    owner: root
    group: root
    mode: "0600"
  no_log: true

- name: Apply it as a patch
  halab_cib:
    src: /var/lib/halab/pacemaker/cib.xml
"""

RETURN = r"""
changed:
  description: Whether a patch was (or, in check mode, would be) applied.
  type: bool
  returned: always
sections:
  description: Top-level configuration sections the patch touches.
  type: list
  elements: str
  returned: always
  sample: [resources, constraints]
verify_warnings:
  description: Warnings printed by crm_verify for a differing desired CIB (they do not fail the task).
  type: list
  elements: str
  returned: always
kept_operator_state:
  description: Operator state found in the live CIB and kept, one description each.
  type: list
  elements: str
  returned: always
  sample: ["cli-prefer-web (web moved to web2)", "web1: standby=on"]
removed_operator_state:
  description: Operator state removed (O(keep_operator_state) false, or a constraint whose
    resource the rendered CIB no longer has).
  type: list
  elements: str
  returned: always
"""

import copy  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import xml.etree.ElementTree as ET  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

REPLACED = ("resources", "constraints", "fencing-topology", "rsc_defaults", "op_defaults", "alerts")
CONFIG_ORDER = ("crm_config", "nodes", "resources", "constraints", "fencing-topology",
                "op_defaults", "rsc_defaults", "acls", "tags", "alerts")
PROPERTY_SET = "cib-bootstrap-options"
NODE_SET_PREFIX = "halab-node-"  # node attribute and utilization sets the rendered CIB owns
# Operator state: what crm_resource --move/--ban, crm_attribute (standby, maintenance) and
# maintenance mode leave in the CIB between deploys.
OPERATOR_CONSTRAINTS = ("cli-prefer-", "cli-ban-")
OPERATOR_NODE_ATTRIBUTES = ("standby", "maintenance")
OPERATOR_PROPERTY = "maintenance-mode"
RESOURCE_TAGS = ("primitive", "group", "clone", "master", "bundle")
TRUE = ("true", "on", "yes", "y", "1")  # Pacemaker's spellings of a true boolean


def _strip(elem):
    """Drop formatting whitespace and comments so only the XML content is compared."""
    for child in list(elem):
        if not isinstance(child.tag, str):  # comments, processing instructions
            elem.remove(child)
            continue
        _strip(child)
    if elem.text is not None and not elem.text.strip():
        elem.text = None
    if elem.tail is not None and not elem.tail.strip():
        elem.tail = None
    return elem


def _section(config, name, create=False):
    found = config.find(name)
    if found is None and create:
        found = ET.Element(name)
        order = list(CONFIG_ORDER)
        position = len(config)
        if name in order:
            later = set(order[order.index(name) + 1:])
            for index, child in enumerate(config):
                if child.tag in later:
                    position = index
                    break
        config.insert(position, found)
    return found


def _owned(elem):
    return (elem.get("id") or "").startswith(NODE_SET_PREFIX)


def converge_nodes(config, new_config):
    """Give each node the attribute and utilization sets of the rendered CIB; keep the rest."""
    rendered = [node for node in new_config.findall("nodes/node") if any(_owned(c) for c in node)]
    nodes = _section(config, "nodes", create=bool(rendered))
    if nodes is None:
        return
    for node in nodes.findall("node"):
        for child in [c for c in node if _owned(c)]:
            node.remove(child)
    for new in rendered:
        live = next((n for n in nodes.findall("node") if n.get("id") == new.get("id")), None)
        if live is None:
            live = ET.SubElement(nodes, "node", dict(new.attrib))
        live.extend(copy.deepcopy(child) for child in new if _owned(child))


def _describe_constraint(constraint):
    """`cli-prefer-web (web moved to web2 until END)`: what the operator did, in words."""
    cid, rsc = constraint.get("id", ""), constraint.get("rsc", "?")
    node = constraint.get("node")
    expression = constraint.find("rule/expression[@attribute='#uname']")
    if node is None and expression is not None:
        node = expression.get("value")
    end = constraint.find("rule/date_expression")
    until = f" until {end.get('end')}" if end is not None and end.get("end") else ""
    verb = "moved to" if cid.startswith("cli-prefer-") else "banned from"
    return f"{cid} ({rsc} {verb} {node or '?'}{until})"


def operator_constraints(live_config, config, keep, report):
    """Put the live cli-prefer-/cli-ban- constraints back after the rendered ones (unless
    reset); one whose resource the rendered CIB lacks is dropped: crm_verify would refuse it."""
    found = [c for c in live_config.findall("constraints/*")
             if (c.get("id") or "").startswith(OPERATOR_CONSTRAINTS)]
    if not found:
        return
    resources = config.find("resources")
    known = {e.get("id") for tag in RESOURCE_TAGS for e in resources.iter(tag)} if resources is not None else set()
    section = _section(config, "constraints", create=True)
    rendered = {c.get("id") for c in section}
    for constraint in found:
        text = _describe_constraint(constraint)
        if constraint.get("id") in rendered:
            continue  # the file itself defines this id: it wins
        if not keep:
            report["removed"].append(text)
        elif constraint.get("rsc") not in known:
            report["removed"].append(f"{text}: its resource is no longer configured")
        else:
            section.append(copy.deepcopy(constraint))
            report["kept"].append(text)


def operator_node_attributes(config, keep, report):
    """Report (or, on reset, remove) standby/maintenance set on nodes outside halab's sets."""
    nodes = config.find("nodes")
    for node in nodes.findall("node") if nodes is not None else []:
        for attributes in [a for a in node.findall("instance_attributes") if not _owned(a)]:
            for pair in attributes.findall("nvpair"):
                if pair.get("name") not in OPERATOR_NODE_ATTRIBUTES:
                    continue
                text = f"{node.get('uname') or node.get('id')}: {pair.get('name')}={pair.get('value')}"
                if not keep:
                    attributes.remove(pair)
                    report["removed"].append(text)
                elif (pair.get("value") or "").lower() in TRUE:
                    report["kept"].append(text)


def operator_property(live_config, wanted, keep, report):
    """Whether the live maintenance-mode stays: only when the file does not set it."""
    pair = live_config.find(f"crm_config/cluster_property_set[@id='{PROPERTY_SET}']"
                            f"/nvpair[@name='{OPERATOR_PROPERTY}']")
    if pair is None or OPERATOR_PROPERTY in wanted:
        return False
    text = f"cluster property {OPERATOR_PROPERTY}={pair.get('value')}"
    if not keep:
        report["removed"].append(text)
    elif (pair.get("value") or "").lower() in TRUE:
        report["kept"].append(text)
    return keep


def build_desired(live, rendered, owned, keep_operator_state=True):
    """Copy of `live` whose managed sections come from `rendered`, and a report of the
    operator state kept and removed ({"kept": [...], "removed": [...]})."""
    report = {"kept": [], "removed": []}
    desired = copy.deepcopy(live)
    config = desired.find("configuration")
    new_config = rendered.find("configuration")
    if config is None or new_config is None:
        raise ValueError("both CIBs need a <configuration> element")
    for name in REPLACED:
        new = new_config.find(name)
        old = _section(config, name, create=new is not None)
        if old is None:
            continue
        if new is None:
            config.remove(old)
            continue
        index = list(config).index(old)
        config.remove(old)
        config.insert(index, copy.deepcopy(new))
    live_config = live.find("configuration")
    operator_constraints(live_config, config, keep_operator_state, report)
    converge_nodes(config, new_config)
    operator_node_attributes(config, keep_operator_state, report)

    wanted = {}
    new_set = new_config.find(f"crm_config/cluster_property_set[@id='{PROPERTY_SET}']")
    if new_set is not None:
        for pair in new_set.findall("nvpair"):
            wanted[pair.get("name")] = pair
    if operator_property(live_config, wanted, keep_operator_state, report):
        owned = set(owned) | {OPERATOR_PROPERTY}
    crm_config = _section(config, "crm_config", create=True)
    live_set = crm_config.find(f"cluster_property_set[@id='{PROPERTY_SET}']")
    if live_set is None:
        live_set = ET.SubElement(crm_config, "cluster_property_set", {"id": PROPERTY_SET})
        crm_config.remove(live_set)
        crm_config.insert(0, live_set)
    # Keep live pairs where they are (so Pacemaker's own additions never cause moves),
    # update the ones we manage, drop unmanaged ones, append the new ones.
    placed = set()
    for pair in list(live_set):
        name = pair.get("name")
        if pair.tag != "nvpair" or (name not in wanted and name not in owned):
            live_set.remove(pair)
            continue
        if name in wanted:
            if name in placed:
                live_set.remove(pair)
                continue
            for attr in list(pair.attrib):
                if attr not in ("id", "name", "value"):
                    del pair.attrib[attr]
            pair.set("value", wanted[name].get("value", ""))
        placed.add(name)
    for name, pair in wanted.items():
        if name not in placed:
            live_set.append(copy.deepcopy(pair))
    return desired, report


def _configuration_text(root, redact):
    config = copy.deepcopy(root.find("configuration"))
    if config is None:
        return ""
    for pair in config.iter("nvpair"):
        name = (pair.get("name") or "").lower()
        if any(word in name for word in redact):
            pair.set("value", "********")
    ET.indent(config)
    return ET.tostring(config, encoding="unicode") + "\n"


def _sections_in_patch(patch_text):
    sections = set()
    try:
        patch = ET.fromstring(patch_text)
    except ET.ParseError:
        return []
    for change in patch.iter("change"):
        path = change.get("path") or ""
        parts = [p.split("[")[0] for p in path.split("/") if p]
        if len(parts) >= 3 and parts[1] == "configuration":
            sections.add(parts[2])
        elif len(parts) == 2 and parts[1] == "configuration":
            for result in change.iter():
                if result.tag in CONFIG_ORDER:
                    sections.add(result.tag)
    return sorted(sections)


def _write(directory, name, root):
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(ET.tostring(root, encoding="unicode"))
    return path


def run(module, workdir):
    params = module.params
    redact = [word.lower() for word in params["redact"]]
    source = params["src"] or "the content parameter"
    try:
        if params["content"] is not None:
            rendered = _strip(ET.fromstring(params["content"]))
        else:
            rendered = _strip(ET.parse(params["src"]).getroot())
    except (OSError, ET.ParseError) as exc:
        module.fail_json(msg=f"cannot read the rendered CIB from {source}: {exc}")

    rc, out, err = module.run_command(["cibadmin", "--query"])
    if rc != 0:
        module.fail_json(msg=f"cibadmin --query failed (rc={rc}): {err.strip() or out.strip()}")
    try:
        live = _strip(ET.fromstring(out))
    except ET.ParseError as exc:
        module.fail_json(msg=f"cannot parse the live CIB: {exc}")

    try:
        desired, report = build_desired(live, rendered, set(params["owned_properties"]),
                                        params["keep_operator_state"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    live_path = _write(workdir, "live.xml", live)
    desired_path = _write(workdir, "desired.xml", desired)

    rc, patch, err = module.run_command(
        ["crm_diff", "--original", live_path, "--new", desired_path, "--no-version"])
    if rc not in (0, 1):
        module.fail_json(msg=f"crm_diff failed (rc={rc}): {err.strip()}")
    changed = rc == 1
    warnings = []
    # Only a change is verified: an identical CIB is the one Pacemaker runs already.
    if params["verify"] and changed:
        rc, out, err = module.run_command(["crm_verify", "--xml-file", desired_path, "-V"])
        text = "\n".join(x for x in (out.strip(), err.strip()) if x)
        if rc != 0:
            # Pacemaker 2.1 ends a warnings-only check with "Warnings found during check",
            # 3.0 with "Configuration invalid (with warnings)"; errors are "error:" lines.
            warnings_only = "Warnings found" in text or "(with warnings)" in text
            if "Errors found" in text or "error:" in text or "(with errors)" in text or not warnings_only:
                module.fail_json(msg="crm_verify rejected the desired CIB; nothing was changed",
                                 crm_verify=text.splitlines(), rc=rc)
            warnings = [line for line in text.splitlines() if line.strip()]

    result = {"changed": changed, "sections": _sections_in_patch(patch) if changed else [],
              "verify_warnings": warnings, "kept_operator_state": report["kept"],
              "removed_operator_state": report["removed"]}
    if module._diff:
        result["diff"] = {"before_header": "live CIB configuration",
                          "after_header": f"desired CIB configuration ({source})",
                          "before": _configuration_text(live, redact),
                          "after": _configuration_text(desired, redact)}
    if changed and not module.check_mode:
        patch_path = os.path.join(workdir, "patch.xml")
        with open(patch_path, "w", encoding="utf-8") as handle:
            handle.write(patch)
        rc, out, err = module.run_command(["cibadmin", "--patch", "--xml-file", patch_path])
        if rc != 0:
            module.fail_json(msg=f"cibadmin --patch failed (rc={rc}): {err.strip() or out.strip()}",
                             sections=result["sections"])
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec={
            "src": {"type": "path"},
            "content": {"type": "str", "no_log": True},
            "verify": {"type": "bool", "default": True},
            "keep_operator_state": {"type": "bool", "default": True},
            "owned_properties": {"type": "list", "elements": "str",
                                 "default": ["dc-version", "cluster-infrastructure", "cluster-name",
                                             "have-watchdog", "last-lrm-refresh"]},
            "redact": {"type": "list", "elements": "str",
                       "default": ["passw", "secret", "token", "key"]},
        },
        required_one_of=[("src", "content")],
        mutually_exclusive=[("src", "content")],
        supports_check_mode=True,
    )
    workdir = tempfile.mkdtemp(prefix="halab-cib-")
    os.chmod(workdir, 0o700)
    try:
        run(module, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
