/**
 * Every command igloo's CLI accepts, one declarative table each: name,
 * summary, positionals, options (type, short flag, help), examples. The
 * parser, `igloo --help`, `igloo VERB --help` and `igloo completion` are
 * made from these tables; the implementations (commands/*.ts) are not
 * imported here, so reading the table costs nothing at start-up (main.ts
 * loads the one implementation that runs).
 */
import type { CommandSpec, Entry, FamilySpec, OptionSpec } from './spec.ts';

const json = {
  type: 'boolean',
  help: 'print the result as JSON',
} as const satisfies OptionSpec;

const tty = {
  type: 'boolean',
  short: 't',
  help: 'give CMD a pty made in the container, even when not on a terminal',
} as const satisfies OptionSpec;

const noTty = {
  type: 'boolean',
  short: 'T',
  help: 'never give CMD a pty, even on a terminal',
} as const satisfies OptionSpec;

const NAME = { name: 'NAME', complete: 'container' } as const;

const net = {
  type: 'string',
  value: 'MODE',
  help: "the network: user (default when the host allows it; add ,host-loopback to reach the host's 127.0.0.1), private (lo only), none, bridge[=NAME] (docs/network.md)",
} as const satisfies OptionSpec;

const publish = {
  type: 'string',
  short: 'p',
  value: '[IP:]HOST:CONTAINER[/tcp|udp]',
  multiple: true,
  help: 'forward a host port (on 127.0.0.1 unless IP is given) to the container; ranges as 8000-8001:80-81',
} as const satisfies OptionSpec;
/** Resource limits (docs/limits.md): create, run and set take them. */
const limitOptions = {
  memory: { type: 'string', value: 'SIZE', help: 'memory limit: bytes, or 512M, 1G' },
  'memory-swap': { type: 'string', value: 'SIZE', help: 'memory plus swap (at least --memory)' },
  pids: { type: 'string', value: 'N', help: 'most processes and threads at once' },
  cpus: { type: 'string', value: 'N', help: 'CPU time: 1.5 = one and a half CPUs' },
  'cpu-weight': { type: 'string', value: 'W', help: 'CPU share under contention, 1..10000 (100)' },
  cpuset: { type: 'string', value: 'LIST', help: 'the CPUs it may use: 0-1,3' },
  'io-weight': { type: 'string', value: 'W', help: 'block I/O share, 1..10000 (100)' },
} as const satisfies Record<string, OptionSpec>;

export const check = {
  name: 'check',
  summary: 'Check that this host can run unprivileged containers',
  description: `Checks that this host can run unprivileged containers for you: user
namespaces, newuidmap/newgidmap, your /etc/subuid and /etc/subgid
delegation, cgroups, the native helper, busybox and criu.
Exits 1 if a check fails (warnings do not fail).`,
  positionals: [],
  options: { json },
} as const satisfies CommandSpec;

export const create = {
  name: 'create',
  summary: 'Create a container with its own slice of your ids',
  description: `Creates a container with its own slice of your subordinate ids (isolated from
every other container), and a root file system owned by those ids.
Root's containers made from an imported image share it: their rootfs is an
overlay of the image, idmapped through the container's ids (no copy, no
chown walk); where the file system refuses idmapped mounts, or with
IGLOO_IDMAPPED=0, the image is copied (and create says so).`,
  positionals: [{ name: 'NAME' }],
  options: {
    image: {
      type: 'string',
      value: 'busybox|NAME|PATH',
      help: 'the built-in busybox system (default), an imported image, or a rootfs directory',
      complete: 'image',
    },
    idmap: {
      type: 'string',
      value: 'auto|MAP',
      help: 'the id map: auto (a free slice, default) or "u 0 2000000 65536 g 0 2000000 65536"',
    },
    'slice-size': { type: 'number', value: 'N', help: 'ids in the slice (default 65536)' },
    'slice-stride': { type: 'number', value: 'N', help: 'distance between slices' },
    'slice-start': { type: 'number', value: 'ID', help: 'the first host id to try' },
    init: { type: 'string', value: 'CMD', help: "init's command line (split on spaces)" },
    hostname: { type: 'string', value: 'H', help: 'the hostname inside (default NAME)' },
    nesting: {
      type: 'boolean',
      help: 'run containers of its own: a slice of 8 x 65536 ids, igloo inside, users made inside get subordinate ids (use an image with newuidmap, e.g. igloo image build debian --include uidmap,busybox-static)',
    },
    net,
    publish,
    autostart: {
      type: 'boolean',
      help: 'mark it igloo.autostart: `igloo autostart` (run at boot) starts it',
    },
    ...limitOptions,
    json,
  },
  examples: [
    'igloo create web',
    'igloo create web --net user -p 8080:80',
    'igloo create anna-c1 --slice-stride 100000',
    'igloo create elsa-c1 --image deb --nesting',
  ],
} as const satisfies CommandSpec;

