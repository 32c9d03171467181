import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { IglooError } from '../errors.ts';
import {
  checkCeiling,
  containerCgroup,
  controllerOf,
  cpuPercent,
  cpuQuota,
  cpuSetMembers,
  describeLimits,
  formatCpuSet,
  formatSize,
  hasLimits,
  limitWrites,
  parseBlkioBytes,
  parseCount,
  parseCpuList,
  parseFlatKeyed,
  parseIoStat,
  parseLimit,
  parseLimits,
  parseSize,
  userCgroup,
  weightToBlkio,
  weightToShares,
  LIMIT_KEYS,
  LIMIT_SPECS,
} from './index.ts';

const einval = (fn: () => unknown, re: RegExp) =>
  assert.throws(
    fn,
    (e: unknown) => e instanceof IglooError && e.code === 'EINVAL' && re.test(e.message),
  );

describe('limit values', () => {
  test('sizes', () => {
    assert.equal(parseSize('512M'), 512 * 2 ** 20);
    assert.equal(parseSize('1g'), 2 ** 30);
    assert.equal(parseSize('1.5G'), 1.5 * 2 ** 30);
    assert.equal(parseSize('4096'), 4096);
    assert.equal(parseSize('2KiB'), 2048);
    assert.equal(parseSize('1T'), 2 ** 40);
    for (const bad of ['10Q', '', '-1', '1 G G', 'G', '0x10', '1e9', '99999999999999999T'])
      assert.throws(() => parseSize(bad), bad);
    assert.equal(formatSize(512 * 2 ** 20), '512M');
    assert.equal(formatSize(2 ** 30), '1G');
    assert.equal(formatSize(1536 * 2 ** 20), '1536M');
    assert.equal(formatSize(1000), '1000');
  });

  test('formatSize and parseSize round-trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 50 }), (n) => parseSize(formatSize(n)) === n),
    );
  });

  test('bad values name the flag, the value and the fix', () => {
    einval(() => parseLimit('memory', '10Q'), /--memory 10Q: "10Q" is not a size/);
    einval(() => parseLimit('memory', '1M'), /below the minimum 4M/);
    einval(() => parseLimit('memory', '-5M'), /not a size/);
    einval(() => parseLimit('pids', '0'), /process count 0 is outside 1\.\.4194304/);
    einval(() => parseLimit('pids', '-3'), /not a process count/);
    einval(() => parseLimit('pids', '4194305'), /outside/);
    einval(() => parseLimit('pids', '99999999999999'), /not a process count/);
    einval(() => parseLimit('pids', '1.5'), /not a process count/);
    einval(() => parseLimit('cpus', '0'), /cpus 0 is outside/);
    einval(() => parseLimit('cpus', '-1'), /not a number of CPUs/);
    einval(() => parseLimit('cpus', '1.2345'), /not a number of CPUs/);
    einval(() => parseLimit('cpus', '2000'), /outside/);
    einval(() => parseLimit('cpuWeight', '0'), /outside 1\.\.10000/);
    einval(() => parseLimit('cpuWeight', '10001'), /outside/);
    einval(() => parseLimit('ioWeight', 'x'), /not a I\/O weight|not a I\/O/);
    einval(() => parseLimit('cpuset', '3-1'), /backwards/);
    einval(() => parseLimit('cpuset', '5000'), /above 4095/);
    einval(() => parseLimit('cpuset', ''), /empty/);
    einval(() => parseLimit('cpuset', 'a'), /not a CPU/);
    try {
      parseLimit('memory', '10Q');
    } catch (e) {
      assert.ok((e as IglooError).hint?.includes('--memory 512M'));
    }
  });

  test('good values', () => {
    assert.equal(parseLimit('pids', '100'), 100);
    assert.equal(parseLimit('cpus', '1.5'), 1.5);
    assert.equal(parseLimit('cpus', '0.01'), 0.01);
    assert.equal(parseLimit('cpuWeight', '10000'), 10000);
    assert.equal(parseLimit('cpuset', '3,0-1,2'), '0-3');
    assert.equal(parseLimit('cpuset', '0,2,4-5'), '0,2,4-5');
  });

  test('cpu lists', () => {
    assert.equal(parseCpuList(' 1 '), '1');
    assert.deepEqual(cpuSetMembers('0-2,5'), [0, 1, 2, 5]);
    assert.deepEqual(cpuSetMembers(''), []);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 64 }), { minLength: 1 }), (cpus) => {
        const text = formatCpuSet(cpus);
        return (
          parseCpuList(text) === text &&
          JSON.stringify(cpuSetMembers(text)) === JSON.stringify([...cpus].sort((a, b) => a - b))
        );
      }),
    );
  });

  test('parseLimits: together, memory-swap needs memory and is not below it', () => {
    assert.deepEqual(parseLimits({ memory: '512M', pids: '64' }), {
      memory: 512 * 2 ** 20,
      pids: 64,
    });
    einval(() => parseLimits({ memorySwap: '1G' }), /without --memory/);
    einval(() => parseLimits({ memory: '1G', memorySwap: '512M' }), /below --memory 1G/);
    assert.deepEqual(parseLimits({ memory: '1G', memorySwap: '1G' }), {
      memory: 2 ** 30,
      memorySwap: 2 ** 30,
    });
    assert.equal(describeLimits({ memory: 2 ** 29, pids: 5 }), 'memory 512M, pids 5');
    assert.equal(describeLimits({}), 'none');
    assert.equal(hasLimits({}), false);
    assert.equal(hasLimits(undefined), false);
    assert.equal(hasLimits({ pids: 1 }), true);
  });

  test('every limit has a flag, a config key, a hint and a controller in both versions', () => {
    for (const k of LIMIT_KEYS) {
      assert.match(LIMIT_SPECS[k].key, /^igloo\.limits\.[a-z_]+$/);
      assert.ok(controllerOf(1, k));
      assert.ok(controllerOf(2, k));
    }
  });

  test('ceilings: a limit above the ceiling names both', () => {
    checkCeiling({ memory: 2 ** 28 }, { memory: 2 ** 30 }, 'anna');
    checkCeiling({ pids: 100 }, { pids: 100 }, 'anna');
    checkCeiling({ cpus: 4 }, {}, 'anna');
    einval(
      () => checkCeiling({ memory: 2 ** 31 }, { memory: 2 ** 30 }, 'anna'),
      /--memory 2G: it is above anna's ceiling of 1G/,
    );
    einval(() => checkCeiling({ pids: 101 }, { pids: 100 }, 'anna'), /ceiling of 100/);
    einval(() => checkCeiling({ cpus: 1.5 }, { cpus: 1 }, 'anna'), /--cpus 1\.5: .* ceiling of 1$/);
  });

  test('conversions', () => {
    assert.deepEqual(cpuQuota(1.5), { quota: 150000, period: 100000 });
    assert.deepEqual(cpuQuota(0.01), { quota: 1000, period: 100000 });
    assert.equal(weightToShares(100), 1024);
    assert.equal(weightToShares(1), 10);
    assert.equal(weightToShares(10000), 102400);
    assert.equal(weightToBlkio(100), 500);
    assert.equal(weightToBlkio(1), 10);
    assert.equal(weightToBlkio(10000), 1000);
  });
});

