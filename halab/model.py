"""The cluster model: one YAML file describing nodes, networks and every HA layer.

Schema-level rules (types, required fields, unknown keys, ranges, and the format each
value must have where it ends up: `halab.formats`) live here as pydantic models; rules
that relate several fields to each other live in `halab.semantics`;
`halab.validation.load_cluster` runs both.
"""

from __future__ import annotations

import itertools
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .formats import (
    AbsolutePath,
    Address,
    Bool,
    Command,
    DevicePath,
    HostAddress,
    Int,
    Interface,
    Interval,
    Line,
    MountOptions,
    Number,
    ParamName,
    Port,
    PosixUser,
    Rate,
    Subnet,
    Text,
    UrlPath,
    vault_problem,
)
from .yamlsource import VaultValue

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$"
HOSTNAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
# Inventory names Ansible gives a meaning of its own.
RESERVED_HOSTNAMES = ("all", "ungrouped", "localhost")


def _not_reserved(name: str) -> str:
    if name in RESERVED_HOSTNAMES:
        raise ValueError(f"'{name}' is a reserved name in Ansible inventories; choose another node name")
    return name


Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Hostname = Annotated[str, Field(pattern=HOSTNAME_PATTERN)]
NodeName = Annotated[str, Field(pattern=HOSTNAME_PATTERN), AfterValidator(_not_reserved)]
Scalar = Line | Int | Number | Bool
Attributes = dict[ParamName, Scalar]
Utilization = dict[ParamName, Annotated[int, Field(ge=0, le=1000000)]]
"""What a node offers or a resource needs (placement_strategy weighs them)."""
Score = Annotated[int, Field(ge=-1000000, le=1000000)] | Literal["INFINITY", "-INFINITY", "+INFINITY"]
NodeRole = Literal["member", "director", "realserver", "web", "arbitrator"]
Release = Literal["bookworm", "trixie"]  # the Debian releases the roles and the lab support


class Strict(BaseModel):
    """Base for every section: unknown keys are errors, no value is coerced (`true` is not 1)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class EnvSecret(Strict):
    """A secret read from an environment variable of the machine running halab/Ansible."""

    env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class FileSecret(Strict):
    """A secret read from a file on the machine running halab/Ansible (see halab.secrets)."""

    file: AbsolutePath


def _vault_value(value: Any) -> VaultValue:
    if not isinstance(value, VaultValue):
        raise PydanticCustomError("vault_type", "not an !vault value")
    problem = vault_problem(value.ciphertext)
    if problem:
        raise ValueError(f"the !vault value {problem}")
    return value


Vault = Annotated[
    VaultValue,
    PlainValidator(_vault_value),
    WithJsonSchema({"type": "string", "description": "an Ansible Vault value (!vault |)"}),
]
Secret = EnvSecret | FileSecret | Vault | Line
"""Where a secret comes from. A plain string is only allowed with allow_plaintext_secrets."""

# Ansible variables a node's connection may set; role variables come from the cluster file.
CONNECTION_VARS = (
    "ansible_connection", "ansible_become", "ansible_become_method", "ansible_become_user",
    "ansible_become_flags", "ansible_become_exe", "ansible_ssh_private_key_file",
    "ansible_private_key_file", "ansible_ssh_common_args", "ansible_ssh_extra_args",
    "ansible_sftp_extra_args", "ansible_scp_extra_args", "ansible_ssh_executable",
    "ansible_ssh_pipelining", "ansible_pipelining", "ansible_python_interpreter",
    "ansible_shell_type", "ansible_shell_executable", "ansible_timeout", "ansible_ssh_timeout",
    "ansible_ssh_retries", "ansible_host_key_checking", "ansible_ssh_host_key_checking",
)  # fmt: skip
# Kept out of connection.vars: they have fields of their own (secrets follow the secret rules).
CONNECTION_FIELDS = {
    "ansible_host": "host", "ansible_ssh_host": "host", "ansible_user": "user", "ansible_ssh_user": "user",
    "ansible_port": "port", "ansible_ssh_port": "port", "ansible_password": "password",
    "ansible_ssh_pass": "password", "ansible_ssh_password": "password",
    "ansible_become_password": "become_password", "ansible_become_pass": "become_password",
    "ansible_sudo_pass": "become_password",
}  # fmt: skip


def _connection_vars(values: dict[str, Any]) -> dict[str, Any]:
    for key in values:
        if key in CONNECTION_FIELDS:
            raise ValueError(f"{key}: set connection.{CONNECTION_FIELDS[key]} instead")
        if key not in CONNECTION_VARS:
            raise ValueError(
                f"{key} is not an Ansible connection variable; connection.vars takes only "
                f"{', '.join(CONNECTION_VARS)} (role variables come from the rest of the file)"
            )
    return values


def lab_host_address(subnet: IPv4Network, gateway: IPv4Address | None) -> IPv4Address:
    """The lab host's side of a network (the lab's BMCs answer there on the primary one):
    the network's gateway, else its first host address."""
    return gateway if gateway is not None else next(subnet.hosts())


class Network(Strict):
    """A layer-2 segment the nodes share (client traffic, heartbeat, replication)."""

    name: Name
    subnet: Subnet
    interface: Interface | None = Field(default=None, description="interface name on the nodes; default eth<position>")
    gateway: Address | None = None