export const start = {
  name: 'start',
  summary: "Start a container's init in the background",
  description: "Starts the container's init in the background.",
  positionals: [NAME],
  options: {
    console: {
      type: 'string',
      value: 'pty|null',
      choices: ['pty', 'null'],
      help: 'pty (default), or null: init gets /dev/null (igloo console then has nothing to attach to)',
    },
    json,
  },
} as const satisfies CommandSpec;

export const stop = {
  name: 'stop',
  summary: 'Halt a container (its halt signal, then SIGKILL)',
  description: 'Sends init its halt signal, and SIGKILL after the timeout.',
  positionals: [NAME],
  options: {
    timeout: { type: 'number', value: 'S', help: 'seconds to wait before SIGKILL (default 10)' },
  },
} as const satisfies CommandSpec;

export const kill = {
  name: 'kill',
  summary: "Send a signal to a container's init",
  description: "Sends SIGNAL (default SIGTERM) to the container's init.",
  positionals: [NAME, { name: 'SIGNAL', optional: true, complete: 'signal' }],
  options: {},
  examples: ['igloo kill web KILL', 'igloo kill web SIGHUP'],
} as const satisfies CommandSpec;

export const exec = {
  name: 'exec',
  summary: 'Run a command inside a running container',
  description: `Runs CMD in all of the container's namespaces and returns its exit status.
CMD gets a pty made in the container when stdin and stdout are terminals
(-t: always, -T: never); it never gets your terminal as its controlling tty.`,
  positionals: [NAME],
  options: {
    tty,
    'no-tty': noTty,
    user: { type: 'string', short: 'u', value: 'U', help: 'run as this user inside' },
    env: {
      type: 'string',
      short: 'e',
      value: 'K=V',
      multiple: true,
      help: 'set an environment variable (repeatable)',
    },
    cwd: { type: 'string', short: 'w', value: 'D', help: 'the working directory inside' },
  },
  command: { required: true },
  examples: ['igloo exec web -- ps', 'igloo exec --user inner --env HOME=/home/inner web -- sh'],
} as const satisfies CommandSpec;

export const consoleCommand = {
  name: 'console',
  summary: "Attach to a container's console",
  description: "Attaches to init's console. Detach with Ctrl-a q.",
  positionals: [NAME],
  options: {},
} as const satisfies CommandSpec;

export const run = {
  name: 'run',
  summary: 'Run one command in a new container, in the foreground',
  description: `Creates a container (unless --name names an existing one), runs CMD in it in
the foreground, and returns its exit status. Without CMD, an imported image's
Entrypoint and Cmd run. CMD gets a pty made in the container when stdin and
stdout are terminals (-t: always, -T: never). With the built-in image and no
name, its busybox system is made in memory: nothing on disk.`,
  positionals: [],
  options: {
    image: {
      type: 'string',
      value: 'busybox|NAME|PATH',
      help: 'the built-in busybox system (default), an imported image, or a rootfs directory',
      complete: 'image',
    },
    name: {
      type: 'string',
      value: 'N',
      help: 'use (or create and keep) the container N',
      complete: 'container',
    },
    rm: { type: 'boolean', help: 'remove the container named by --name afterwards' },
    idmap: { type: 'string', value: 'M', help: 'the id map (as for igloo create)' },
    tty,
    'no-tty': noTty,
    net,
    publish,
    ...limitOptions,
  },
  command: { required: false },
  examples: ["igloo run -- /bin/sh -c 'echo hello from $(hostname)'", 'igloo run --image app'],
} as const satisfies CommandSpec;

export const ls = {
  name: 'ls',
  summary: 'List your containers',
  description: 'Lists your containers: name, state, init pid, id map.',
  positionals: [],
  options: { json },
} as const satisfies CommandSpec;