describe('cgroup paths and files', () => {
  test('paths', () => {
    assert.equal(userCgroup('anna'), 'igloo/user-anna');
    assert.equal(containerCgroup({ name: 'anna', uid: 1001 }, 'c1'), 'igloo/user-anna/c1');
    assert.equal(containerCgroup({ name: 'root', uid: 0 }, 'web'), 'igloo/root/web');
    for (const bad of ['..', '.', 'a/b', '', 'x y'])
      einval(() => containerCgroup({ name: 'anna', uid: 1 }, bad), /unusable name/);
    einval(() => userCgroup('../etc'), /unusable name/);
  });

  test('v1 writes: every limit, unset ones reset', () => {
    const l = {
      memory: 2 ** 29,
      memorySwap: 2 ** 30,
      pids: 64,
      cpus: 0.5,
      cpuWeight: 200,
      cpuset: '0',
      ioWeight: 50,
    };
    assert.deepEqual(
      limitWrites(1, l).map((x) => `${x.controller}/${x.file}=${x.value}`),
      [
        'memory/memory.limit_in_bytes=536870912',
        'memory/memory.memsw.limit_in_bytes=1073741824',
        'pids/pids.max=64',
        'cpu/cpu.cfs_period_us=100000',
        'cpu/cpu.cfs_quota_us=50000',
        'cpu/cpu.shares=2048',
        'cpuset/cpuset.cpus=0',
        'blkio/blkio.weight=250',
      ],
    );
    const reset = limitWrites(1, {});
    assert.deepEqual(
      reset.map((x) => `${x.file}=${x.value}${x.optional ? '?' : ''}`),
      [
        'memory.limit_in_bytes=-1',
        'memory.memsw.limit_in_bytes=-1?',
        'pids.max=max',
        'cpu.cfs_period_us=100000',
        'cpu.cfs_quota_us=-1',
        'cpu.shares=1024',
        'cpuset.cpus=undefined',
        'blkio.weight=500?',
      ],
    );
    assert.deepEqual(
      limitWrites(1, { pids: 5 }, ['memory', 'pids', 'cpus']).map((x) => x.file),
      ['memory.limit_in_bytes', 'pids.max', 'cpu.cfs_period_us', 'cpu.cfs_quota_us'],
    );
  });

  test('v2 writes', () => {
    const l = {
      memory: 2 ** 29,
      memorySwap: 2 ** 30,
      pids: 64,
      cpus: 2,
      cpuWeight: 200,
      cpuset: '0-1',
      ioWeight: 50,
    };
    assert.deepEqual(
      limitWrites(2, l).map((x) => `${x.file}=${x.value}`),
      [
        'memory.max=536870912',
        'memory.swap.max=536870912',
        'pids.max=64',
        'cpu.max=200000 100000',
        'cpu.weight=200',
        'cpuset.cpus=0-1',
        'io.weight=default 50',
      ],
    );
    assert.deepEqual(
      limitWrites(2, {}).map((x) => `${x.file}=${x.value}`),
      [
        'memory.max=max',
        'memory.swap.max=max',
        'pids.max=max',
        'cpu.max=max 100000',
        'cpu.weight=100',
        'cpuset.cpus=',
        'io.weight=default 100',
      ],
    );
  });
});

