"""The VM image: Debian's stock kernel (ip_vs, drbd) plus the HA packages, baked once.

Baked in a systemd-nspawn chroot at native speed (apt inside a TCG guest takes 6-16 min),
then turned into a raw ext4 disk with `mkfs.ext4 -d` (no loop mounts). Every VM boots the
same kernel/initrd/disk; a per-node qcow2 overlay takes its writes, and its identity
(hostname, addresses, SSH keys) arrives at boot through QEMU's fw_cfg (see `vm.py`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

from halab.errors import OperationFailed
from halab.lab.image import APT_CONF, INCLUDE, MIRROR, READY, SSHD_CONF, build_cached, sources
from halab.lab.proc import run
from halab.paths import cache_dir

# Besides what the roles install: Ansible's apt module installs python3-apt if missing
# (apt in a TCG guest: minutes), and the VM scenarios' `services` packages
# (examples/web-ap-lab.yml: PostgreSQL).
EXTRA_PACKAGES = ("python3-apt", "postgresql")
# The package lists the roles install from (roles/<role>/vars): present at bake time so
# their package tasks find them (changed=0) instead of running apt in a TCG guest.
ROLE_PACKAGES = {
    "corosync": ("__corosync_packages", "__corosync_qdevice_packages"),
    "pacemaker": ("__pacemaker_packages",),
    "keepalived": ("__keepalived_packages", "__keepalived_ipvs_packages"),
    "drbd": ("__drbd_packages",),
    "apache": ("__apache_packages",),
    "lvs_realserver": ("__lvs_realserver_packages",),
}
LAB_FENCE_AGENT = "fence_ipmilan"  # what the lab's virtual BMCs are fenced with


def ha_packages(release: str) -> tuple[str, ...]:
    """Everything the roles install on `release` for a lab VM, and the lab's fence agent."""
    from halab.rolevars import fence_agents, role_vars

    wanted = [pkg for role, names in ROLE_PACKAGES.items() for name in names for pkg in role_vars(role, release)[name]]
    return tuple(dict.fromkeys([*wanted, *fence_agents(release)[LAB_FENCE_AGENT], *EXTRA_PACKAGES]))
KERNEL_PACKAGES = ("linux-image-amd64", "initramfs-tools", "kmod")
INITRAMFS_MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "ext4")
IMAGE_SIZE_MB = 3072  # sparse; the tree is about 1 GB
LAYOUT_VERSION = "2"

# Runs at every boot before the network and sshd: unpacks the node's identity tar (fw_cfg
# entry opt/halab/identity) over / and runs the network script that came with it.
IDENTITY_UNIT = """\
[Unit]
Description=halab lab: node identity from QEMU fw_cfg
DefaultDependencies=no
After=local-fs.target
Before=network-pre.target ssh.service sysinit.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/halab-identity

[Install]
WantedBy=sysinit.target
"""
IDENTITY_SCRIPT = """\
#!/bin/sh
# halab lab: node identity from QEMU fw_cfg (hostname, keys, addresses), every boot.
set -e
modprobe qemu_fw_cfg 2>/dev/null || true
blob=/sys/firmware/qemu_fw_cfg/by_name/opt/halab/identity/raw
i=0
while [ ! -r "$blob" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
tar -x -C / -f "$blob" --no-same-owner --no-overwrite-dir
chown -R root:root /root/.ssh /etc/ssh/ssh_host_ed25519_key
exec /bin/sh /etc/halab/network.sh
"""
# Nothing periodic that competes for the emulated CPU.
MASK_UNITS = ("apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer")


def image_key(release: str) -> str:
    recipe = "|".join((release, MIRROR, INCLUDE, ",".join(ha_packages(release)), ",".join(KERNEL_PACKAGES),
                       ",".join(INITRAMFS_MODULES), IDENTITY_UNIT, IDENTITY_SCRIPT, LAYOUT_VERSION))  # fmt: skip
    return f"vm-{release}-{hashlib.sha256(recipe.encode()).hexdigest()[:10]}"


def image_dir(release: str) -> Path:
    return cache_dir() / "images" / image_key(release)


def image_ready(release: str) -> bool:
    return (image_dir(release) / READY).exists()


def ensure_vm_image(release: str, log: Path | None = None) -> Path:
    """Directory with `root.img` (raw ext4), `vmlinuz`, `initrd.img`; built once, atomically."""
    return build_cached(image_dir(release), lambda out, logfile: _build(release, out, logfile), log,
                        stale_glob=f"vm-{release}-*")  # fmt: skip


