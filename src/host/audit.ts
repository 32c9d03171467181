/**
 * `igloo audit`: looks for the misconfigurations that would let a container
 * reach its owner, another user or another container, and says for each
 * why it matters and how to fix it. It reads the host's subordinate id
 * files, the owner's containers (config, directory modes, state) and, for
 * running containers, their init's /proc status. With `probe` (root only)
 * it tries the escape for real: a process with a container's host root uid
 * tries to read the owner's private file and to list the owner's and the
 * sibling containers' directories, and must be refused.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  fstatSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CAPS, DEFAULT_SECCOMP, type ContainerConfig } from '../core/config/model.ts';
import { finishConfig, parseConfigText } from '../core/config/file.ts';
import { extraCaps } from '../core/caps.ts';
import { IglooError } from '../core/errors.ts';
import {
  describeSubidEntry,
  formatRange,
  outsideRanges,
  parseProcIdMap,
  rangesCover,
  rangesOverlap,
  reservedOverlap,
  tryToOutside,
  type IdMapEntry,
  type IdRange,
} from '../core/idmap/index.ts';
import {
  CONFIG_FILE,
  CREATING_FILE,
  containersDir,
  containersWalk,
  imagesDir,
  STATE_FILE,
} from '../core/layout.ts';
import { fdPath, openDirAt, openDirsDown, openRoot, readdirFd } from './beneath.ts';
import { readUntrustedText, refusalReason } from './untrusted.ts';
import { readPasswd } from './users.ts';
import { readDelegation, readSubidReport, type SubidPaths } from './subid.ts';

export type Severity = 'error' | 'warn';

export interface Finding {
  readonly severity: Severity;
  /** A stable name: subid-overlap, shared-slice, maps-host-root, ... */
  readonly check: string;
  /** The file, container or user it is about. */
  readonly subject: string;
  readonly message: string;
  readonly why: string;
  readonly fix: string;
}

export interface AuditOptions {
  /** The owner's igloo data directory (containers/NAME/...). */
  readonly data: string;
  readonly subid: SubidPaths;
  readonly owner: { readonly name: string; readonly uid: number; readonly gid: number };
  /** Run the escaped-uid read check (root only). */
  readonly probe?: boolean;
  readonly passwdPath?: string;
}

interface Loaded {
  name: string;
  dir: string;
  config?: ContainerConfig;
}

const hostRootMapped = (map: readonly IdMapEntry[]) =>
  map.some((e) => e.outside === 0 || (e.outside < 1 && e.outside + e.count > 0));

/** config and state.json are a few KiB; more is not igloo's. */
const FILE_MAX = 1 << 20;

const isMissing = (err: unknown) => (err as { code?: unknown } | null)?.code === 'ENOENT';

/**
 * A file of a container directory (open as dirFd), read as a file its
 * owner controls: a regular file only, no link, no FIFO, capped
 * (host/untrusted.ts). undefined when it does not exist.
 */
function readOwned(dirFd: number, name: string, shown: string): string | undefined {
  try {
    return readUntrustedText(fdPath(dirFd, name), { op: 'read', maxBytes: FILE_MAX });
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw new IglooError('EUNSAFE', `${shown}: ${refusalReason(err)}`, { path: shown, cause: err });
  }
}