describe('usage parsing', () => {
  test('keyed files, counts, I/O', () => {
    assert.deepEqual(parseFlatKeyed('oom_kill_disable 0\nunder_oom 0\noom_kill 3\n'), {
      oom_kill_disable: 0,
      under_oom: 0,
      oom_kill: 3,
    });
    assert.equal(parseCount('max\n'), undefined);
    assert.equal(parseCount('9223372036854771712\n'), undefined);
    assert.equal(parseCount('42\n'), 42);
    assert.equal(parseCount('garbage'), undefined);
    assert.deepEqual(
      parseBlkioBytes('8:0 Read 4096\n8:0 Write 512\n8:16 Read 4\n8:0 Total 4608\nTotal 4612\n'),
      { readBytes: 4100, writeBytes: 512 },
    );
    assert.deepEqual(parseIoStat('8:0 rbytes=10 wbytes=20 rios=1\n8:16 rbytes=1 wbytes=2\n'), {
      readBytes: 11,
      writeBytes: 22,
    });
    assert.equal(cpuPercent(0, 5e8, 1e9), 50);
    assert.equal(cpuPercent(0, 2e9, 1e9), 200);
    assert.equal(cpuPercent(5, 1, 1e9), 0);
    assert.equal(cpuPercent(0, 1, 0), 0);
  });
});