export const info = {
  name: 'info',
  summary: "Show a container's config and state",
  description: "Shows a container's config and state.",
  positionals: [NAME],
  options: { json },
} as const satisfies CommandSpec;

export const destroy = {
  name: 'destroy',
  summary: 'Remove a container and its files',
  description: 'Removes a stopped container and its files.',
  positionals: [NAME],
  options: { force: { type: 'boolean', short: 'f', help: 'stop it first if it runs' } },
} as const satisfies CommandSpec;

export const imageLs = {
  name: 'image ls',
  summary: 'your images (and the built-in "busybox")',
  description: 'Lists your images, and the built-in "busybox".',
  positionals: [],
  options: { json },
} as const satisfies CommandSpec;

export const imageImport = {
  name: 'image import',
  summary: 'import an oci-archive or docker-archive tarball, or an OCI layout directory',
  description: `Imports an oci-archive or docker-archive tarball, or an OCI layout directory.
It is read as untrusted: a link, FIFO or device in it is refused.`,
  positionals: [{ name: 'PATH', complete: 'file' }],
  options: {
    name: { type: 'string', value: 'N', help: "the image's name (default: from the archive)" },
    json,
  },
} as const satisfies CommandSpec;

export const imageRm = {
  name: 'image rm',
  summary: 'remove an image',
  description: `Removes an image. Containers with a copy keep their files; an image that
root's containers share is refused, naming them.`,
  positionals: [{ name: 'NAME', complete: 'image' }],
  options: {},
} as const satisfies CommandSpec;

export const imageBuild = {
  name: 'image build',
  summary: 'a Debian system image (sysvinit) made with debootstrap',
  description:
    'Builds a Debian system image (sysvinit) with debootstrap, as you, in your namespaces.',
  positionals: [{ name: 'KIND', choices: ['debian'] }],
  options: {
    suite: { type: 'string', value: 'S', help: 'the Debian suite (default bookworm)' },
    name: { type: 'string', value: 'N', help: "the image's name" },
    mirror: { type: 'string', value: 'URL', help: 'the Debian mirror' },
    include: { type: 'string', value: 'PKG,...', help: 'extra packages' },
    json,
  },
  examples: ['igloo image build debian --include uidmap,busybox-static --name deb'],
} as const satisfies CommandSpec;

const tlsVerify = {
  type: 'string',
  value: 'true|false',
  choices: ['true', 'false'],
  help: 'false: plain HTTP or an unverified certificate (only for a registry you trust)',
} as const;

export const imagePull = {
  name: 'image pull',
  summary: 'an image from an OCI registry (through skopeo), as NAME:TAG',
  description: `Pulls REF from an OCI registry with skopeo, as you, into a private directory,
and imports it as an archive is imported (read as untrusted). It is stored as
the repository's last part and its tag (localhost:5000/team/app:1.0 -> app:1.0)
unless --name says otherwise. A registry that refuses leaves nothing behind.`,
  positionals: [{ name: 'REF' }],
  options: {
    name: { type: 'string', value: 'NAME[:TAG]', help: "the image's name here" },
    'tls-verify': tlsVerify,
    json,
  },
  examples: ['igloo image pull --tls-verify=false localhost:5000/team/app:1.0'],
} as const satisfies CommandSpec;

export const imagePush = {
  name: 'image push',
  summary: 'an image to an OCI registry (through skopeo)',
  description: 'Pushes the image NAME to REF in an OCI registry with skopeo, as you.',
  positionals: [{ name: 'NAME', complete: 'image' }, { name: 'REF' }],
  options: {
    'tls-verify': tlsVerify,
    json,
  },
  examples: ['igloo image push debian:bookworm localhost:5000/team/debian:bookworm'],
} as const satisfies CommandSpec;

export const image = {
  name: 'image',
  summary:
    'List, import, pull, push and remove images (OCI and docker archives, registries, busybox)',
  description: 'Images: oci-archive, docker-archive, OCI layout directories; busybox is built in.',
  actions: [imageLs, imageImport, imageRm, imageBuild, imagePull, imagePush],
} as const satisfies FamilySpec;