class Connection(Strict):
    """How Ansible reaches a node, when not at its first address as root over SSH."""

    host: HostAddress | None = None
    user: PosixUser = "root"
    port: Port = 22
    password: Secret | None = Field(default=None, description="SSH password (a secret); keys are better")
    become_password: Secret | None = Field(default=None, description="sudo password (a secret)")
    vars: Annotated[dict[str, Scalar], AfterValidator(_connection_vars)] = Field(
        default_factory=dict, description="Ansible connection variables (ansible_become, ansible_ssh_common_args, ...)"
    )


class Node(Strict):
    """One host. Its roles say what halab installs there."""

    name: NodeName
    roles: list[NodeRole] = Field(default_factory=lambda: ["member"], min_length=1)
    id: Annotated[int, Field(ge=1, le=65535)] | None = None
    addresses: dict[str, Address] = Field(min_length=1)
    connection: Connection = Field(default_factory=Connection)
    leaving: Bool = Field(
        default=False,
        description="a member taken out of the cluster by the next deploy (drained, stopped, removed); "
        "delete the node from the file afterwards",
    )
    attributes: Attributes = Field(default_factory=dict, description="Pacemaker node attributes (members)")
    utilization: Utilization = Field(default_factory=dict, description="capacities, e.g. {cpu: 4} (members)")


class Crypto(Strict):
    cipher: Literal["aes256", "aes192", "aes128", "none"] = "aes256"
    hash: Literal["sha512", "sha384", "sha256", "sha1", "md5", "none"] = "sha256"


class Quorum(Strict):
    two_node: Bool | None = Field(default=None, description="default: true for exactly 2 members without qdevice")
    wait_for_all: Bool | None = None
    last_man_standing: Bool = False
    auto_tie_breaker: Bool = False


class QDevice(Strict):
    host: Hostname = Field(description="a node with role arbitrator running corosync-qnetd")
    algorithm: Literal["ffsplit", "lms"] = "ffsplit"
    tie_breaker: Literal["lowest", "highest"] | Annotated[int, Field(ge=1)] = "lowest"
    port: Port = 5403
    tls: Literal["on", "off", "required"] = "on"
    network: Name | None = Field(default=None, description="network to reach qnetd; default first link")


Milliseconds = Annotated[int, Field(ge=1, le=60000)]


class CorosyncLink(Strict):
    """A knet link with options of its own. Several networks make a routed link (one per
    room): each member has an address on one of them, and the rooms route between them."""

    networks: list[Name] = Field(min_length=1, description="one network, or one per room of a routed cluster")
    priority: Annotated[int, Field(ge=0, le=255)] | None = Field(
        default=None, description="knet_link_priority: in passive link_mode the highest one carries the traffic"
    )
    transport: Literal["udp", "sctp"] | None = Field(default=None, description="knet_transport; corosync's: udp")
    mcastport: Port | None = Field(default=None, description="the link's UDP/SCTP port; corosync's: 5405 + link")
    ping_interval: Milliseconds | None = Field(default=None, description="knet_ping_interval, ms")
    ping_timeout: Milliseconds | None = Field(default=None, description="knet_ping_timeout, ms")
    pong_count: Annotated[int, Field(ge=1, le=255)] | None = Field(default=None, description="knet_pong_count")


Timing = Literal["default", "fast", "wan"]

# What a timing profile sets where the file does not (docs/cluster-yaml.md#timing-profiles):
# corosync's token in ms (consensus and knet's pings follow it) and VRRP's advert_int in s.
COROSYNC_TOKEN: dict[str, int] = {"default": 3000, "fast": 500, "wan": 10000}
VRRP_ADVERT_INT: dict[str, float] = {"default": 1, "fast": 0.2, "wan": 2}


class Corosync(Strict):
    links: list[Name | CorosyncLink] | None = Field(
        default=None, description="heartbeat links, link 0 first: a network's name, or a link with options"
    )
    transport: Literal["knet", "udpu", "udp"] = "knet"
    link_mode: Literal["passive", "active", "rr"] = "passive"
    crypto: Crypto = Field(default_factory=Crypto)
    timing: Timing = Field(default="default", description="token's default: 3000 ms, fast 500, wan 10000")
    token: Annotated[int, Field(ge=100, le=120000)] | None = Field(default=None, description="default: the timing's")
    consensus: Annotated[int, Field(ge=100, le=240000)] | None = None
    join: Annotated[int, Field(ge=10, le=10000)] | None = None
    quorum: Quorum = Field(default_factory=Quorum)
    qdevice: QDevice | None = None

    @model_validator(mode="after")
    def _fill_timing(self) -> Corosync:
        if self.token is None:
            self.token = COROSYNC_TOKEN[self.timing]
        return self


AlertKind = Literal["nodes", "fencing", "resources", "attributes"]


class Alert(Strict):
    """A Pacemaker alert: an agent that every member runs for each cluster event, once per
    recipient (a log file, a mail address, an SNMP host: what the agent takes)."""

    name: Name
    agent: Literal["file", "smtp", "snmp"] | None = Field(
        default=None, description="Pacemaker's sample agent of that name, installed by halab"
    )
    path: AbsolutePath | None = Field(default=None, description="instead of agent: your executable, on every member")
    recipients: list[Line] = Field(min_length=1, description="file agent: absolute log file paths")
    kinds: list[AlertKind] = Field(default_factory=list, description="events to send; default: every kind")
    timeout: Interval | None = Field(default=None, description="how long the agent may run; Pacemaker's default: 30s")
    params: Attributes = Field(default_factory=dict, description="the agent's options (instance attributes)")