def _step(log: Path, title: str, argv: list[str], timeout: float = 1800) -> None:
    started = time.monotonic()
    result = run(argv, check=False, timeout=timeout)
    with log.open("a") as out:
        out.write(f"== {title} ({time.monotonic() - started:.0f} s, rc {result.returncode})\n")
        out.write(result.stdout[-20000:] + result.stderr[-20000:])
    if result.returncode != 0:
        raise OperationFailed(f"VM image: {title} failed ({result.returncode}); log: {log}")


def _build(release: str, out: Path, log: Path) -> None:
    log.write_text("")
    tree = out / "tree"
    _step(log, "debootstrap", ["debootstrap", "--variant=minbase", f"--include={INCLUDE}", release, str(tree),
                               MIRROR])  # fmt: skip
    (tree / "etc/apt/sources.list").write_text(sources(release))
    (tree / "etc/apt/apt.conf.d/90halab-lab").write_text(APT_CONF)
    modules = tree / "etc/initramfs-tools/modules"
    modules.parent.mkdir(parents=True, exist_ok=True)
    modules.write_text("\n".join(INITRAMFS_MODULES) + "\n")
    # Only those modules (and their dependencies): a 36 MB initramfs of MODULES=most takes
    # seconds to unpack under TCG.
    (tree / "etc/initramfs-tools/conf.d").mkdir(parents=True, exist_ok=True)
    (tree / "etc/initramfs-tools/conf.d/halab.conf").write_text("MODULES=list\n")
    policy = tree / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")  # no daemon starts while baking
    policy.chmod(0o755)
    packages = " ".join(KERNEL_PACKAGES + ha_packages(release))
    # --force-overwrite: drbd-utils 9.22 ships /var/lock, a symlink owned by newer base-files.
    script = (
        "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; "
        "apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-overwrite "
        f"{packages}; apt-get clean"
    )
    nspawn = ["systemd-nspawn", "-q", "-D", str(tree), "--register=no", "--keep-unit",
              "-M", f"halab-bake-{os.getpid()}", "--resolv-conf=copy-host", "--timezone=off", "--pipe"]  # fmt: skip
    _step(log, "kernel and HA packages", [*nspawn, "/bin/sh", "-c", script])
    lock = tree / "var/lock"
    if not lock.is_symlink():  # put base-files' symlink back (drbd-utils left a directory)
        shutil.rmtree(lock)
        lock.symlink_to("/run/lock")
    policy.unlink()
    _customise(tree)
    boot = tree / "boot"
    kernels = sorted(boot.glob("vmlinuz-*"))
    initrds = sorted(boot.glob("initrd.img-*"))
    if not kernels or not initrds:
        raise OperationFailed(f"VM image: no kernel/initrd in {boot}; log: {log}")
    shutil.copy2(kernels[-1], out / "vmlinuz")
    shutil.copy2(initrds[-1], out / "initrd.img")
    (out / "kernel-version").write_text(kernels[-1].name.removeprefix("vmlinuz-") + "\n")
    _step(log, "mkfs.ext4 -d", ["mkfs.ext4", "-q", "-F", "-L", "halab-root", "-E", "root_owner=0:0",
          "-d", str(tree), str(out / "root.img"), f"{IMAGE_SIZE_MB}M"])  # fmt: skip
    shutil.rmtree(tree)


def _customise(tree: Path) -> None:
    (tree / "etc/ssh/sshd_config.d/halab-lab.conf").write_text(SSHD_CONF)
    for key in (tree / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    for name in ("etc/hostname", "etc/machine-id", "var/lib/dbus/machine-id"):
        (tree / name).unlink(missing_ok=True)
    (tree / "etc/machine-id").write_text("")  # systemd.machine_id= on the command line
    (tree / "etc/fstab").write_text("/dev/vda / ext4 rw,errors=remount-ro 0 1\n")
    script = tree / "usr/local/sbin/halab-identity"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(IDENTITY_SCRIPT)
    script.chmod(0o755)
    unit = tree / "etc/systemd/system/halab-identity.service"
    unit.write_text(IDENTITY_UNIT)
    wants = tree / "etc/systemd/system/sysinit.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / unit.name).unlink(missing_ok=True)
    (wants / unit.name).symlink_to(f"/etc/systemd/system/{unit.name}")
    for name in MASK_UNITS:
        link = tree / "etc/systemd/system" / name
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    # The serial console is the boot log; no getty fighting over it.
    (tree / "etc/systemd/system/serial-getty@ttyS0.service").symlink_to("/dev/null")
    # The package lists stay: Ansible's apt module reads them; .debs go (apt-get clean).