export const snapshotCreate = {
  name: 'snapshot create',
  summary: "copy a stopped container's files and config as SNAP (default snap0, snap1, …)",
  description: `Copies the files and the config of the stopped container NAME into a snapshot
(DATA/containers/NAME/snapshots/SNAP), in the container's user namespace. On an
overlay over a shared image only its own changes (upper/) are copied. A
running container is refused: its files change while they are copied.`,
  positionals: [NAME, { name: 'SNAP', optional: true }],
  options: { json },
  examples: ['igloo snapshot create web before-upgrade'],
} as const satisfies CommandSpec;

export const snapshotLs = {
  name: 'snapshot ls',
  summary: "a container's snapshots",
  description: 'Lists the snapshots of NAME, oldest first.',
  positionals: [NAME],
  options: { json },
} as const satisfies CommandSpec;

export const snapshotRestore = {
  name: 'snapshot restore',
  summary: "put a snapshot's files and config back (stopped container)",
  description: `Replaces the files and the config of the stopped container NAME with those of
its snapshot SNAP, which stays. A failed restore leaves the container as it was.`,
  positionals: [NAME, { name: 'SNAP' }],
  options: {},
} as const satisfies CommandSpec;

export const snapshotRm = {
  name: 'snapshot rm',
  summary: 'remove a snapshot',
  description: 'Removes the snapshot SNAP of NAME.',
  positionals: [NAME, { name: 'SNAP' }],
  options: {},
} as const satisfies CommandSpec;

export const snapshot = {
  name: 'snapshot',
  summary: "Snapshots of a container's files: create, ls, restore, rm",
  description:
    "Snapshots of a stopped container's files and config (as lxc-snapshot and incus snapshot).",
  actions: [snapshotCreate, snapshotLs, snapshotRestore, snapshotRm],
} as const satisfies FamilySpec;

export const copy = {
  name: 'copy',
  summary: 'Copy a stopped container to a new one with a slice of its own',
  description: `Copies the stopped container SRC to the new container DST: its config, and its
files with their owners moved from SRC's slice to DST's new one (in a user
namespace that maps both; nothing is copied as the host caller). On an
overlay over a shared image only SRC's own changes (upper/) are copied.`,
  positionals: [{ name: 'SRC', complete: 'container' }, { name: 'DST' }],
  options: {
    idmap: {
      type: 'string',
      value: 'MAP',
      help: "DST's map (default: a new slice as large as SRC's)",
    },
    json,
  },
  examples: ['igloo copy web web2'],
} as const satisfies CommandSpec;

export const ps = {
  name: 'ps',
  summary: 'Show processes with their namespaces and ids, outside and inside',
  description: `Shows every process this view can see: host pid and the NSpid chain, the
user outside and inside (through the id maps), the user- and pid-namespace
inodes, the container (yours; "(foreign)" for other tools' namespaces,
"(host)" for plain host processes) and its owner, the user-namespace depth
and the command. NAME... limits the rows to those containers (NAME or
OWNER/NAME). Run inside a container, it shows what the container sees.
As a user other than root it shows your own processes and containers;
--all shows every process of the host (others' in less detail).`,
  positionals: [{ name: 'NAME', optional: true, variadic: true, complete: 'container' }],
  options: {
    all: {
      type: 'boolean',
      help: "every process of the host (a user sees only their own processes and containers without it); root: match every user's igloo containers, not only root's",
    },
    json: { type: 'boolean', help: 'the documented JSON form (docs/inspect.md)' },
  },
} as const satisfies CommandSpec;

export const tree = {
  name: 'tree',
  summary: 'Show the tree of user namespaces, their maps and processes',
  description: `Shows the tree of user namespaces this view can see: each with its
creator, its id maps as numbers and as the owner's slice of /etc/subuid
("anna's block 2000000+0..65535"), its pid namespaces and processes, and
its container; nested namespaces below their parents.`,
  positionals: [],
  options: {
    all: { type: 'boolean', help: "(root) name every user's igloo containers, not only root's" },
    json: { type: 'boolean', help: 'the documented JSON form (docs/inspect.md)' },
  },
} as const satisfies CommandSpec;

export const audit = {
  name: 'audit',
  summary: 'Look for isolation problems',
  description: `Looks for misconfigurations that would let a container reach its owner,
another user or another container: overlapping delegations in
/etc/subuid and /etc/subgid, containers that share a slice, maps that
include host uid 0 or a real user's id, container directories others can
traverse, containers without the seccomp filter or with extra
capabilities, running containers whose init has no filter. Each finding
says why it matters and how to fix it.
Exits 1 if there is an error-level finding.`,
  positionals: [],
  options: {
    json,
    probe: {
      type: 'boolean',
      help: "(root) also try it: a process with each container's host root uid tries to read the owner's private file and directories",
    },
    user: {
      type: 'string',
      value: 'NAME',
      help: "(root) audit NAME's containers instead of your own",
      complete: 'user',
    },
  },
} as const satisfies CommandSpec;

