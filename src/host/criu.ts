/**
 * Finding CRIU, and the host key that signs checkpoints (see the end, and
 * core/criu/signature.ts). Finding CRIU: criu on PATH first, then the private copy that
 * scripts/install-criu.sh unpacks into /opt/igloo/criu. Kernels >= 6.13 need
 * criu >= 4.1 (an older one refuses the [vvar_vclock] mapping); kernels >=
 * 6.16 need criu >= 4.2 (they refuse SO_PASSCRED on TCP sockets, which
 * makes criu 4.1 fail the dump of any TCP socket).
 */
import { execFile } from 'node:child_process';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  closeSync,
  constants as fsConstants,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  writeSync,
} from 'node:fs';
import { access, constants, readdir } from 'node:fs/promises';
import { release } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import {
  IMAGE_NAME,
  UNSIGNED,
  signedText,
  type CheckpointFacts,
  type SignedFile,
} from '../core/criu/signature.ts';
import { IglooError } from '../core/errors.ts';
import { errnoOf, sysError } from './errno.ts';

const run = promisify(execFile);

export const PRIVATE_CRIU = '/opt/igloo/criu/bin/criu';

export interface CriuInfo {
  readonly path: string;
  /** "4.2.1" */
  readonly version: string;
  /** >= criuMinimum() for this kernel */
  readonly newEnough: boolean;
}

/** The criu version this kernel needs ("4.2"), and why. */
export function criuMinimum(kernel: string = release()): { minor: number; why: string } {
  const m = /^(\d+)\.(\d+)/.exec(kernel);
  const k = m ? Number(m[1]) * 1000 + Number(m[2]) : 0;
  if (k >= 6016)
    return { minor: 2, why: 'kernels >= 6.16 need criu >= 4.2 (TCP sockets: SO_PASSCRED)' };
  return { minor: 1, why: 'kernels >= 6.13 need criu >= 4.1 ([vvar_vclock])' };
}

/**
 * The environment criu runs with. CRIU_FAULT=130 ("no breakpoints") makes
 * criu leave its parasite by tracing system calls instead of with a hardware
 * breakpoint: on these VMs the breakpoint never fires and every dump hangs
 * when it cures the task. Tracing is a little slower and works everywhere.
 * IGLOO_CRIU_BREAKPOINTS=1 keeps criu's default.
 */
export function criuEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return env.IGLOO_CRIU_BREAKPOINTS === '1' ? { ...env } : { ...env, CRIU_FAULT: '130' };
}

async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function versionOf(path: string): Promise<CriuInfo | undefined> {
  try {
    const { stdout } = await run(path, ['--version'], { timeout: 10_000 });
    const m = /Version:\s*(\d+)\.(\d+)(?:\.(\d+))?/.exec(stdout);
    if (!m) return undefined;
    const major = Number(m[1]);
    const minor = Number(m[2]);
    return {
      path,
      version: `${m[1]}.${m[2]}${m[3] !== undefined ? `.${m[3]}` : ''}`,
      newEnough: major > 4 || (major === 4 && minor >= criuMinimum().minor),
    };
  } catch {
    return undefined;
  }
}

/**
 * Every criu found, in order of preference (PATH, then the private prefix).
 * IGLOO_CRIU=PATH names the one criu to use instead (nothing when it is
 * missing).
 */
export async function findCriuCandidates(
  env: NodeJS.ProcessEnv = process.env,
): Promise<CriuInfo[]> {
  const out: CriuInfo[] = [];
  if (env.IGLOO_CRIU) {
    const info = (await executable(env.IGLOO_CRIU)) ? await versionOf(env.IGLOO_CRIU) : undefined;
    return info ? [info] : [];
  }
  const dirs = (env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).filter(Boolean);
  for (const dir of [...dirs, '/usr/sbin', '/sbin']) {
    const p = join(dir, 'criu');
    if (out.some((c) => c.path === p) || !(await executable(p))) continue;
    const info = await versionOf(p);
    if (info) out.push(info);
    break; // only the first on PATH counts, as a shell would run it
  }
  if (await executable(PRIVATE_CRIU)) {
    const info = await versionOf(PRIVATE_CRIU);
    if (info) out.push(info);
  }
  return out;
}

