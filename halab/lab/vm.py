"""One lab node as a QEMU VM: Debian's stock kernel (ip_vs, drbd) on the lab's bridges.

Per node (in its node dir): `root.qcow2` (copy-on-write over the baked image), blank
`disk-vdX.raw` for DRBD backing disks, `identity.tar` (hostname, /etc/hosts, root's
authorized_keys, the pinned host key, a network script) handed to the guest through QEMU's
fw_cfg and unpacked by a baked unit at every boot, and `console.log` (serial console).
One tap per network, named like a container's veth, enslaved to the same bridge: a lab can
mix VMs and containers, and cut/restore/teardown treat taps as they treat veths.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import time
from pathlib import Path

from halab.errors import InputError, OperationFailed
from halab.lab import names, network
from halab.lab.aptproxy import PORT
from halab.lab.node import HOST_CA_BUNDLE, HOST_LOCAL_CAS, host_resolv_conf, hosts_file
from halab.lab.proc import run
from halab.lab.procs import Proc, wait_gone
from halab.lab.state import LabState, NodeState
from halab.paths import cache_dir

QEMU = "qemu-system-x86_64"
ACCEL_ENV = "HALAB_LAB_ACCEL"  # kvm | tcg | auto (default)
SSH_TIMEOUT = 420.0  # boot to SSH is 47-67 s under TCG with two VMs; leave room for more


def accel() -> str:
    """`kvm` only if a stock kernel actually boots with it here, else `tcg`.

    Some hosts offer /dev/kvm that cannot run a stock kernel (it hangs silently); a probe
    boots the VM kernel with KVM for a few seconds and looks for its first console line.
    The answer is cached per host kernel; HALAB_LAB_ACCEL=kvm|tcg overrides it.
    """
    wanted = os.environ.get(ACCEL_ENV, "auto").strip().lower() or "auto"
    if wanted in ("kvm", "tcg"):
        return wanted
    if wanted != "auto":
        raise InputError(f"{ACCEL_ENV}={wanted!r}: use kvm, tcg or auto")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    cached = cache_dir() / f"accel-{os.uname().release}"
    if cached.exists():
        return cached.read_text().strip()
    from halab.lab.image import DEFAULT_RELEASE
    from halab.lab.vmimage import ensure_vm_image

    result = "kvm" if _kvm_boots(ensure_vm_image(DEFAULT_RELEASE)) else "tcg"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(result + "\n")
    return result


def _kvm_boots(image: Path, timeout: float = 10) -> bool:
    argv = [QEMU, "-accel", "kvm", "-cpu", "host", "-m", "256", "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", "stdio", "-no-reboot", "-kernel", str(image / "vmlinuz"),
            "-append", "console=ttyS0 panic=-1 root=/dev/null"]  # fmt: skip
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert child.stdout is not None
    os.set_blocking(child.stdout.fileno(), False)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and child.poll() is None:
            seen += child.stdout.read() or b""
            if b"Linux version" in seen:
                return True
            time.sleep(0.1)
        return b"Linux version" in seen + (child.stdout.read() or b"")
    finally:
        child.kill()
        child.wait()


def mac(lab: str, node: str, link: int) -> str:
    digest = hashlib.sha256(f"{lab}/{node}/{link}".encode()).hexdigest()
    return "52:54:00:" + ":".join(digest[i : i + 2] for i in (0, 2, 4))


def machine_id(lab: str, node: str) -> str:
    return hashlib.sha256(f"halab-lab/{lab}/{node}".encode()).hexdigest()[:32]


def host_key(state: LabState, node: NodeState) -> Path:
    return node.dir(state.name) / "ssh_host_ed25519_key"


def plumb(state: LabState, node: NodeState, mtu: int) -> None:
    """One persistent tap per network the node is on, enslaved to that network's bridge."""
    nspec = state.spec.node(node.name)
    for link, net in enumerate(state.spec.networks):
        tap = node.veths[link]
        if net.name not in nspec.addresses or network.link_exists(tap):
            continue
        run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"])
        run(["ip", "link", "set", tap, "mtu", str(mtu), "master", names.bridge(state.name, link), "up"])