export const checkpoint = {
  name: 'checkpoint',
  summary: 'Dump a running container with CRIU (root)',
  description: `Dumps a running container with CRIU (root only). Without --leave-running
the container stops. See docs/criu.md.`,
  positionals: [NAME],
  options: {
    dir: {
      type: 'string',
      value: 'D',
      help: "where the images go (default: the container directory's checkpoint/)",
      complete: 'directory',
    },
    'leave-running': { type: 'boolean', help: 'keep the container running after the dump' },
    json,
  },
} as const satisfies CommandSpec;

export const restore = {
  name: 'restore',
  summary: 'Restore a checkpointed container (root)',
  description: 'Brings a checkpointed container back: same pids inside, same memory and files.',
  positionals: [NAME],
  options: {
    dir: {
      type: 'string',
      value: 'D',
      help: 'where the images are (default: as for checkpoint)',
      complete: 'directory',
    },
    json,
  },
} as const satisfies CommandSpec;

export const exportContainer = {
  name: 'export',
  summary: 'Write a container (rootfs, config, checkpoint) into one archive',
  description: `Writes rootfs, config and checkpoint images of a stopped (or checkpointed)
container into one tar archive (mode 0600: it holds process memory).`,
  positionals: [NAME, { name: 'FILE', complete: 'file' }],
  options: { json },
} as const satisfies CommandSpec;

export const importContainer = {
  name: 'import-container',
  summary: 'Create a container from an archive made by igloo export',
  description: `Creates a container from an archive made by igloo export; restore it with
igloo restore N. The archive is untrusted: unpacked in the new container's
user namespace (no device nodes), config lines igloo create would not write
are refused (and listed), and its checkpoint is kept only if this host made
it (docs/criu.md, "Trust").`,
  positionals: [{ name: 'FILE', complete: 'file' }],
  options: { name: { type: 'string', value: 'N', help: "the new container's name" }, json },
} as const satisfies CommandSpec;

export const subidLs = {
  name: 'subid ls',
  summary: 'blocks per user; overlaps and malformed lines flagged',
  description:
    'Lists the blocks of /etc/subuid and /etc/subgid per user, flagging overlaps and malformed lines (exit 1 if any).',
  positionals: [],
  options: { json },
} as const satisfies CommandSpec;

export const subidGrant = {
  name: 'subid grant',
  summary: 'give USER a block of subordinate uids and gids (root)',
  description: 'Gives USER a block of subordinate uids and the same block of gids (root).',
  positionals: [{ name: 'USER', complete: 'user' }],
  options: {
    count: { type: 'number', value: 'N', help: 'ids in the block' },
    start: { type: 'number', value: 'S', help: 'the first id of the block' },
    json,
  },
  examples: ['igloo subid grant anna --start 2000000 --count 1000000'],
} as const satisfies CommandSpec;

export const subidRevoke = {
  name: 'subid revoke',
  summary: "remove USER's blocks (root)",
  description: "Removes USER's blocks from /etc/subuid and /etc/subgid (root).",
  positionals: [{ name: 'USER', complete: 'user' }],
  options: { json },
} as const satisfies CommandSpec;

export const set = {
  name: 'set',
  summary: "Change a container's limits, live if it runs",
  description: `Changes a container's resource limits: checked first (a bad value, a limit
above your ceiling or a controller the host lacks changes nothing), written
to its config under its lock, and to its cgroup at once if it runs (like
podman update). A limit not given is kept; "--pids max" removes one.`,
  positionals: [NAME],
  options: { ...limitOptions, json },
  examples: ['igloo set web --memory 1G --pids 512', 'igloo set web --cpus max'],
} as const satisfies CommandSpec;

export const stats = {
  name: 'stats',
  summary: 'Live memory, CPU, pids and I/O of containers',
  description: `Shows each container's memory (use, limit, OOM kills), CPU % (over 0.2 s),
pids and block I/O, read from its cgroup. Without NAME: every running one.`,
  positionals: [{ name: 'NAME', optional: true, variadic: true, complete: 'container' }],
  options: {
    watch: { type: 'boolean', short: 'w', help: 'refresh every second until interrupted' },
    json,
  },
  examples: ['igloo stats', 'igloo stats web --json'],
} as const satisfies CommandSpec;

