"""Cluster-file strings are data: Ansible never templates them, and `halab render` shows
exactly what the roles install.

A valid file full of template and shell syntax (tests/hostile/valid-template-syntax.yml)
goes through `halab inventory`, then through Ansible itself (every host variable
templated, every role template rendered with lookup('template'), as the roles do): the
canary file that any evaluated value would create must never appear, and each file
Ansible renders must equal the one `halab render` writes, byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from halab.inventory import build_inventory, write_inventory
from halab.paths import collections_dir, roles_dir
from halab.render import CIB_TEMPLATE, TEMPLATES, applies, render_all
from halab.validation import load_cluster

from .conftest import ROOT

HOSTILE = ROOT / "tests" / "hostile" / "valid-template-syntax.yml"
PLAYBOOK = ROOT / "tests" / "data" / "render_with_ansible.yml"


def _jobs(inventory) -> list[dict]:
    """One job per file `halab render` writes, with the host whose variables render it."""
    jobs = []
    for template in TEMPLATES:
        for host in inventory.groups.get(template.group, []):
            hostvars = inventory.hostvars(host)
            if not applies(template, hostvars):
                continue
            items = list(enumerate(hostvars.get(template.loop_over, []))) if template.loop_over else [(None, {})]
            for index, item in items:
                dest = template.dest.format(**item, **{k: v for k, v in hostvars.items() if isinstance(v, str)})
                jobs.append({"host": host, "role": template.role, "name": template.name, "index": index,
                             "dest": f"{host}{dest}"})  # fmt: skip
    first = inventory.groups["cluster_members"][0]
    jobs.append({"host": first, "role": CIB_TEMPLATE.role, "name": CIB_TEMPLATE.name, "index": None,
                 "dest": CIB_TEMPLATE.dest})  # fmt: skip
    return jobs


def test_hostile_strings_reach_the_nodes_as_written(tmp_path: Path) -> None:
    cluster = load_cluster(HOSTILE)
    inventory = build_inventory(cluster)
    write_inventory(inventory, tmp_path / "inventory", str(HOSTILE))
    out = tmp_path / "out"
    extra = {"halab_test_out": str(out), "halab_test_roles": str(roles_dir()), "halab_test_jobs": _jobs(inventory),
             "ansible_connection": "local", "ansible_python_interpreter": sys.executable}  # fmt: skip
    (tmp_path / "extra.json").write_text(json.dumps(extra))
    for directory in {out / "hostvars", *((out / "files" / job["dest"]).parent for job in extra["halab_test_jobs"])}:
        directory.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"ANSIBLE_COLLECTIONS_PATH": str(collections_dir()), "ANSIBLE_NOCOLOR": "1"}
    playbook = tmp_path / PLAYBOOK.name  # a pipe lookup would run in the playbook's directory
    shutil.copy(PLAYBOOK, playbook)
    argv = ["ansible-playbook", "-i", str(tmp_path / "inventory"), "-e", f"@{tmp_path / 'extra.json'}", str(playbook)]
    run = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    canaries = list(tmp_path.rglob("CANARY"))
    assert not canaries, f"a cluster-file value was executed: {canaries}"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    hostvars = json.loads((out / "hostvars" / "h1.json").read_text())
    assert hostvars["apache_index_content"] == cluster.apache.index_content
    assert hostvars["ansible_ssh_common_args"] == cluster.nodes[0].connection.vars["ansible_ssh_common_args"]
    assert hostvars["pacemaker_hacluster_password"] == cluster.pacemaker.hacluster_password

    rendered = {(f.host or "") + f.dest if f.host else f.dest: f.content for f in render_all(inventory)}
    by_ansible = {str(p.relative_to(out / "files")): p.read_text() for p in (out / "files").rglob("*") if p.is_file()}
    assert set(by_ansible) == {k.lstrip("/") if k.startswith("/") else k for k in rendered}
    for dest, content in rendered.items():
        if "REDACTED" in content:  # the secrets: render never shows them, Ansible resolved them
            continue
        assert by_ansible[dest] == content, f"{dest}: Ansible renders something else than `halab render`"
    assert any("{{ lookup('pipe', 'touch CANARY') }}" in text for text in by_ansible.values())
