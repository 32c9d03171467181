/**
 * What `igloo check` says about resource limits: the cgroup layout and the
 * hierarchy igloo uses, the controllers, and whether the caller can limit
 * containers (root always; a user when root delegated igloo/user-NAME),
 * with what to do when not.
 */
import { describeLimits, userCgroup } from '../../core/limits/index.ts';
import { findDelegation } from './delegation.ts';
import { cgroupDriver } from './driver.ts';

interface Result {
  readonly name: string;
  readonly status: 'ok' | 'warn' | 'fail';
  readonly detail: string;
  readonly fix?: string;
}

export function checkCgroupLimits(layout: string, user: { name: string; uid: number }): Result[] {
  const driver = cgroupDriver();
  if (!driver)
    return [
      {
        name: 'cgroup limits',
        status: 'warn',
        detail: `${layout}: no hierarchy with controllers; containers get RLIMIT_NPROC only`,
        fix: 'mount cgroup2 (with its controllers) on /sys/fs/cgroup',
      },
    ];
  const where = driver.hierarchies.map((h) => h.mount).join(', ');
  const out: Result[] = [
    {
      name: 'cgroup limits',
      status: 'ok',
      detail: `cgroup v${driver.version} (${layout}): controllers ${driver.controllers().join(',')} at ${where}`,
    },
  ];
  if (user.uid === 0) {
    out.push({
      name: 'cgroup delegation',
      status: 'ok',
      detail: 'root: containers with limits get igloo/root/NAME; users get igloo limit set USER',
    });
    return out;
  }
  const d = findDelegation(driver, user);
  out.push(
    d
      ? {
          name: 'cgroup delegation',
          status: 'ok',
          detail: `${userCgroup(user.name)} is yours; ceiling: ${describeLimits(d.ceiling)}`,
        }
      : {
          name: 'cgroup delegation',
          status: 'warn',
          detail: `no cgroup is delegated to ${user.name}: limits (--memory, --pids...) are refused, containers get RLIMIT_NPROC only`,
          fix: `as root: igloo limit set ${user.name} --memory 4G --pids 4096 (docs/limits.md)`,
        },
  );
  return out;
}