export const freeze = {
  name: 'freeze',
  summary: 'Freeze every process of a container (cgroup freezer)',
  description: `Freezes every process of a running container with the cgroup freezer (v1
freezer.state or v2 cgroup.freeze), until igloo thaw.`,
  positionals: [NAME],
  options: {},
} as const satisfies CommandSpec;

export const thaw = {
  name: 'thaw',
  summary: 'Thaw a frozen container',
  description: 'Lets the processes of a frozen container run again.',
  positionals: [NAME],
  options: {},
} as const satisfies CommandSpec;

export const limitSet = {
  name: 'limit set',
  summary: "set USER's ceiling over all their containers (root)",
  description: `Delegates cgroups to USER (root): igloo/user-USER in every hierarchy with the
ceiling in root's files, the directory and its cgroup.procs (and tasks, or
v2's subtree_control and threads) given to USER, who makes one child per
container below it. A ceiling not given is kept (or none).`,
  positionals: [{ name: 'USER', complete: 'user' }],
  options: {
    memory: limitOptions.memory,
    pids: limitOptions.pids,
    cpus: limitOptions.cpus,
    json,
  },
  examples: ['igloo limit set anna --memory 4G --pids 2048 --cpus 2'],
} as const satisfies CommandSpec;

export const limitLs = {
  name: 'limit ls',
  summary: 'users with cgroups delegated, and their ceilings',
  description: 'Lists the users root delegated cgroups to, with their ceilings.',
  positionals: [],
  options: { json },
} as const satisfies CommandSpec;

export const limitRm = {
  name: 'limit rm',
  summary: "remove USER's delegation (root)",
  description: `Removes igloo/user-USER and its containers' cgroups (root); refused while any
of them has processes.`,
  positionals: [{ name: 'USER', complete: 'user' }],
  options: {},
} as const satisfies CommandSpec;

export const limit = {
  name: 'limit',
  summary: 'Per-user resource ceilings: delegate cgroups to users (root)',
  description: "Per-user ceilings over all of a user's containers together (docs/limits.md).",
  actions: [limitSet, limitLs, limitRm],
} as const satisfies FamilySpec;

export const subid = {
  name: 'subid',
  summary: 'Show, grant and revoke subordinate id blocks (/etc/subuid, /etc/subgid)',
  description: 'Subordinate id blocks: who may map which ids (/etc/subuid, /etc/subgid).',
  actions: [subidLs, subidGrant, subidRevoke],
} as const satisfies FamilySpec;

export const netCreate = {
  name: 'net create',
  summary: 'create a bridge with its subnet, NAT on or off (root)',
  description: `Creates a host bridge NAME with the subnet's first address as its gateway, the
nftables rules that keep each container to its own address, and with --nat
a masquerade of what leaves the subnet (switching on IPv4 forwarding, and
saying so). Containers join it with --net bridge=NAME (root's directly,
users' where igloo net grant delegated it). The bridge is kept in
/var/lib/igloo/net/bridges.json and made again by igloo net ls after a reboot.`,
  positionals: [{ name: 'NAME' }],
  options: {
    subnet: { type: 'string', value: 'CIDR', help: 'the IPv4 network, e.g. 10.251.1.0/24' },
    nat: { type: 'boolean', help: 'masquerade traffic that leaves the subnet (the default)' },
    'no-nat': {
      type: 'boolean',
      help: 'no NAT: the containers reach the bridge and each other only',
    },
    json,
  },
  examples: [
    'igloo net create igloo0 --subnet 10.251.1.0/24',
    'igloo net create lab --subnet 10.251.2.0/24 --no-nat',
  ],
} as const satisfies CommandSpec;

export const netLs = {
  name: 'net ls',
  summary: 'bridges, their containers and grants',
  description: `Lists the bridges with their subnet, NAT, attached containers (address, host
interface) and the users granted interfaces on them. As root it first makes
the host match the state: missing bridges are made again and the leases of
containers that died without detaching are dropped. A user sees the bridges
and grants (root's published view), not root's containers.`,
  positionals: [],
  options: { json },
} as const satisfies CommandSpec;