class Pacemaker(Strict):
    properties: Attributes = Field(default_factory=dict)
    placement_strategy: Literal["default", "utilization", "minimal", "balanced"] | None = Field(
        default=None, description="placement-strategy: how utilization counts; Pacemaker's default: default"
    )
    resource_defaults: Attributes = Field(default_factory=lambda: {"resource-stickiness": 100})
    op_defaults: Attributes = Field(default_factory=dict)
    hacluster_password: Secret | None = None
    alerts: list[Alert] = Field(default_factory=list)


class FenceDevice(Strict):
    name: Name
    agent: Annotated[str, Field(pattern=r"^fence_[a-z0-9_]+$")]
    targets: list[Hostname] = Field(min_length=1, description="nodes this device can fence")
    params: Attributes = Field(default_factory=dict)
    password: Secret | None = Field(default=None, description="passed as the agent's password")
    monitor_interval: Interval = "60s"


class Fencing(Strict):
    """STONITH devices, the order in which they are tried per node, and how a 2-node
    cluster decides who fences whom when the link between the nodes breaks."""

    devices: list[FenceDevice] = Field(min_length=1)
    levels: dict[Hostname, list[Annotated[list[Name], Field(min_length=1)]]] = Field(
        default_factory=dict,
        description="per node, the fencing levels in order: each a list of devices that must all succeed",
    )
    race: Literal["priority", "random", "none"] | None = Field(
        default=None, description="who wins a fence race: default priority for 2 members, else none"
    )
    priority_delay: Interval = Field(
        default="10s", description="priority-fencing-delay: how long the node running fewer resources waits"
    )
    delay_max: Interval = Field(default="5s", description="pcmk_delay_max of every device (race priority or random)")


OnFail = Literal["ignore", "block", "stop", "restart", "standby", "fence", "demote"]


class Operation(Strict):
    """An operation of a passed-through agent: whatever action it implements (monitor, start,
    reload-agent, a custom one), so the name is only checked to be a safe XML token."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
    interval: Interval = "0s"
    timeout: Interval | None = None
    role: Literal["Promoted", "Unpromoted", "Started", "Stopped"] | None = None
    on_fail: OnFail | None = Field(default=None, description="on-fail: what Pacemaker does when the action fails")
    params: Attributes = Field(default_factory=dict)


class _Resource(Strict):
    name: Name
    meta: Attributes = Field(default_factory=dict)


class _Primitive(_Resource):
    """A resource that runs an agent: it uses the nodes' capacity."""

    utilization: Utilization = Field(default_factory=dict, description="what it needs, e.g. {cpu: 1}")


class IpResource(_Primitive):
    """A floating IP (ocf:heartbeat:IPaddr2)."""

    type: Literal["ip"]
    address: Address
    network: Name | None = Field(default=None, description="default: the network whose subnet holds the address")
    cidr_netmask: Annotated[int, Field(ge=1, le=32)] | None = Field(
        default=None, description="prefix length of the address; default the network's"
    )
    nic: Interface | None = Field(default=None, description="interface that carries it; default the network's")
    monitor_interval: Interval = "10s"


class ApacheResource(_Primitive):
    """Apache managed by Pacemaker (ocf:heartbeat:apache), configured from `apache:`."""

    type: Literal["apache"]
    monitor_interval: Interval = "10s"


class FilesystemResource(_Primitive):
    """A filesystem mounted by Pacemaker (ocf:heartbeat:Filesystem), on DRBD or a device."""

    type: Literal["filesystem"]
    drbd: Name | None = None
    drbd_volume: Annotated[int, Field(ge=0, le=65534)] = Field(default=0, description="the DRBD volume it is on")
    device: DevicePath | None = None
    directory: AbsolutePath
    fstype: Literal["ext4", "xfs", "ext3"] = "ext4"
    options: MountOptions | None = None
    monitor_interval: Interval = "20s"


class ServiceCheck(Strict):
    """How clients reach a service: verify, status and drills probe it this way through the
    floating IP in front of it (else they only check that one node holds the address)."""

    type: Literal["tcp", "http"]
    port: Port
    path: UrlPath = Field(default="/", description="http only")
    status: Annotated[int, Field(ge=100, le=599)] = Field(default=200, description="http only: expected status")


class PrimitiveResource(_Primitive):
    """Any resource agent, passed through: `class:provider:type` or `class:type`."""

    type: Literal["primitive"]
    agent: Annotated[str, Field(pattern=r"^(ocf:[A-Za-z0-9_.-]+|systemd|lsb|service|stonith):[A-Za-z0-9_.@-]+$")]
    params: Attributes = Field(default_factory=dict)
    operations: list[Operation] = Field(default_factory=list)
    check: ServiceCheck | None = Field(default=None, description="how clients reach it (tcp or http port)")


class GroupResource(_Resource):
    """Resources started in order on one node, stopped in reverse."""

    type: Literal["group"]
    members: list[Name] = Field(min_length=1)


class CloneResource(_Resource):
    """A resource (or group) running on several nodes; promotable for Promoted/Unpromoted."""

    type: Literal["clone"]
    resource: Name
    promotable: Bool = False


