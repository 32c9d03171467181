import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { delegationFiles, detectCgroupHost } from './driver.ts';

const HYBRID = `sysfs /sys sysfs rw 0 0
tmpfs /sys/fs/cgroup tmpfs ro,nosuid 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
cgroup /sys/fs/cgroup/devices cgroup rw,nosuid,nodev,noexec,relatime,devices 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,nodev,noexec,relatime,pids 0 0
`;

describe('detectCgroupHost', () => {
  it('hybrid and legacy: the v1 hierarchies igloo uses, joined controllers kept together', () => {
    assert.deepEqual(
      detectCgroupHost(HYBRID, () => 'hugetlb\n'),
      {
        version: 1,
        hierarchies: [
          { mount: '/sys/fs/cgroup/cpu,cpuacct', controllers: ['cpu', 'cpuacct'] },
          { mount: '/sys/fs/cgroup/memory', controllers: ['memory'] },
          { mount: '/sys/fs/cgroup/pids', controllers: ['pids'] },
        ],
      },
    );
  });

  it('pure v2: the one tree and its controllers', () => {
    const text = 'cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n';
    assert.deepEqual(
      detectCgroupHost(text, () => 'cpuset cpu io memory pids\n'),
      {
        version: 2,
        hierarchies: [
          { mount: '/sys/fs/cgroup', controllers: ['cpuset', 'cpu', 'io', 'memory', 'pids'] },
        ],
      },
    );
    assert.equal(
      detectCgroupHost(text, () => '\n'),
      undefined,
    );
    assert.equal(detectCgroupHost('proc /proc proc rw 0 0\n'), undefined);
  });

  it("the files a delegation gives away follow each version's rules", () => {
    assert.deepEqual(delegationFiles(1), ['cgroup.procs', 'tasks']);
    assert.deepEqual(delegationFiles(2), [
      'cgroup.procs',
      'cgroup.subtree_control',
      'cgroup.threads',
    ]);
  });
});