export const netRm = {
  name: 'net rm',
  summary: 'remove a bridge no container uses (root)',
  description:
    "Removes a bridge, its rules and its users' grants; refuses while containers are attached (naming them).",
  positionals: [{ name: 'NAME' }],
  options: { json },
} as const satisfies CommandSpec;

export const netGrant = {
  name: 'net grant',
  summary: 'let USER attach N containers to a bridge (root)',
  description: `Lets USER attach up to N containers at once to the bridge: sets USER's line in
/etc/lxc/lxc-usernet (the quota LXC's lxc-user-nic enforces) and reserves
N addresses of the bridge that only USER's containers may send from.`,
  positionals: [{ name: 'USER', complete: 'user' }],
  options: {
    bridge: { type: 'string', value: 'NAME', help: 'the bridge' },
    count: { type: 'number', value: 'N', help: 'how many containers at once' },
    json,
  },
  examples: ['igloo net grant anna --bridge igloo0 --count 4'],
} as const satisfies CommandSpec;

export const netRevoke = {
  name: 'net revoke',
  summary: "remove USER's bridge grants (root)",
  description:
    "Removes USER's grants (on one bridge with --bridge) and their /etc/lxc/lxc-usernet lines.",
  positionals: [{ name: 'USER', complete: 'user' }],
  options: { bridge: { type: 'string', value: 'NAME', help: 'only this bridge' }, json },
} as const satisfies CommandSpec;

export const netFamily = {
  name: 'net',
  summary: 'Bridges for --net bridge=NAME: create, list, remove, grant to users',
  description: 'Host bridges for containers (--net bridge=NAME), and who may use them.',
  actions: [netLs, netCreate, netRm, netGrant, netRevoke],
} as const satisfies FamilySpec;

export const help = {
  name: 'help',
  summary: "Show igloo's commands, or one command's help",
  description: "Shows igloo's commands, or the help of COMMAND (as igloo COMMAND --help).",
  positionals: [{ name: 'COMMAND', optional: true, variadic: true, complete: 'command' }],
  options: {},
  examples: ['igloo help exec', 'igloo help image import'],
} as const satisfies CommandSpec;

export const completion = {
  name: 'completion',
  summary: 'Print a bash or zsh completion script',
  description: `Prints a script that completes igloo's commands, options and container names.`,
  positionals: [{ name: 'SHELL', choices: ['bash', 'zsh'] }],
  options: {},
  examples: [
    'source <(igloo completion bash)          # in ~/.bashrc',
    'igloo completion zsh > ~/.zfunc/_igloo   # with ~/.zfunc in $fpath',
  ],
} as const satisfies CommandSpec;

export const logs = {
  name: 'logs',
  summary: "Show a container's console output (kept by its monitor)",
  description: `Shows what the container's console printed, as its monitor kept it in
the container's directory (console.log, and console.log.1 before it: at
most 2 MiB), also after the container stopped. A container started with
--console null has no log, nor one restored from a checkpoint until its
next start. On a terminal, control characters are shown
as text (^[ for ESC): the container cannot send your terminal escape
sequences. -f follows the output until the container stops.`,
  positionals: [NAME],
  options: {
    follow: {
      type: 'boolean',
      short: 'f',
      help: 'keep printing new output until the container stops',
    },
    tail: { type: 'number', value: 'N', help: 'only the last N lines' },
    raw: { type: 'boolean', help: 'the bytes as they are, also on a terminal' },
  },
  examples: ['igloo logs web', 'igloo logs web -f --tail 20'],
} as const satisfies CommandSpec;

export const config = {
  name: 'config',
  summary: "Show or change a container's config (checked before it is written)",
  description: `get KEY prints the values of KEY (one per line); set KEY=VALUE replaces
every value of KEY with VALUE; edit opens a copy of the config in
$VISUAL or $EDITOR (default vi) and writes it back when it is valid.
Anything set is checked with the same table and rules as the config file
and a new container; an unknown key or a bad value changes nothing.
igloo.name, igloo.rootfs, igloo.idmap and igloo.nesting are fixed when
the container is made (igloo rename changes the name). Changes apply at
the next start.`,
  positionals: [
    NAME,
    { name: 'ACTION', choices: ['get', 'set', 'edit'] },
    { name: 'ARG', optional: true },
  ],
  options: { json },
  examples: [
    'igloo config web get igloo.init',
    'igloo config web set igloo.hostname=www',
    'igloo config web set igloo.autostart=true',
    'igloo config web edit',
  ],
} as const satisfies CommandSpec;

