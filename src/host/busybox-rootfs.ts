/**
 * The default image: a small system built from the host's static busybox,
 * with busybox init as /sbin/init, a shell on the console, and the files a
 * system expects. It runs inside the container's user namespace (see
 * lifecycle/userns-task.ts), so every file belongs to the container's ids.
 * Nothing from the rootfs is executed: the host's busybox lists its applets.
 */
import { execFile } from 'node:child_process';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { copyFile, chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { IglooError } from '../core/errors.ts';

const run = promisify(execFile);
export const HOST_BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

const INITTAB = `# busybox init (igloo's default image)
::sysinit:/bin/mount -o remount,rw / 2>/dev/null
::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
`;

const noBusybox = () =>
  new IglooError('EHOST', 'Cannot build the busybox image: the host has no busybox', {
    op: 'build image',
    hint: 'apt-get install busybox-static',
  });

/** The host's busybox and its applets (`busybox --list-full`: "bin/ls", ...). */
export async function hostBusybox(): Promise<{ path: string; applets: string[] }> {
  for (const candidate of HOST_BUSYBOX_CANDIDATES) {
    try {
      const { stdout } = await run(candidate, ['--list-full']);
      return { path: candidate, applets: stdout.split('\n').filter(Boolean) };
    } catch {
      // next
    }
  }
  throw noBusybox();
}

/**
 * hostBusybox(), remembered in `cacheDir` (the user's private run
 * directory) under a name made of the binary's device, inode, size and
 * modification time, so an upgraded busybox is listed again: running
 * `busybox --list-full` costs 10-150 ms of every `igloo run`, reading the
 * list back well under one.
 */
export async function hostBusyboxCached(
  cacheDir: string,
): Promise<{ path: string; applets: string[] }> {
  for (const candidate of HOST_BUSYBOX_CANDIDATES) {
    let st;
    try {
      st = statSync(candidate);
    } catch {
      continue;
    }
    const key = `${st.dev}-${st.ino}-${st.size}-${Math.floor(st.mtimeMs)}`;
    const file = join(cacheDir, `busybox-applets-${key}`);
    try {
      const applets = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      if (applets.length > 0) return { path: candidate, applets };
    } catch {
      // not listed yet
    }
    const found = await hostBusybox();
    if (found.path === candidate) {
      try {
        writeFileSync(`${file}.tmp-${process.pid}`, found.applets.join('\n') + '\n');
        renameSync(`${file}.tmp-${process.pid}`, file);
      } catch {
        // a cache only
      }
    }
    return found;
  }
  return hostBusybox(); // says clearly that there is none
}

/** The directories of the default image, with their modes. */
const BUSYBOX_DIRS: ReadonlyArray<readonly [string, number]> = [
  ['bin', 0o755],
  ['sbin', 0o755],
  ['usr/bin', 0o755],
  ['usr/sbin', 0o755],
  ['etc', 0o755],
  ['proc', 0o555],
  ['sys', 0o555],
  ['dev', 0o755],
  ['tmp', 0o1777],
  ['root', 0o700],
  ['home', 0o755],
  ['run', 0o755],
  ['var/log', 0o755],
  ['var/tmp', 0o1777],
  ['mnt', 0o755],
];

/** The files of the default image besides busybox and its applet links. */
function busyboxFiles(hostname: string): Array<[string, string, number]> {
  return [
    [
      'etc/passwd',
      'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
      0o644,
    ],
    ['etc/group', 'root:x:0:\ndaemon:x:1:\ntty:x:5:\nusers:x:100:\nnogroup:x:65534:\n', 0o644],
    ['etc/shadow', 'root:*:19000:0:99999:7:::\n', 0o600],
    ['etc/inittab', INITTAB, 0o644],
    ['etc/hostname', `${hostname}\n`, 0o644],
    ['etc/hosts', `127.0.0.1\tlocalhost\n127.0.1.1\t${hostname}\n::1\tlocalhost\n`, 0o644],
    ['etc/profile', 'export PS1="\\u@\\h:\\w\\$ "\n', 0o644],
    ['etc/fstab', '', 0o644],
  ];
}

/** The host's static busybox, found without running it. */
export function findHostBusybox(): string {
  for (const candidate of HOST_BUSYBOX_CANDIDATES) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // next
    }
  }
  throw noBusybox();
}

const shellQuote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;

/**
 * The default image as a script for the host's busybox shell, run as root
 * of the container's user namespace: `busybox sh -c SCRIPT sh ROOTFS
 * BUSYBOX`. It makes ROOTFS (which must not exist), copies BUSYBOX into
 * it, and has busybox link its own applets (`--install -s`, chrooted into
 * the new rootfs, so the links say /bin/busybox). One busybox process and
 * a few hundred system calls, where Node would take a tenth of a second
 * just to start.
 */
export function busyboxRootfsScript(hostname: string): string {
  // "$1" is "." for root's task, already in the rootfs (its working directory).
  const lines = ['set -e', 'umask 022', '[ "$1" = . ] || { mkdir -m 755 "$1"; cd "$1"; }'];
  for (const [dir, mode] of BUSYBOX_DIRS) lines.push(`mkdir -p -m ${mode.toString(8)} ${dir}`);
  lines.push('cp "$2" bin/busybox', 'chmod 755 bin/busybox');
  lines.push('chroot . /bin/busybox --install -s');
  for (const [path, text, mode] of busyboxFiles(hostname)) {
    lines.push(`printf %s ${shellQuote(text)} > ${path}`, `chmod ${mode.toString(8)} ${path}`);
  }
  return lines.join('\n') + '\n';
}

/** The same image made from Node (tests and benchmarks that build a rootfs as root). */
export async function buildBusyboxRootfs(rootfs: string, hostname: string): Promise<void> {
  const { path: busybox, applets } = await hostBusybox();
  await mkdir(rootfs, { mode: 0o755 });
  for (const [dir, mode] of BUSYBOX_DIRS) {
    await mkdir(join(rootfs, dir), { recursive: true });
    await chmod(join(rootfs, dir), mode);
  }
  await copyFile(busybox, join(rootfs, 'bin/busybox'));
  await chmod(join(rootfs, 'bin/busybox'), 0o755);
  for (const applet of applets) {
    if (applet === 'bin/busybox' || applet.includes('..')) continue;
    const path = join(rootfs, applet);
    await mkdir(dirname(path), { recursive: true });
    await symlink(relative(dirname(`/${applet}`), '/bin/busybox'), path).catch(
      (err: { code?: string }) => {
        if (err.code !== 'EEXIST') throw err;
      },
    );
  }
  for (const [path, text, mode] of busyboxFiles(hostname)) {
    await writeFile(join(rootfs, path), text, { mode });
    await chmod(join(rootfs, path), mode);
  }
}