Resource = Annotated[
    IpResource | ApacheResource | FilesystemResource | PrimitiveResource | GroupResource | CloneResource,
    Field(discriminator="type"),
]
PRIMITIVE_TYPES = (IpResource, ApacheResource, FilesystemResource, PrimitiveResource)

ResourceRole = Literal["Promoted", "Unpromoted", "Started"]


# Node attributes Pacemaker defines itself, usable in rules next to the ones nodes[].attributes set.
BuiltinNodeAttribute = Literal["#uname", "#id", "#kind", "#cluster-name", "#site-name"]


class RuleExpression(Strict):
    """A test of one node attribute (Pacemaker's <expression>)."""

    attribute: ParamName | BuiltinNodeAttribute
    operation: Literal["lt", "gt", "lte", "gte", "eq", "ne", "defined", "not_defined"]
    value: Line | Int | Number | None = Field(default=None, description="required unless defined/not_defined")
    type: Literal["string", "integer", "number", "version"] | None = Field(
        default=None, description="how values compare; Pacemaker's default: string"
    )


class LocationRule(Strict):
    """Nodes where the expressions hold get `score` (or the value of their `score_attribute`)."""

    expressions: list[RuleExpression] = Field(min_length=1)
    boolean_op: Literal["and", "or"] = "and"
    score: Score | None = None
    score_attribute: ParamName | None = Field(default=None, description="the node attribute that holds the score")


class Location(Strict):
    resource: Name
    node: Hostname | None = Field(default=None, description="one node; or rules")
    rules: list[LocationRule] = Field(default_factory=list, description="nodes chosen by their attributes")
    score: Score = 100
    role: ResourceRole | None = None


Action = Literal["start", "promote", "demote", "stop"]


class ResourceSet(Strict):
    """Resources constrained together (Pacemaker's resource_set): a chain when sequential
    (Pacemaker's default), else members free of each other but bound to the other sets."""

    resources: list[Name] = Field(min_length=1)
    sequential: Bool | None = None
    role: ResourceRole | None = Field(default=None, description="colocation sets only")
    action: Action | None = Field(default=None, description="order sets only")


class Colocation(Strict):
    resource: Name | None = None
    with_: Name | None = Field(default=None, alias="with")
    sets: list[ResourceSet] = Field(default_factory=list, description="instead of resource and with")
    score: Score = "INFINITY"
    role: ResourceRole | None = None
    with_role: ResourceRole | None = None

    def pairs(self) -> list[tuple[str, str]]:
        """The pairs of resources it binds: the pair, or along sequential sets and between sets."""
        if not self.sets:
            return [(self.resource, self.with_)] if self.resource and self.with_ else []
        chains = [pair for s in self.sets if s.sequential is not False for pair in itertools.pairwise(s.resources)]
        between = [(a, b) for one, two in itertools.pairwise(self.sets) for a in one.resources for b in two.resources]
        return chains + between


class Order(Strict):
    first: Name | None = None
    then: Name | None = None
    sets: list[ResourceSet] = Field(default_factory=list, description="instead of first and then")
    kind: Literal["Mandatory", "Optional", "Serialize"] = "Mandatory"
    first_action: Action = "start"
    then_action: Action = "start"
    symmetrical: Bool = True


class Constraints(Strict):
    location: list[Location] = Field(default_factory=list)
    colocation: list[Colocation] = Field(default_factory=list)
    order: list[Order] = Field(default_factory=list)


DrbdFencing = Literal["resource-and-stonith", "resource-only", "dont-care"]


class DrbdNetOptions(Strict):
    """DRBD net options halab passes on (drbd.conf(5)); DRBD's defaults where unset.

    The split-brain policies take DRBD's words except those naming a node
    (`discard-node-NAME`) or needing a handler halab does not install (`call-pri-lost-after-sb`).
    """

    after_sb_0pri: Literal[
        "disconnect", "discard-younger-primary", "discard-older-primary", "discard-zero-changes",
        "discard-least-changes",
    ] | None = Field(default=None, description="after-sb-0pri: split brain, no node Primary")  # fmt: skip
    after_sb_1pri: Literal["disconnect", "consensus", "violently-as0p", "discard-secondary"] | None = Field(
        default=None, description="after-sb-1pri: split brain, one node Primary"
    )
    after_sb_2pri: Literal["disconnect", "violently-as0p"] | None = Field(
        default=None, description="after-sb-2pri: split brain, both nodes Primary"
    )
    max_buffers: Annotated[int, Field(ge=32, le=131072)] | None = Field(default=None, description="max-buffers")
    sndbuf_size: Annotated[int, Field(ge=0, le=10485760)] | None = Field(
        default=None, description="sndbuf-size in bytes; 0 lets the kernel tune it"
    )


class DrbdDiskOptions(Strict):
    """DRBD disk (and resync controller) options halab passes on; DRBD's defaults where unset."""

    on_io_error: Literal["detach", "pass_on"] | None = Field(default=None, description="on-io-error")
    al_extents: Annotated[int, Field(ge=67, le=65534)] | None = Field(default=None, description="al-extents")
    c_plan_ahead: Annotated[int, Field(ge=0, le=300)] | None = Field(
        default=None, description="c-plan-ahead in tenths of a second; 0 turns the dynamic resync controller off"
    )
    c_max_rate: Rate | None = Field(default=None, description="c-max-rate, e.g. 500M")


Minor = Annotated[int, Field(ge=0, le=1048575)]