/** The criu igloo uses: the first that is new enough, else undefined. */
export async function findCriu(
  env: NodeJS.ProcessEnv = process.env,
): Promise<CriuInfo | undefined> {
  return (await findCriuCandidates(env)).find((c) => c.newEnough);
}

/** findCriu, or an IglooError that says how to get one. */
export async function requireCriu(op: string): Promise<CriuInfo> {
  const found = await findCriuCandidates();
  const good = found.find((c) => c.newEnough);
  if (good) return good;
  const old = found[0];
  throw new IglooError(
    'ENOENT',
    old
      ? `Cannot ${op}: ${old.path} is criu ${old.version}; ${criuMinimum().why}`
      : process.env.IGLOO_CRIU
        ? `Cannot ${op}: criu is not installed at ${process.env.IGLOO_CRIU} (IGLOO_CRIU)`
        : `Cannot ${op}: criu is not installed`,
    {
      op,
      ...(old && { path: old.path }),
      hint: `Install it as root with: scripts/install-criu.sh (or a criu >= 4.${criuMinimum().minor} package)`,
    },
  );
}

/** `criu check` as root: "Looks good." or the first error line. */
export async function criuCheck(info: CriuInfo): Promise<{ ok: boolean; detail: string }> {
  if ((process.geteuid?.() ?? 0) !== 0)
    return { ok: false, detail: 'criu check needs root (not run)' };
  try {
    const { stdout, stderr } = await run(info.path, ['check'], {
      timeout: 30_000,
      env: criuEnv(),
    });
    const text = `${stdout}\n${stderr}`;
    return /Looks good/.test(text)
      ? { ok: true, detail: 'criu check: looks good' }
      : { ok: false, detail: `criu check: ${text.trim().split('\n').pop() ?? ''}` };
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    const line = (e.stderr ?? e.message ?? '').trim().split('\n').filter(Boolean).pop();
    return { ok: false, detail: `criu check failed: ${line ?? 'no output'}` };
  }
}

/**
 * The `criu` line of `igloo check`: which criu, its version, whether it is
 * new enough for this kernel and (as root) what `criu check` says.
 */
export async function criuCheckResult(): Promise<{
  name: string;
  status: 'ok' | 'warn';
  detail: string;
  fix?: string;
}> {
  const found = await findCriuCandidates();
  const good = found.find((c) => c.newEnough);
  if (!good) {
    const old = found[0];
    return {
      name: 'criu',
      status: 'warn',
      detail: old
        ? `${old.path} is ${old.version}; ${criuMinimum().why}: checkpoint/restore unavailable`
        : 'not installed: checkpoint/restore unavailable',
      fix: `as root: scripts/install-criu.sh (installs Debian's criu 4.${criuMinimum().minor} into /opt/igloo/criu)`,
    };
  }
  const check = await criuCheck(good);
  const root = (process.geteuid?.() ?? 0) === 0;
  return {
    name: 'criu',
    status: !root || check.ok ? 'ok' : 'warn',
    detail: `${good.path} ${good.version}; ${check.detail}; checkpoint/restore need root`,
  };
}

/* ---- signing checkpoints (see core/criu/signature.ts) ------------------ */

/** The host's checkpoint key: 32 random bytes, root's, 0600, made on first use. */
export const CHECKPOINT_KEY = '/var/lib/igloo/checkpoint.key';

function keyError(why: string): IglooError {
  return new IglooError('EUNSAFE', `Cannot use the checkpoint key ${CHECKPOINT_KEY}: ${why}`, {
    op: 'checkpoint key',
    path: CHECKPOINT_KEY,
    hint: `It must be a regular file of 32 bytes owned by root with mode 0600 in a directory only root can write. Remove it (checkpoints signed with it will no longer restore) and igloo makes a new one`,
  });
}

/**
 * The key, made the first time (O_CREAT|O_EXCL|O_NOFOLLOW, 0600) in a
 * directory that must be root's and writable by nobody else.
 */