export const rename = {
  name: 'rename',
  summary: 'Rename a stopped container',
  description: `Renames a container that is not running: its directory, its config's name
(and its hostname when that was the old name) and its run directory.
Refused when NEW exists, or while OLD runs.`,
  positionals: [{ name: 'OLD', complete: 'container' }, { name: 'NEW' }],
  options: { json },
  examples: ['igloo rename web www'],
} as const satisfies CommandSpec;

export const autostart = {
  name: 'autostart',
  summary: 'Start every container marked igloo.autostart (for a boot script)',
  description: `Starts each of your containers whose config says igloo.autostart = true
(igloo create --autostart, or igloo config NAME set igloo.autostart=true)
and is not running, one line each. Run it from a boot script (or a systemd
unit) as each user; see the README. Exits 1 if a container failed to start.`,
  positionals: [],
  options: { json },
  examples: ['igloo autostart', "su - anna -c 'igloo autostart'   # from /etc/rc.local"],
} as const satisfies CommandSpec;

export const serve = {
  name: 'serve',
  summary: 'Serve your containers over REST, with a live web page',
  description: `Serves your containers: a REST API (GET /openapi.json), an event stream
and a web page with the picture of your namespaces and a terminal. By default on
a unix socket in your run directory (mode 0600); --listen adds TCP (loopback
unless another address is named) with a token printed once and required on
every request. Root's --users-socket lets every local user connect, each
acting on their own containers only (docs/serve.md).`,
  positionals: [],
  options: {
    socket: {
      type: 'string',
      value: 'PATH',
      help: 'the unix socket (default RUN/serve.sock)',
      complete: 'file',
    },
    listen: {
      type: 'string',
      value: '[HOST:]PORT',
      help: 'also serve over TCP (HOST 127.0.0.1 by default), with a token',
    },
    'users-socket': {
      type: 'string',
      value: 'PATH',
      help: '(root) a socket every user may use, each for their own containers',
      complete: 'file',
    },
  },
  examples: [
    'igloo serve                                   # RUN/serve.sock',
    'curl --unix-socket ~/.cache/igloo/run/serve.sock http://igloo/containers',
    'igloo serve --listen 8080                     # then open the printed URL',
  ],
} as const satisfies CommandSpec;

export const oci = {
  name: 'oci',
  summary: "igloo as an OCI runtime: runc's command line (also installed as igloo-runc)",
  description: `Runs OCI bundles with runc's command line, for podman, containerd and
CRI-O: igloo oci [--root DIR] [--log FILE] [--log-format text|json] [--debug]
VERB ..., VERB one of create, start, state, kill, delete, exec, ps, list, pause,
resume, update, features, spec (checkpoint and restore are refused with
the reason). dist/bin/igloo-runc is the same command line, for an engine
to point at. "igloo oci VERB --help" shows a verb's flags. Run by root with a
config.json that has no user namespace, the container is host root, as
with runc; with one, its ids are those the config maps (newuidmap checks
them against /etc/subuid for a user).`,
  positionals: [{ name: 'VERB' }, { name: 'ARGS', optional: true, variadic: true }],
  options: {},
  examples: [
    'igloo oci spec --rootless && igloo oci create c1 && igloo oci start c1',
    'igloo-runc --root /run/igloo-runc state c1',
    'podman --runtime $(command -v igloo-runc) run --rm busybox true',
  ],
} as const satisfies CommandSpec;

/** igloo's commands, in the order `igloo --help` lists them. */
export const COMMANDS: readonly Entry[] = [
  check,
  create,
  start,
  stop,
  kill,
  exec,
  consoleCommand,
  run,
  ls,
  info,
  destroy,
  logs,
  config,
  rename,
  autostart,
  copy,
  snapshot,
  image,
  ps,
  tree,
  audit,
  checkpoint,
  restore,
  exportContainer,
  importContainer,
  subid,
  netFamily,
  set,
  stats,
  freeze,
  thaw,
  limit,
  help,
  completion,
  serve,
  oci,
];

/** The table for `igloo WORD`, or undefined for an unknown one. */
export function findCommand(word: string): Entry | undefined {
  return COMMANDS.find((c) => c.name === word);
}
