/**
 * igloo-runc's cgroups (as root, through host/cgroups' driver): the
 * container's cgroup from linux.cgroupsPath in every hierarchy, its limits
 * from linux.resources (core/oci/resources.ts), a v1 devices cgroup that
 * denies every device but the ones the config allows, the freezer for
 * pause/resume, and `update`.
 */
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { IglooError } from '../../core/errors.ts';
import type { LimitKey, Limits } from '../../core/limits/values.ts';
import type { OciLaunch } from '../../core/oci/config.ts';
import { DEFAULT_DEVICE_ALLOWS, ociCgroup, readOciResources } from '../../core/oci/resources.ts';
import { cgroupDriver, type CgroupDriver } from '../../host/cgroups/driver.ts';
import { mkdirCgroup, withCgroupDir, writeCgroupFile } from '../../host/cgroups/fs.ts';
import type { Logger } from './store.ts';

export interface OciCgroup {
  /** Relative to each hierarchy's root. */
  readonly rel: string;
  /** The cgroup.procs files the container's process joins. */
  readonly procs: readonly string[];
  readonly dirs: readonly string[];
}

const setKeys = (limits: Limits) =>
  (Object.keys(limits) as LimitKey[]).filter((k) => limits[k] !== undefined);

function driverOrFail(op: string): CgroupDriver {
  const driver = cgroupDriver();
  if (!driver)
    throw new IglooError('EHOST', `Cannot ${op}: this host has no usable cgroup hierarchy`, {
      op,
      hint: 'Mount cgroup v1 controllers or cgroup v2 (igloo check)',
    });
  return driver;
}

/** cgroup v1's devices hierarchy (igloo's driver does not manage it), or undefined. */
const DEVICES_MOUNT = '/sys/fs/cgroup/devices';

/**
 * A v1 devices cgroup that denies every device but the defaults and the
 * config's allows (runc's rules): without it, a container of root's with
 * CAP_MKNOD and no user namespace could make a node of the host's disk.
 * Returns its cgroup.procs, or undefined on a host without it.
 */
function setUpDevices(
  driver: CgroupDriver,
  rel: string,
  allows: readonly string[],
): string | undefined {
  if (driver.version !== 1 || !existsSync(join(DEVICES_MOUNT, 'devices.deny'))) return undefined;
  const parts = rel.split('/');
  for (let i = 0; i < parts.length; i++)
    withCgroupDir(DEVICES_MOUNT, parts.slice(0, i).join('/'), 'make cgroup', (fd) =>
      mkdirCgroup(fd, parts[i]!, join(DEVICES_MOUNT, ...parts.slice(0, i))),
    );
  const shown = join(DEVICES_MOUNT, rel);
  withCgroupDir(DEVICES_MOUNT, rel, 'set devices', (fd) => {
    writeCgroupFile(fd, 'devices.deny', 'a', shown);
    for (const rule of [...DEFAULT_DEVICE_ALLOWS, ...allows])
      writeCgroupFile(fd, 'devices.allow', rule, shown);
  });
  return join(shown, 'cgroup.procs');
}

/**
 * Root of the host: euid 0 in the initial user namespace. Under rootless
 * podman the runtime is uid 0 of podman's namespace, and the host's
 * cgroups are not its own.
 */
function hostRoot(): boolean {
  if ((process.geteuid?.() ?? 0) !== 0) return false;
  try {
    return (
      readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/).join(' ') === '0 0 4294967295'
    );
  } catch {
    return false;
  }
}

/**
 * Makes the container's cgroup with its limits, or returns undefined when
 * there is nothing to make (a user without delegated cgroups: a warning,
 * unless the config asks for limits, which is an error).
 */
export function setUpCgroup(launch: OciLaunch, id: string, log: Logger): OciCgroup | undefined {
  const res = readOciResources(launch.resources ?? {});
  for (const f of res.ignored) log('warning', `linux.resources.${f} is not applied by igloo-runc`);
  const wantsLimits = setKeys(res.limits).length > 0;
  const driver = cgroupDriver();
  if (!driver || !hostRoot()) {
    if (wantsLimits)
      throw new IglooError(
        'EHOST',
        `Cannot create ${id}: linux.resources sets limits but igloo-runc makes cgroups only as the host's root`,
        {
          op: 'create',
          subject: 'linux.resources',
          hint: 'Leave the limits out, or run the engine as root',
        },
      );
    log('warning', 'no cgroup is made for the container (not root, or no cgroup hierarchy)');
    return undefined;
  }
  const rel = ociCgroup(launch.cgroupsPath, id);
  driver.checkControllers(res.limits, 'create');
  driver.create('', rel.split('/'));
  try {
    if (wantsLimits) driver.writeLimits(rel, res.limits, setKeys(res.limits));
    const devices = setUpDevices(driver, rel, res.deviceAllows);
    const procs = [...driver.procsFiles(rel), ...(devices ? [devices] : [])];
    return { rel, procs, dirs: driver.paths(rel) };
  } catch (err) {
    void removeCgroup(rel).catch(() => undefined);
    throw err;
  }
}

export async function removeCgroup(rel: string): Promise<void> {
  await cgroupDriver()?.remove(rel);
  if (existsSync(join(DEVICES_MOUNT, rel))) rmdirSync(join(DEVICES_MOUNT, rel));
}

export async function freezeCgroup(
  rel: string | undefined,
  id: string,
  frozen: boolean,
): Promise<void> {
  const op = frozen ? 'pause' : 'resume';
  if (rel === undefined)
    throw new IglooError(
      'ENOTSUP',
      `Cannot ${op} ${id}: it has no cgroup (it was created without root's cgroups)`,
      {
        op,
        subject: id,
        hint: 'Create it as root on a host with a freezer',
      },
    );
  await driverOrFail(op).setFrozen(rel, frozen);
}

export function updateCgroup(
  rel: string | undefined,
  id: string,
  resources: unknown,
  log: Logger,
): void {
  if (rel === undefined)
    throw new IglooError(
      'ENOTSUP',
      `Cannot update ${id}: it has no cgroup (it was created without root's cgroups)`,
      {
        op: 'update',
        subject: id,
        hint: 'Create it as root to change its limits',
      },
    );
  const res = readOciResources(resources);
  for (const f of res.ignored) log('warning', `linux.resources.${f} is not applied by igloo-runc`);
  const driver = driverOrFail('update');
  const keys = setKeys(res.limits);
  if (keys.length) driver.writeLimits(rel, res.limits, keys);
}