class DrbdVolume(Strict):
    """A further device of a resource (volume 1, 2, ...): replicated, promoted and failed
    over together with volume 0 (e.g. a database's data and its log on separate disks)."""

    minor: Minor | None = Field(default=None, description="default: the resource's minor + the volume's number")
    disk: DevicePath | None = Field(default=None, description="backing disk on every node")
    disks: dict[Hostname, DevicePath] = Field(default_factory=dict, description="per-node backing disks")


class DrbdResource(Strict):
    name: Name
    port: Annotated[int, Field(ge=1024, le=65535)] = 7789
    minor: Minor | None = Field(default=None, description="default: position")
    disk: DevicePath | None = Field(default=None, description="backing disk on every node")
    disks: dict[Hostname, DevicePath] = Field(default_factory=dict, description="per-node backing disks")
    nodes: list[Hostname] | None = Field(default=None, description="default: all members")
    network: Name | None = Field(default=None, description="replication network; default first corosync link")
    protocol: Literal["A", "B", "C"] = "C"
    initial_sync: Literal["full", "skip"] = "full"
    allow_existing_filesystem: Bool = False
    resync_rate: Rate | None = None
    fencing: DrbdFencing | None = Field(
        default=None,
        description="default: resource-and-stonith with fencing, resource-only without; "
        "dont-care: no fence-peer handlers",
    )
    net_options: DrbdNetOptions = Field(default_factory=DrbdNetOptions)
    disk_options: DrbdDiskOptions = Field(default_factory=DrbdDiskOptions)
    shared_secret: Secret | None = Field(default=None, description="peers authenticate with it (a secret)")
    cram_hmac_alg: Literal["sha256", "sha512", "sha1"] | None = Field(
        default=None, description="cram-hmac-alg; default sha256 with a shared_secret"
    )
    volumes: list[DrbdVolume] = Field(
        default_factory=list, description="volumes 1, 2, ... (volume 0 is the resource's own disk and minor)"
    )

    def minors_at(self, position: int) -> list[int]:
        """Its volumes' minors (/dev/drbdN) as resource number `position`, volume 0 first: the
        given ones, else the position (plus the volume's number)."""
        first = self.minor if self.minor is not None else position
        return [first] + [v.minor if v.minor is not None else first + k for k, v in enumerate(self.volumes, 1)]

    def backing_disks(self) -> list[tuple[str | None, dict[str, str]]]:
        """Per volume, volume 0 first: the disk of every node and the per-node ones."""
        return [(self.disk, self.disks)] + [(v.disk, v.disks) for v in self.volumes]

    def backing_disk(self, node: str, volume: int) -> str | None:
        disk, disks = self.backing_disks()[volume]
        return disks.get(node, disk)


class Drbd(Strict):
    version: Literal["auto", "8.4", "9"] = "auto"
    resources: list[DrbdResource] = Field(min_length=1)


class VrrpScript(Strict):
    name: Name
    script: Command
    interval: Annotated[int, Field(ge=1)] = 2
    weight: Annotated[int, Field(ge=-253, le=253)] = 0
    rise: Annotated[int, Field(ge=1)] = 2
    fall: Annotated[int, Field(ge=1)] = 2


class TrackedInterface(Strict):
    """A director's interface on `network` that the instance watches: down, the director
    lowers its priority by -weight (a peer takes over), or goes FAULT when weight is 0."""

    network: Name
    weight: Annotated[int, Field(ge=-253, le=253)] = Field(default=0, description="0: FAULT while the link is down")


class VrrpInstance(Strict):
    name: Name
    router_id: Annotated[int, Field(ge=1, le=255)]
    network: Name
    vips: list[Address] = Field(min_length=1)
    priorities: dict[Hostname, Annotated[int, Field(ge=1, le=254)]] | None = Field(
        default=None, description="default: directors in file order get 150, 100, 50..."
    )
    advert_int: Annotated[Number, Field(gt=0, le=255)] | None = Field(
        default=None, description="seconds; default: the timing's (1, fast 0.2, wan 2)"
    )
    preempt: Bool = True
    preempt_delay: Annotated[int, Field(ge=0, le=1000)] | None = None
    unicast: Bool = False
    auth_pass: Secret | None = None
    track_scripts: list[Name] = Field(default_factory=list)
    track_interfaces: list[TrackedInterface] = Field(default_factory=list)
    notify: Command | None = None
    garp_master_delay: Annotated[int, Field(ge=0, le=255)] | None = None

    @property
    def version(self) -> int:
        """VRRPv2 counts advert_int in whole seconds (keepalived rounds anything else); a
        fractional one needs VRRPv3, which counts centiseconds and has no authentication."""
        return 2 if float(self.advert_int or 1).is_integer() else 3


class SyncGroup(Strict):
    name: Name
    instances: list[Name] = Field(min_length=2)


class Vrrp(Strict):
    timing: Timing = Field(default="default", description="advert_int's default: 1 s, fast 0.2 s, wan 2 s")
    instances: list[VrrpInstance] = Field(min_length=1)
    scripts: list[VrrpScript] = Field(default_factory=list)
    sync_groups: list[SyncGroup] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fill_timing(self) -> Vrrp:
        for instance in self.instances:
            if instance.advert_int is None:
                instance.advert_int = VRRP_ADVERT_INT[self.timing]
        return self


class UrlCheck(Strict):
    path: UrlPath
    status: Annotated[int, Field(ge=100, le=599)] = 200


