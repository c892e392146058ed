"""How the crm_mon-*.xml samples here were made: Pacemaker's own crm_mon (2.1.5, Debian 12)
on CIBs of the examples that crm_simulate evolved (a move, standby and maintenance on web1, a
failed monitor, maintenance mode). Run from the repository root:
`python tests/data/status/make_crm_mon.py tests/data/status`.

The drbdsetup-* and ipvsadm-* samples follow the printf formats of drbd-utils (user/v9 and
user/v84 drbdsetup.c, user/shared/wrap_printf.c at 80 columns) and ipvsadm.c (list_all,
print_title, print_service_entry with FMT_NUMERIC): neither tool runs without its kernel
module, which this machine lacks."""

import os
import subprocess
import sys
from pathlib import Path

from halab.simulate import settle, simulated_cib
from halab.validation import load_cluster

out = Path(sys.argv[1])


def mon(cib: Path) -> str:
    return subprocess.run(
        ["crm_mon", "-1", "--output-as=xml"],
        env=os.environ | {"CIB_file": str(cib)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def tool(cib: Path, *argv: str) -> None:
    subprocess.run(argv, env=os.environ | {"CIB_file": str(cib)}, check=True, capture_output=True)


cib_text, _ = simulated_cib(load_cluster(Path("examples/web-ap-nodrbd.yml")))
cib = out / "webnd.cib.xml"
cib.write_text(cib_text)
settle(cib)
(out / "crm_mon-healthy.xml").write_text(mon(cib))
tool(cib, "crm_resource", "--move", "--resource", "web", "--node", "web2")
settle(cib)
tool(cib, "crm_attribute", "--node", "web1", "--name", "maintenance", "--update", "true")
tool(cib, "crm_attribute", "--node", "web1", "--name", "standby", "--update", "on")
settle(cib, "--op-inject", "web-server_monitor_10000@web2=7")
(out / "crm_mon-degraded.xml").write_text(mon(cib))
tool(cib, "crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", "--update", "true")
(out / "crm_mon-maintenance.xml").write_text(mon(cib))

cib_text, _ = simulated_cib(load_cluster(Path("examples/web-ap.yml")))
cib = out / "webap.cib.xml"
cib.write_text(cib_text)
settle(cib)
(out / "crm_mon-drbd.xml").write_text(mon(cib))
for scratch in out.glob("*.cib.xml"):
    scratch.unlink()