/** Whether state.json's text is a state object (a truncated or garbled one is not). */
function stateParses(text: string): boolean {
  try {
    const s = JSON.parse(text) as { status?: unknown } | null;
    return typeof s === 'object' && s !== null && typeof s.status === 'string';
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

function statePid(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    const s = JSON.parse(text) as { status?: string; pid?: number };
    return s.status === 'running' && typeof s.pid === 'number' ? s.pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The owner's containers directory, opened without following a link below
 * the owner's home (everything there is theirs: root must not be sent
 * elsewhere by a link). A data directory outside the home (IGLOO_DATA_DIR)
 * is opened as given (core/layout.ts containersWalk()). undefined: there
 * is none.
 */
function openContainersDir(data: string, home: string | undefined): number | undefined {
  const { top, rel } = containersWalk(data, home);
  try {
    return openDirsDown(openRoot(top, 'audit'), top, rel, 'audit');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

export async function runAudit(opts: AuditOptions): Promise<Finding[]> {
  const findings: Finding[] = [];
  const add = (f: Finding) => findings.push(f);

  // ---- the host's delegations
  for (const path of [opts.subid.uid, opts.subid.gid]) {
    const report = await readSubidReport(path);
    for (const o of report.overlaps) {
      add({
        severity: 'error',
        check: 'subid-overlap',
        subject: path,
        message: `${path}: ${describeSubidEntry(o.a)} overlaps ${describeSubidEntry(o.b)}`,
        why: "Both owners' containers can use the shared ids: root in a container of one is then an id the other's containers also run as, and can read their files",
        fix: `Give each user a block of their own: igloo subid revoke ${o.b.owner}; igloo subid grant ${o.b.owner}`,
      });
    }
    for (const e of report.entries) {
      const reserved = reservedOverlap(e);
      if (reserved === undefined) continue;
      add({
        severity: 'error',
        check: 'subid-reserved',
        subject: path,
        message: `${path}: ${describeSubidEntry(e)} covers ${formatRange(reserved)}, reserved for ${reserved.purpose}`,
        why: "Root's shared images are stored with these ids so that no one owns their files; a user holding them could change those files through their own containers (igloo refuses to map them, newuidmap does not know)",
        fix: `Give ${e.owner} a block outside ${formatRange(reserved)}: igloo subid revoke ${e.owner}; igloo subid grant ${e.owner}`,
      });
    }
    for (const p of report.problems) {
      add({
        severity: 'warn',
        check: 'subid-malformed',
        subject: path,
        message: `${path} line ${p.line} "${p.text}": ${p.reason}`,
        why: 'newuidmap skips a malformed line, so the delegation it meant does not exist (or is not what igloo shows)',
        fix: `Correct or remove line ${p.line} of ${path}`,
      });
    }
  }

  // A grant that stopped between its two files gives a user uids and no gids (or the reverse).
  const [uids, gids] = await Promise.all([
    readSubidReport(opts.subid.uid),
    readSubidReport(opts.subid.gid),
  ]);
  for (const [has, lacks, hasPath, lacksPath] of [
    [uids, gids, opts.subid.uid, opts.subid.gid],
    [gids, uids, opts.subid.gid, opts.subid.uid],
  ] as const) {
    const owners = new Set(lacks.entries.map((e) => e.owner));
    for (const owner of new Set(has.entries.map((e) => e.owner))) {
      if (owners.has(owner)) continue;
      add({
        severity: 'error',
        check: 'subid-unpaired',
        subject: hasPath,
        message: `${owner} has a block in ${hasPath} and none in ${lacksPath}`,
        why: 'igloo gives every container the same slice of uids and gids: without the other half it can create none (an interrupted grant leaves this)',
        fix: `igloo subid grant ${owner}   (finishes the grant with the same block)`,
      });
    }
  }

  // ---- images half-made by an import or build that was killed
  const images = imagesDir(opts.data);
  for (const e of await readdir(images, { withFileTypes: true }).catch(() => [])) {
    if (!e.name.startsWith('.') && e.isDirectory()) {
      const file = join(images, e.name, 'image.json');
      let why: string | undefined;
      try {
        JSON.parse(readUntrustedText(file, { op: 'read', maxBytes: FILE_MAX }));
      } catch (err) {
        why = err instanceof SyntaxError ? err.message : refusalReason(err);
      }
      if (why !== undefined)
        add({
          severity: 'error',
          check: 'corrupt-image',
          subject: file,
          message: `${file} is unreadable: ${why}`,
          why: 'igloo cannot use the image: create and run refuse it, naming the file',
          fix: `rm -rf ${join(images, e.name)}, then import the image again`,
        });
      continue;
    }
    const m = /^\.(import|build)-(\d+)-/.exec(e.name);
    if (!m || !e.isDirectory() || pidAlive(Number(m[2]))) continue;
    add({
      severity: 'warn',
      check: 'half-made-image',
      subject: join(images, e.name),
      message: `${join(images, e.name)} is what an image ${m[1]} left when it was killed (pid ${m[2]} is gone)`,
      why: 'It takes disk space and is no image',
      fix: `The next igloo image ${m[1]} removes it, or: rm -rf ${join(images, e.name)}`,
    });
  }

  // ---- the owner's containers
  // Everything below the owner's home is theirs: links, FIFOs and huge files
  // there are findings, never followed, waited on or read whole.
  const containers = containersDir(opts.data);
  const passwd = await readPasswd(opts.passwdPath);
  const delegation = await readDelegation(opts.owner, opts.subid);
  const loaded: Loaded[] = [];
  const unsafe = (subject: string, message: string) =>
    add({
      severity: 'error',
      check: 'unsafe-file',
      subject,
      message,
      why: 'igloo (and root, auditing) reads these files; a link, FIFO or huge file there would send it elsewhere or hang it, so igloo refuses to use them',
      fix: `Remove what is not igloo's (igloo destroy, or rm) under ${containers}`,
    });
  let dirFd: number | undefined;
  try {
    dirFd = openContainersDir(opts.data, passwd.find((u) => u.uid === opts.owner.uid)?.home);
  } catch (err) {
    unsafe(containers, `${containers}: ${refusalReason(err)}`);
  }
  const names: string[] = [];
  if (dirFd !== undefined) {
    try {
      for (const e of readdirFd(dirFd).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        if (e.isSymbolicLink())
          unsafe(`container ${e.name}`, `${join(containers, e.name)} is a symbolic link`);
        else if (e.isDirectory()) names.push(e.name);
      }
    } catch {
      // unreadable: nothing to audit
    }
  }

  for (const name of names) {
    const dir = join(containers, name);
    const configPath = join(dir, CONFIG_FILE);
    const statePath = join(dir, STATE_FILE);
    const subject = `container ${name}`;
    let cfd: number;
    try {
      cfd = openDirAt(dirFd!, name, dir, 'audit');
    } catch (err) {
      unsafe(subject, `${dir}: ${refusalReason(err)}`);
      continue;
    }
    let text: string | undefined;
    let stateText: string | undefined;
    let stateUnsafe: string | undefined;
    let creating: string | undefined;
    try {
      const st = fstatSync(cfd);
      if (st.mode & 0o011) {
        add({
          severity: 'error',
          check: 'traversable-dir',
          subject,
          message: `${dir} has mode ${(st.mode & 0o777).toString(8)}: other users can traverse it`,
          why: "Other users, and the ids of other containers, can then reach this container's files by path; the rootfs's own modes are set by whoever is root inside",
          fix: `chmod 700 ${dir}`,
        });
      }
      try {
        text = readOwned(cfd, CONFIG_FILE, configPath);
      } catch (err) {
        unsafe(subject, refusalReason(err));
        continue;
      }
      try {
        stateText = readOwned(cfd, STATE_FILE, statePath);
      } catch (err) {
        stateUnsafe = refusalReason(err);
      }
      try {
        creating = readOwned(cfd, CREATING_FILE, join(dir, CREATING_FILE));
      } catch (err) {
        unsafe(subject, refusalReason(err));
      }
    } finally {
      closeSync(cfd);
    }
    if (creating !== undefined && !pidAlive(Number(creating.trim()))) {
      add({
        severity: 'error',
        check: 'half-made',
        subject,
        message: `${name} is half-made: its create was interrupted (${dir}/${CREATING_FILE} names pid ${creating.trim()}, which is gone)${text === undefined ? ', before its config was written' : ''}`,
        why: 'igloo refuses to start it; its directory (and, with a config, its slice of ids) stays taken until it is removed',
        fix: `igloo destroy ${name}   (then create it again)`,
      });
      if (text === undefined) continue;
    }
    if (text === undefined) continue; // not a container (yet): nothing to audit
    if (stateUnsafe !== undefined) unsafe(subject, stateUnsafe);
    if (stateText !== undefined && !stateParses(stateText)) {
      add({
        severity: 'error',
        check: 'corrupt-state',
        subject,
        message: `${statePath} is not a state igloo wrote (${stateText.length === 0 ? 'empty' : 'not valid JSON, or truncated'})`,
        why: 'igloo cannot tell whether the container runs: start, stop and exec refuse it, naming the file',
        fix: `Stop what may run of it (igloo ps ${name}), then remove ${statePath}: it is read as "created" again`,
      });
    }
    const entry: Loaded = { name, dir };
    loaded.push(entry);
    let draft;
    try {
      draft = parseConfigText(text, { path: configPath }).draft;
    } catch (err) {
      add({
        severity: 'error',
        check: 'invalid-config',
        subject,
        message: err instanceof Error ? err.message : String(err),
        why: 'igloo refuses to start a container whose config does not parse',
        fix: `Fix ${configPath}`,
      });
      continue;
    }
    if (hostRootMapped(draft.uidmap) || hostRootMapped(draft.gidmap)) {
      add({
        severity: 'error',
        check: 'maps-host-root',
        subject,
        message: `${name}'s id map includes host ${hostRootMapped(draft.uidmap) ? 'uid' : 'gid'} 0`,
        why: "A process in the container would own the host's root files: one escape is a host root shell",
        fix: `Map ids from your /etc/subuid block only (igloo.idmap in ${configPath})`,
      });
    }
    try {
      entry.config = finishConfig(draft, { path: configPath });
    } catch (err) {
      if (!(hostRootMapped(draft.uidmap) || hostRootMapped(draft.gidmap)))
        add({
          severity: 'error',
          check: 'invalid-config',
          subject,
          message: err instanceof Error ? err.message : String(err),
          why: 'igloo refuses to start a container whose config is invalid',
          fix: err instanceof IglooError && err.hint ? err.hint : `Fix ${configPath}`,
        });
      continue;
    }
    const c = entry.config;
    const uids = outsideRanges(c.idmap.uid);
    for (const u of passwd) {
      if (u.uid === 0 || !uids.some((r) => u.uid >= r.start && u.uid < r.start + r.count)) continue;
      const own = u.uid === opts.owner.uid;
      add({
        severity: own ? 'warn' : 'error',
        check: own ? 'maps-owner' : 'maps-real-user',
        subject,
        message: `${name}'s uid map includes host uid ${u.uid}, which is ${own ? 'yours' : `the user ${u.name}`}`,
        why: own
          ? 'Processes in the container that run as that id can read and change all your files'
          : `Processes in the container that run as that id own ${u.name}'s files`,
        fix: `Remove ${u.uid} from igloo.idmap in ${configPath}${own ? ' unless you need it (a shared work directory)' : ''}`,
      });
    }
    for (const [kind, ranges, delegated] of [
      ['uid', uids, delegation.uid],
      ['gid', outsideRanges(c.idmap.gid), delegation.gid],
    ] as const) {
      const mine = kind === 'uid' ? opts.owner.uid : opts.owner.gid;
      const outside = ranges.filter(
        (r) => !rangesCover(delegated, r) && !(r.count === 1 && r.start === mine),
      );
      for (const r of outside)
        add({
          severity: 'error',
          check: 'not-delegated',
          subject,
          message: `${name}'s ${kind} map uses ${r.start}-${r.start + r.count - 1}, which is not delegated to ${opts.owner.name}`,
          why: 'Those ids may belong to another user or to their containers; newuidmap will refuse the map',
          fix: `Recreate the container with ids from your block (igloo create ${name} --idmap auto)`,
        });
    }
    const seccomp = c.seccomp ?? DEFAULT_SECCOMP;
    if (seccomp.profile === 'unconfined') {
      add({
        severity: seccomp.deny.length ? 'warn' : 'error',
        check: 'no-seccomp',
        subject,
        message: `${name} runs without igloo's seccomp filter${seccomp.deny.length ? ` (only its own ${seccomp.deny.length} denies)` : ''}`,
        why: 'Without it, the container can call kexec_load, the module calls, open_by_handle_at, the keyring calls, bpf, perf_event_open, userfaultfd and io_uring (a kernel bug in any of them is one step from the host), push input into a terminal with TIOCSTI, and (outside nesting) create user namespaces',
        fix: `Remove "igloo.seccomp = unconfined" from ${configPath} (the default is igloo's filter)`,
      });
    }
    if (c.noNewPrivs === false) {
      add({
        severity: 'warn',
        check: 'no-new-privs-off',
        subject,
        message: `${name} has igloo.no_new_privs = false`,
        why: 'setuid programs inside the container can then raise privileges up to the bounding set',
        fix: `Remove igloo.no_new_privs from ${configPath} unless setuid programs must work inside`,
      });
    }
    const extra = extraCaps(c.caps ?? DEFAULT_CAPS);
    if (extra.length) {
      add({
        severity: 'warn',
        check: 'extra-caps',
        subject,
        message: `${name} keeps capabilities igloo drops by default: ${extra.join(', ')}`,
        why: "These capabilities act on the whole machine or widen the kernel's attack surface; no container needs them",
        fix: `Remove them from igloo.cap.keep in ${configPath}`,
      });
    }
    let pid = statePid(stateText);
    if (pid !== undefined && !initIsContainers(pid, c)) {
      add({
        severity: 'warn',
        check: 'foreign-state-pid',
        subject,
        message: `${name}'s state.json says it runs as pid ${pid}, which is not in a user namespace with ${name}'s map`,
        why: "state.json is the owner's file: it can name any process. igloo judges the container by its own init only",
        fix: `Restart it (igloo stop ${name}; igloo start ${name}), or remove ${statePath} if it is not running`,
      });
      pid = undefined;
    }
    if (pid !== undefined) {
      const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const filtered = /^Seccomp:\s+2$/m.test(status);
      if (status && !filtered && seccomp.profile !== 'unconfined') {
        add({
          severity: 'error',
          check: 'running-without-filter',
          subject,
          message: `${name}'s init (pid ${pid}) runs without a seccomp filter although its config has one`,
          why: 'It was started by an igloo without hardening, or its filter was lost',
          fix: `Restart it: igloo stop ${name} && igloo start ${name}`,
        });
      }
    }
  }

  // ---- slices shared between containers
  const valid = loaded.filter((l): l is Loaded & { config: ContainerConfig } => !!l.config);
  for (let i = 0; i < valid.length; i++) {
    for (let j = i + 1; j < valid.length; j++) {
      const a = valid[i]!;
      const b = valid[j]!;
      const shared = (x: IdRange[], y: IdRange[]) =>
        x.some((r) => y.some((s) => rangesOverlap(r, s)));
      if (
        shared(outsideRanges(a.config.idmap.uid), outsideRanges(b.config.idmap.uid)) ||
        shared(outsideRanges(a.config.idmap.gid), outsideRanges(b.config.idmap.gid))
      ) {
        add({
          severity: 'warn',
          check: 'shared-slice',
          subject: `containers ${a.name}, ${b.name}`,
          message: `${a.name} and ${b.name} share host ids`,
          why: 'An escape from one is root over the other: the same host ids own both rootfs',
          fix: `Give one a slice of its own: recreate it with igloo create NAME --idmap auto`,
        });
      }
    }
  }

  if (opts.probe) findings.push(...escapeProbe(opts, valid));
  return findings;
}

/** Whether pid runs in a user namespace whose uid map is the container's (read from /proc). */
function initIsContainers(pid: number, c: ContainerConfig): boolean {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/uid_map`, 'utf8');
  } catch {
    return true; // gone: nothing is judged by it
  }
  try {
    const map = parseProcIdMap(text, { path: `/proc/${pid}/uid_map` });
    return (
      map.length === c.idmap.uid.length &&
      map.every((e) =>
        c.idmap.uid.some(
          (m) => m.inside === e.inside && m.outside === e.outside && m.count === e.count,
        ),
      )
    );
  } catch {
    return false;
  }
}

/** The escaped-uid read check: as each container's host root, read what must stay private. */
function escapeProbe(
  opts: AuditOptions,
  containers: Array<Loaded & { config: ContainerConfig }>,
): Finding[] {
  if ((process.geteuid?.() ?? 0) !== 0)
    throw new IglooError('EPERM', 'Cannot run audit --probe: it needs root', {
      op: 'audit --probe',
      hint: "The probe switches to each container's host root uid: run it as root (sudo igloo audit --probe --user NAME)",
    });
  const findings: Finding[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'igloo-audit-'));
  try {
    chmodSync(tmp, 0o755);
    const secret = join(tmp, 'owner-secret');
    writeFileSync(secret, 'igloo audit: only the owner may read this\n', { mode: 0o600 });
    chownSync(secret, opts.owner.uid, opts.owner.gid);
    for (const c of containers) {
      const uid = tryToOutside(c.config.idmap.uid, 0);
      const gid = tryToOutside(c.config.idmap.gid, 0);
      if (uid === undefined || gid === undefined) continue;
      const as = (argv: string[]) =>
        spawnSync(
          'setpriv',
          [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', ...argv],
          {
            encoding: 'utf8',
          },
        );
      const targets: Array<[string, string[], string]> = [
        ["the owner's 0600 file", ['cat', secret], 'your own files'],
        ["the owner's igloo directory", ['ls', opts.data], 'every container of yours'],
        ...containers
          .filter((o) => o.name !== c.name)
          .map((o): [string, string[], string] => [
            `${o.name}'s directory`,
            ['ls', o.dir],
            `the files of ${o.name}`,
          ]),
      ];
      for (const [what, argv, reach] of targets) {
        const r = as(argv);
        if (r.status === 0)
          findings.push({
            severity: 'error',
            check: 'escape-reads',
            subject: `container ${c.name}`,
            message: `A process with ${c.name}'s host root uid ${uid} can read ${what} (${argv.at(-1)})`,
            why: `One escape from ${c.name} reaches ${reach}`,
            fix: `Give ${c.name} ids of its own slice (no shared or owner ids) and keep igloo's directories mode 0700`,
          });
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return findings;
}