class HealthCheck(Strict):
    type: Literal["HTTP_GET", "SSL_GET", "TCP_CHECK", "MISC_CHECK"] = "HTTP_GET"
    path: UrlPath = "/healthz"
    status: Annotated[int, Field(ge=100, le=599)] = 200
    urls: list[UrlCheck] = Field(
        default_factory=list, description="HTTP_GET/SSL_GET: every URL must answer its status; default: path, status"
    )
    script: Command | None = Field(default=None, description="MISC_CHECK only")
    connect_timeout: Annotated[int, Field(ge=1)] = 3
    retry: Annotated[int, Field(ge=0)] = 2
    delay_before_retry: Annotated[int, Field(ge=0)] = 2


class RealServer(Strict):
    node: Hostname | None = Field(default=None, description="a realserver node of this file")
    address: Address | None = Field(default=None, description="instead of node: a server halab does not manage")
    port: Port | None = None
    weight: Annotated[int, Field(ge=0, le=65535)] = 1
    health_check: HealthCheck | None = Field(default=None, description="default: the virtual server's")


class SorryServer(Strict):
    address: Address
    port: Port


class VirtualServer(Strict):
    name: Name
    vip: Address
    port: Port = 80
    protocol: Literal["TCP", "UDP"] = "TCP"
    scheduler: Literal["rr", "wrr", "lc", "wlc", "sh"] = "wrr"
    method: Literal["DR", "NAT", "TUN"] = "DR"
    persistence_timeout: Annotated[int, Field(ge=1)] | None = None
    quorum: Annotated[int, Field(ge=1)] = 1
    delay_loop: Annotated[int, Field(ge=1)] = 6
    health_check: HealthCheck = Field(default_factory=HealthCheck)
    sorry_server: SorryServer | None = None
    real_servers: list[RealServer] | None = Field(default=None, description="default: every realserver node")


class NatGateway(Strict):
    """Where the real servers of NAT virtual servers send their replies: through the MASTER
    director, which undoes the NAT. `via` is a VRRP VIP on the real servers' network, so the
    route follows the MASTER."""

    via: Address = Field(description="a VRRP VIP of the directors on the real servers' network")
    to: list[Subnet] = Field(
        default_factory=lambda: [IPv4Network("0.0.0.0/0")],
        min_length=1,
        description="the clients' networks; default 0.0.0.0/0 (the real servers' default route)",
    )


class Lvs(Strict):
    virtual_servers: list[VirtualServer] = Field(min_length=1)
    nat_gateway: NatGateway | None = Field(
        default=None, description="the return route of NAT real servers (set up and verified by halab)"
    )


class Apache(Strict):
    port: Port = 80
    document_root: AbsolutePath = "/var/www/html"
    status_path: UrlPath = "/server-status"
    health_path: UrlPath = "/healthz"
    index_content: Text | None = Field(default=None, description="default: a page naming the node")


PackageName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9+.-]{0,99}$")]
"""A Debian package name (never read as an apt option)."""
UnitName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9:_.@-]{0,250}$")]
"""A systemd unit name, as `systemd:UNIT` names it (`.service` may be left out)."""
UNIT_TYPES = ("service", "socket", "timer", "target", "mount", "path")
FileMode = Annotated[str, Field(pattern=r"^0[0-7]{3}$")]
"""An octal file mode as a string: "0644" (quoted, so YAML does not read it as a number)."""


class ServiceDirectory(Strict):
    """A directory a service needs that its packages do not make."""

    path: AbsolutePath
    owner: PosixUser = "root"
    group: PosixUser = "root"
    mode: FileMode = "0755"


class ServiceFile(Strict):
    """A whole file, written exactly as given (never a template): `content`, or a `secret`
    (one line; the file holds it followed by a newline)."""

    path: AbsolutePath
    content: Text | None = None
    secret: Secret | None = Field(default=None, description="the file's content is this secret (a halab secret)")
    owner: PosixUser = "root"
    group: PosixUser = "root"
    mode: FileMode | None = Field(default=None, description='default "0644", "0600" for a secret')

    @property
    def file_mode(self) -> str:
        return self.mode or ("0600" if self.secret is not None else "0644")


class Service(Strict):
    """Software a resource runs: halab installs its packages, writes its files and leaves its
    units to Pacemaker (stopped and disabled outside it), on the members that may run it."""

    name: Name
    nodes: list[NodeName] | None = Field(default=None, description="default: every cluster member")
    packages: list[PackageName] = Field(default_factory=list)
    directories: list[ServiceDirectory] = Field(default_factory=list)
    files: list[ServiceFile] = Field(default_factory=list)
    units: list[UnitName] = Field(
        default_factory=list,
        description="systemd units Pacemaker starts (systemd:UNIT) or whose program its OCF agent runs: "
        "stopped and disabled by the deploy, so they never run outside Pacemaker",
    )

    @property
    def unit_files(self) -> list[str]:
        """The units' full names (`redis-server` is `redis-server.service`, as systemctl reads it)."""
        return [unit if unit.rsplit(".", 1)[-1] in UNIT_TYPES else f"{unit}.service" for unit in self.units]