def prepare(state: LabState, node: NodeState, image: Path, mtu: int) -> None:
    """Overlay root, blank disks, host key and identity blob (kept across reboots)."""
    nspec = state.spec.node(node.name)
    ndir = node.dir(state.name)
    ndir.mkdir(parents=True, exist_ok=True)
    root = ndir / "root.qcow2"
    if not root.exists():
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(image / "root.img"), str(root)])
    for disk in nspec.disks:
        path = ndir / f"disk-{Path(disk).name}.raw"
        if not path.exists():
            with path.open("wb") as blank:  # sparse
                blank.truncate(state.spec.vm_disk_mb * 1024 * 1024)
    key = host_key(state, node)
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{node.name}", "-f", str(key)])
    identity = ndir / "identity.tar"  # holds the node's private host key
    fd = os.open(identity, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(identity_tar(state, node, mtu))


def identity_tar(state: LabState, node: NodeState, mtu: int) -> bytes:
    spec = state.spec
    primary = spec.primary
    files: dict[str, tuple[str, int]] = {
        "etc/hostname": (f"{node.name}\n", 0o644),
        "etc/hosts": (hosts_file(state), 0o644),
        "etc/resolv.conf": (host_resolv_conf(), 0o644),
        "etc/apt/apt.conf.d/01halab-proxy": (
            f'Acquire::http::Proxy "http://{primary.host_address}:{PORT}";\nAcquire::https::Proxy "DIRECT";\n',
            0o644,
        ),
        "root/.ssh/authorized_keys": (state.key.with_suffix(".pub").read_text(), 0o600),
        "etc/ssh/ssh_host_ed25519_key": (host_key(state, node).read_text(), 0o600),
        "etc/ssh/ssh_host_ed25519_key.pub": (host_key(state, node).with_suffix(".pub").read_text(), 0o644),
        "etc/halab/network.sh": (network_script(state, node, mtu), 0o755),
    }
    if HOST_LOCAL_CAS.is_dir():  # nodes trust what the host trusts (an inspecting proxy's CA)
        for cert in HOST_LOCAL_CAS.glob("*.crt"):
            files[f"usr/local/share/ca-certificates/{cert.name}"] = (cert.read_text(), 0o644)
        if HOST_CA_BUNDLE.exists():
            files["etc/ssl/certs/ca-certificates.crt"] = (HOST_CA_BUNDLE.read_text(), 0o644)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        ssh_dir = tarfile.TarInfo("root/.ssh")
        ssh_dir.type, ssh_dir.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(ssh_dir)
        for name, (text, mode) in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def network_script(state: LabState, node: NodeState, mtu: int) -> str:
    """Shell run in the guest at boot: NICs found by MAC, renamed, addressed, default route."""
    spec = state.spec
    nspec = spec.node(node.name)
    links = [(link, net) for link, net in enumerate(spec.networks) if net.name in nspec.addresses]
    # Forks are slow in an emulated guest: shell built-ins to find NICs, one `ip -batch`.
    lines = [
        "#!/bin/sh",
        "# halab lab: written by the host at node creation; run by halab-identity at boot",
        "set -e",
        'byaddr() { for d in /sys/class/net/*; do read -r a < "$d/address"; '
        '[ "$a" = "$1" ] && echo "${d##*/}" && return 0; done; return 0; }',
        "batch=/run/halab-network.batch",
        ': > "$batch"',
    ]
    for link, net in links:  # renames in two passes: a wanted name may be held by another NIC
        lines.append(f'n=$(byaddr {mac(state.name, node.name, link)}); [ "$n" = {net.interface} ] || '
                     f'echo "link set $n down\nlink set $n name halabtmp{link}" >> "$batch"')  # fmt: skip
    for link, net in links:
        lines.append(f'grep -q " name halabtmp{link}$" "$batch" && echo "link set halabtmp{link} name {net.interface}" '
                     '>> "$batch"')  # fmt: skip
    lines.append("cat >> \"$batch\" <<'EOF'")
    lines.append("link set lo up")
    for _link, net in links:
        address = f"{nspec.addresses[net.name]}/{net.subnet.prefixlen}"
        lines.append(f"link set {net.interface} mtu {mtu} up")
        lines.append(f"addr replace {address} dev {net.interface}")
    lines.append(f"route replace default via {spec.primary.host_address}")
    lines.append("EOF")
    lines.append('ip -batch "$batch"')
    return "\n".join(lines) + "\n"


def qemu_argv(state: LabState, node: NodeState, image: Path, accel_name: str) -> list[str]:
    spec = state.spec
    nspec = spec.node(node.name)
    ndir = node.dir(state.name)
    vms = sum(1 for n in spec.nodes if n.is_vm)
    smp = 2 if vms == 1 and (os.cpu_count() or 1) >= 2 else 1
    cmdline = " ".join([
        "root=/dev/vda", "rw", "console=ttyS0", "quiet", "net.ifnames=0", "mitigations=off",
        f"systemd.hostname={node.name}", f"systemd.machine_id={machine_id(state.name, node.name)}",
    ])  # fmt: skip
    argv = [
        QEMU, "-name", f"{names.prefix(state.name)}-{node.name}", "-accel", accel_name,
        "-cpu", "host" if accel_name == "kvm" else "qemu64", "-smp", str(smp),
        "-m", str(spec.vm_memory_mb), "-nodefaults", "-no-user-config", "-display", "none",
        "-serial", f"file:{ndir / 'console.log'}",
        "-kernel", str(image / "vmlinuz"), "-initrd", str(image / "initrd.img"), "-append", cmdline,
        "-drive", f"file={ndir / 'root.qcow2'},if=virtio,format=qcow2,cache=unsafe",
    ]  # fmt: skip
    for disk in nspec.disks:
        argv += ["-drive", f"file={ndir / ('disk-' + Path(disk).name + '.raw')},if=virtio,format=raw,cache=unsafe"]
    for link, net in enumerate(spec.networks):
        if net.name not in nspec.addresses:
            continue
        argv += ["-netdev", f"tap,id=n{link},ifname={node.veths[link]},script=no,downscript=no",
                 "-device", f"virtio-net-pci,netdev=n{link},mac={mac(state.name, node.name, link)}"]  # fmt: skip
    argv += ["-device", "virtio-rng-pci", "-fw_cfg", f"name=opt/halab/identity,file={ndir / 'identity.tar'}"]
    return argv


def boot(state: LabState, node: NodeState, image: Path) -> None:
    """Start QEMU (not daemonised: its PID is the one recorded and killed)."""
    ndir = node.dir(state.name)
    (ndir / "console.log").unlink(missing_ok=True)
    log = (ndir / "qemu.log").open("ab")
    child = subprocess.Popen(
        qemu_argv(state, node, image, accel()),
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    log.close()
    node.qemu = Proc.of(child.pid)
    state.save()
    time.sleep(0.5)
    if child.poll() is not None:
        tail = (ndir / "qemu.log").read_text()[-600:]
        node.qemu = None
        state.save()
        raise OperationFailed(f"{node.name}: {QEMU} exited ({child.returncode}): {tail}")


def running(node: NodeState) -> bool:
    return bool(node.qemu and node.qemu.alive())


def power_off(node: NodeState) -> None:
    """Pulling the plug: SIGKILL to QEMU."""
    if node.qemu is not None:
        node.qemu.kill()
        if not wait_gone([node.qemu], timeout=15):
            raise OperationFailed(f"{node.name}: QEMU {node.qemu.pid} survives SIGKILL")
    node.qemu = None


def console_tail(state: LabState, node: NodeState, chars: int = 1500) -> str:
    log = node.dir(state.name) / "console.log"
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no console log)"
