"""VM lab timings: image bake (cold, optional), boot to SSH of N VMs, SSH round trips, down.

Run as root:  python bench/vm_bench.py [--cold] [--vms 2] [--runs 1]
--cold bakes the VM image from nothing in a temporary cache dir (debootstrap, kernel, HA
packages, mkfs: about 2.5-4 min, downloads ~250 MB).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def timed(func: Callable[[], object]) -> float:
    start = time.monotonic()
    func()
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", action="store_true", help="also time a fresh image bake")
    parser.add_argument("--vms", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="halab-vmbench-") as tmp:
        os.environ["HALAB_STATE_DIR"] = str(Path(tmp) / "state")
        os.environ.setdefault("HALAB_LAB_BMC_PASSWORD", "lab-bmc-bench")  # the examples' fence devices
        if args.cold:
            os.environ["HALAB_CACHE_DIR"] = str(Path(tmp) / "cache")
        from halab.lab import lab, ssh, state, vm, vmimage
        from halab.lab.deps import check_host

        check_host(vm=True)
        if args.cold:
            print(f"VM image bake (cold): {timed(vmimage.ensure_vm_image):.1f} s", flush=True)
        else:
            vmimage.ensure_vm_image()
        print(f"accelerator: {vm.accel()}", flush=True)
        ups, downs = [], []
        for run in range(args.runs):
            spec = lab.generic_lab("vmbench", args.vms, "vm")
            try:
                ups.append(timed(lambda: lab.up(spec, say=lambda _m: None)))  # noqa: B023
                st = state.load("vmbench")
                assert st is not None
                first = spec.nodes[0].name
                argv = ssh.ssh_argv(st, first, ["true"])
                trips = [timed(lambda: subprocess.run(argv, check=True)) for _ in range(5)]  # noqa: B023
                print(
                    f"run {run + 1}: boot to SSH ({args.vms} VMs) {ups[-1]:.1f} s; "
                    f"SSH command over ControlMaster median {statistics.median(trips):.2f} s",
                    flush=True,
                )
            finally:
                downs.append(timed(lambda: lab.down("vmbench")))
        print(
            f"lab up ({args.vms} VMs, image cached): median {statistics.median(ups):.1f} s "
            f"(min {min(ups):.1f}, max {max(ups):.1f}); lab down median {statistics.median(downs):.2f} s"
        )


if __name__ == "__main__":
    main()