export function checkpointKey(path: string = CHECKPOINT_KEY): Buffer {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const d = lstatSync(dir);
  if (!d.isDirectory() || d.uid !== 0 || (d.mode & 0o022) !== 0)
    throw keyError(`${dir} is not a directory of root's that only root can write`);
  let fd: number;
  let made = false;
  try {
    fd = openSync(
      path,
      fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
      0o600,
    );
    made = true;
  } catch (err) {
    if (errnoOf(err) !== 'EEXIST') throw sysError(err, 'make the checkpoint key', path);
    try {
      fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch (err2) {
      throw errnoOf(err2) === 'ELOOP'
        ? keyError('it is a symbolic link')
        : sysError(err2, 'read the checkpoint key', path);
    }
  }
  try {
    if (made) {
      writeSync(fd, randomBytes(32));
      fsyncSync(fd);
    }
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== 0 || (st.mode & 0o077) !== 0 || st.size !== 32)
      throw keyError(
        `it is not a 32-byte regular file of root's with mode 0600 (mode ${(st.mode & 0o7777).toString(8)}, uid ${st.uid}, ${st.size} bytes)`,
      );
    const key = Buffer.alloc(32);
    if (readSync(fd, key, 0, 32, 0) !== 32) throw keyError('it is shorter than 32 bytes');
    return key;
  } finally {
    closeSync(fd);
  }
}

/**
 * Name, size and SHA-256 of every signed file of a checkpoint directory.
 * Refuses anything but regular files (a link, a FIFO, a directory): criu
 * would follow or block on them. Opened O_NOFOLLOW|O_NONBLOCK and hashed
 * from the descriptor.
 */
export async function checkpointFiles(dir: string): Promise<SignedFile[]> {
  const out: SignedFile[] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (UNSIGNED.has(name)) continue;
    const path = join(dir, name);
    if (!IMAGE_NAME.test(name))
      throw new IglooError(
        'EUNSAFE',
        `Refusing the checkpoint in ${dir}: "${name}" is not the name of a CRIU image`,
        {
          op: 'verify checkpoint',
          path,
          hint: 'Only files criu writes belong in a checkpoint directory; make a new checkpoint',
        },
      );
    let fd: number;
    try {
      fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch (err) {
      throw errnoOf(err) === 'ELOOP'
        ? new IglooError(
            'EUNSAFE',
            `Refusing the checkpoint in ${dir}: ${name} is a symbolic link`,
            {
              op: 'verify checkpoint',
              path,
              hint: 'A checkpoint holds regular files only; make a new checkpoint',
            },
          )
        : sysError(err, 'read the checkpoint image', path);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile())
        throw new IglooError(
          'EUNSAFE',
          `Refusing the checkpoint in ${dir}: ${name} is not a regular file`,
          {
            op: 'verify checkpoint',
            path,
            hint: 'A checkpoint holds regular files only; make a new checkpoint',
          },
        );
      const hash = createHash('sha256');
      const buf = Buffer.allocUnsafe(1 << 20);
      let size = 0;
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        hash.update(buf.subarray(0, n));
        size += n;
      }
      out.push({ name, size, sha256: hash.digest('hex') });
    } finally {
      closeSync(fd);
    }
  }
  return out;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The HMAC-SHA256 (hex) of a checkpoint's facts under the host key. */
export function signCheckpoint(facts: CheckpointFacts, key: Buffer = checkpointKey()): string {
  return createHmac('sha256', key).update(signedText(facts)).digest('hex');
}

/** Whether MAC is the host's signature of FACTS (constant-time compare). */
export function checkpointSignedHere(
  facts: CheckpointFacts,
  mac: unknown,
  key: Buffer = checkpointKey(),
): boolean {
  if (typeof mac !== 'string' || !/^[0-9a-f]{64}$/.test(mac)) return false;
  return timingSafeEqual(Buffer.from(signCheckpoint(facts, key), 'hex'), Buffer.from(mac, 'hex'));
}