class LabBmc(Strict):
    """The lab's virtual BMCs (IPMI over LAN): node i answers on the primary network's host
    address at UDP port `port + i`, its PDU outlet (a second power path) at `pdu_port + i`."""

    username: PosixUser = "admin"
    password: EnvSecret | FileSecret | None = Field(
        default=None, description="a secret; default: generated by the lab (labs/<lab>/bmc-password)"
    )
    port: Port = 6230
    pdu_port: Port | None = Field(default=None, description="set to give each node a second power path")


class LabSettings(Strict):
    """How `halab lab up` builds this cluster's nodes (ignored by deploy)."""

    vm_nodes: list[Hostname] = Field(
        default_factory=list,
        description="nodes booted as QEMU VMs with Debian's stock kernel (ip_vs, drbd); the rest are containers",
    )
    vm_memory_mb: Annotated[int, Field(ge=384, le=16384)] = 1024
    vm_disk_mb: Annotated[int, Field(ge=16, le=65536)] = 256
    bmc: LabBmc = Field(default_factory=LabBmc)
    release: Release = Field(default="trixie", description="Debian release of the lab's nodes (13, the current stable)")
    releases: dict[Hostname, Release] = Field(
        default_factory=dict, description="per-node releases (a mixed cluster, during an upgrade)"
    )


class Cluster(Strict):
    """The whole file."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
    allow_plaintext_secrets: Bool = False
    networks: list[Network] = Field(min_length=1)
    nodes: list[Node] = Field(min_length=1)
    corosync: Corosync = Field(default_factory=Corosync)
    pacemaker: Pacemaker = Field(default_factory=Pacemaker)
    fencing: Literal["disabled"] | Fencing | None = None
    resources: list[Resource] = Field(default_factory=list)
    constraints: Constraints = Field(default_factory=Constraints)
    drbd: Drbd | None = None
    vrrp: Vrrp | None = None
    lvs: Lvs | None = None
    apache: Apache = Field(default_factory=Apache)
    services: list[Service] = Field(default_factory=list)
    lab: LabSettings = Field(default_factory=LabSettings)
    # Not part of the file: connection variables per node given beside it (`--ssh-config`).
    _given_connections: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)
    _inventory_dir: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _fill_defaults(self) -> Cluster:
        for index, network in enumerate(self.networks):
            if network.interface is None:
                network.interface = f"eth{index}"
        return self

    def with_connections(self, connections: dict[str, dict[str, Any]]) -> Cluster:
        """This cluster, its nodes reached with `connections` (Ansible variables per node),
        which win over the file's `connection` and a lab's (see halab.connection)."""
        self._given_connections = connections
        return self

    @property
    def given_connections(self) -> dict[str, dict[str, Any]]:
        return self._given_connections

    def with_inventory(self, directory: Path) -> Cluster:
        """This cluster, run with the inventory in `directory` (`--inventory`) rather than one
        generated for the run: the operator's overrides in it apply (see runner.inventory_of)."""
        self._inventory_dir = directory
        return self

    @property
    def inventory_dir(self) -> Path | None:
        return self._inventory_dir

    # Derived views used by the inventory, the lab and the checks.
    def nodes_with(self, role: NodeRole) -> list[Node]:
        """Nodes with `role` (a leaving member is none: it only stays reachable)."""
        return [node for node in self.nodes if role in node.roles and not node.leaving]

    @property
    def leaving(self) -> list[Node]:
        return [node for node in self.nodes if node.leaving]

    @property
    def members(self) -> list[Node]:
        return self.nodes_with("member")

    def service_nodes(self, service: Service) -> list[str]:
        """Where `service` is installed: its `nodes`, else every member."""
        return list(service.nodes) if service.nodes is not None else [node.name for node in self.members]

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def network(self, name: str) -> Network:
        return next(net for net in self.networks if net.name == name)

    def network_of(self, address: IPv4Address) -> Network | None:
        return next((net for net in self.networks if address in net.subnet), None)

    @property
    def primary_network(self) -> Network:
        """The first network: SSH, the package mirror, /etc/hosts, the lab's host and BMCs."""
        return self.networks[0]

    @property
    def primary_networks(self) -> list[str]:
        """The first network and, when it belongs to a routed corosync link, that link's other
        networks (a node in another room is reached there)."""
        first = self.primary_network.name
        return next((link.networks for link in self.links if first in link.networks), [first])

    def primary_address(self, node: Node) -> IPv4Address:
        """Where SSH and /etc/hosts reach a node: its address on the first of the primary networks it has."""
        return next(node.addresses[name] for name in self.primary_networks if name in node.addresses)

    @property
    def links(self) -> list[CorosyncLink]:
        """Corosync's heartbeat links, link 0 first: the file's, else one on the primary network."""
        given = self.corosync.links or [self.primary_network.name]
        return [CorosyncLink(networks=[link]) if isinstance(link, str) else link for link in given]

    @property
    def routed(self) -> bool:
        """Members sit on different networks of one link (a cluster across routed rooms)."""
        return any(len(link.networks) > 1 for link in self.links)

    def link_network(self, node: Node, link: CorosyncLink) -> str | None:
        """The network of `link` that `node` has an address on."""
        return next((name for name in link.networks if name in node.addresses), None)

    @property
    def qdevice_network(self) -> str | None:
        """The network members reach qnetd on: the file's, else the arbitrator's network of
        corosync link 0 (its first network when it has none)."""
        qdevice, link = self.corosync.qdevice, self.links[0]
        if qdevice is None or qdevice.network is not None:
            return None if qdevice is None else qdevice.network
        host = next((node for node in self.nodes if node.name == qdevice.host), None)
        return (host and self.link_network(host, link)) or link.networks[0]

    def ip_network(self, ip: IpResource) -> Network | None:
        """The network that carries a floating IP: the given one, else the one whose subnet holds it."""
        return self.network(ip.network) if ip.network else self.network_of(ip.address)

    def outermost(self, name: str) -> str:
        """The resource Pacemaker places for `name`: its clone, else its group, else itself."""
        group = next((r.name for r in self.resources if isinstance(r, GroupResource) and name in r.members), name)
        return next((r.name for r in self.resources if isinstance(r, CloneResource) and r.resource == group), group)

    def ip_candidates(self, top: str) -> list[str]:
        """Members that have the network of every floating IP placed with `top` (itself, or
        the members of its group or clone): the only ones it may run on."""
        ips = [r for r in self.resources if isinstance(r, IpResource) and self.outermost(r.name) == top]
        nets = {net.name for net in map(self.ip_network, ips) if net is not None}
        return [node.name for node in self.members if nets <= set(node.addresses)]

    def drbd_minors(self) -> dict[str, list[int]]:
        """Each DRBD resource's minors (/dev/drbdN), volume 0 first."""
        resources = self.drbd.resources if self.drbd is not None else []
        return {res.name: res.minors_at(i) for i, res in enumerate(resources)}

    def drbd_device(self, name: str, volume: int = 0) -> str:
        return f"/dev/drbd{self.drbd_minors()[name][volume]}"

    def drbd_nodes(self, res: DrbdResource) -> list[str]:
        """The nodes a DRBD resource replicates between: the listed ones, else every member."""
        return res.nodes or [node.name for node in self.members]

    def drbd_fencing(self, res: DrbdResource) -> DrbdFencing:
        """A DRBD resource's fencing policy: the given one, else resource-and-stonith when the
        cluster has STONITH (I/O freezes until the peer is fenced: no split brain) and
        resource-only without (a fence that never comes would freeze I/O for good)."""
        if res.fencing is not None:
            return res.fencing
        return "resource-and-stonith" if self.fencing_enabled else "resource-only"

    def drbd_network(self, res: DrbdResource) -> str:
        """The network a DRBD resource replicates over: the given one, else corosync link 0."""
        return res.network or self.links[0].networks[0]

    def vrrp_priorities(self, inst: VrrpInstance) -> dict[str, int]:
        """Each director's VRRP priority: the given ones, else 150, 100, 50... in file order."""
        directors = self.nodes_with("director")
        return inst.priorities or {node.name: max(150 - 50 * position, 1) for position, node in enumerate(directors)}

    def real_servers(self, vs: VirtualServer) -> list[RealServer]:
        """The real servers behind a virtual server: the listed ones, else every realserver node."""
        if vs.real_servers is not None:
            return vs.real_servers
        return [RealServer(node=node.name) for node in self.nodes_with("realserver")]

    def real_server_network(self, vs: VirtualServer) -> str:
        """Where the directors reach a virtual server's real servers: for NAT behind a
        `nat_gateway`, the gateway's network (their replies return there); else the VIP's
        network (the primary one when the VIP is on none)."""
        gateway = self.lvs.nat_gateway if self.lvs else None
        if vs.method == "NAT" and gateway is not None and self.vrrp is not None:
            carrier = next((i for i in self.vrrp.instances if gateway.via in i.vips), None)
            if carrier is not None:
                return carrier.network
        return (self.network_of(vs.vip) or self.primary_network).name

    @property
    def nat_real_servers(self) -> list[str]:
        """Realserver nodes behind a NAT virtual server: their replies must go back through
        a director (`lvs.nat_gateway`)."""
        services = self.lvs.virtual_servers if self.lvs else []
        chosen = {rs.node for vs in services if vs.method == "NAT" for rs in self.real_servers(vs) if rs.node}
        return [node.name for node in self.nodes if node.name in chosen]

    def node_ids(self) -> dict[str, int]:
        """Corosync node ids: explicit ones kept, others numbered after the highest taken
        (leaving members count, so the others keep their ids while one leaves)."""
        numbered = [node for node in self.nodes if "member" in node.roles]
        taken = {node.id for node in numbered if node.id is not None}
        ids, candidate = {}, 1
        for node in numbered:
            if node.id is not None:
                ids[node.name] = node.id
                continue
            while candidate in taken:
                candidate += 1
            ids[node.name] = candidate
            taken.add(candidate)
        return ids

    @property
    def two_node(self) -> bool:
        quorum = self.corosync.quorum
        if quorum.two_node is not None:
            return quorum.two_node
        return len(self.members) == 2 and self.corosync.qdevice is None

    @property
    def fencing_enabled(self) -> bool:
        return isinstance(self.fencing, Fencing)

    @property
    def fence_race(self) -> str:
        """How a fence race is decided: the file's choice, else `priority` for 2 members
        (neither has a majority when the link breaks) and `none` otherwise."""
        if not isinstance(self.fencing, Fencing):
            return "none"
        if self.fencing.race is not None:
            return self.fencing.race
        return "priority" if len(self.members) == 2 and self.corosync.qdevice is None else "none"


def cluster_json_schema() -> dict[str, Any]:
    """JSON Schema of the cluster file (for editors)."""
    schema = Cluster.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "halab cluster file"
    return schema

