import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IglooError } from './errors.ts';
import {
  CONFIG_FILE,
  ROOTFS_DIR,
  STATE_FILE,
  containerPaths,
  containersDir,
  containersWalk,
  defaultDirsOf,
  iglooDirsFor,
  imagesDir,
  preparedExecPath,
  preparedRunPaths,
  subidPathsFor,
} from './layout.ts';

const ROOT = { data: '/var/lib/igloo', run: '/run/igloo' };

describe('iglooDirsFor()', () => {
  test('root: /var/lib/igloo and /run/igloo, whatever HOME and XDG_* say', () => {
    assert.deepEqual(iglooDirsFor({}, 0), ROOT);
    assert.deepEqual(
      iglooDirsFor(
        { HOME: '/root', XDG_DATA_HOME: '/x', XDG_RUNTIME_DIR: '/y', XDG_CACHE_HOME: '/z' },
        0,
      ),
      ROOT,
    );
  });

  test('a user without XDG_*: ~/.local/share/igloo and ~/.cache/igloo/run', () => {
    assert.deepEqual(iglooDirsFor({ HOME: '/home/anna' }, 1000), {
      data: '/home/anna/.local/share/igloo',
      run: '/home/anna/.cache/igloo/run',
    });
  });

  test('XDG_DATA_HOME moves the data directory, XDG_RUNTIME_DIR the run directory', () => {
    assert.deepEqual(
      iglooDirsFor(
        { HOME: '/home/anna', XDG_DATA_HOME: '/data/anna', XDG_RUNTIME_DIR: '/run/user/1000' },
        1000,
      ),
      { data: '/data/anna/igloo', run: '/run/user/1000/igloo' },
    );
  });

  test('without XDG_RUNTIME_DIR the run directory is under XDG_CACHE_HOME, never /tmp', () => {
    assert.deepEqual(iglooDirsFor({ HOME: '/home/anna', XDG_CACHE_HOME: '/c/anna' }, 1000), {
      data: '/home/anna/.local/share/igloo',
      run: '/c/anna/igloo/run',
    });
    // XDG_RUNTIME_DIR wins over XDG_CACHE_HOME.
    assert.equal(
      iglooDirsFor(
        { HOME: '/home/anna', XDG_RUNTIME_DIR: '/run/user/1000', XDG_CACHE_HOME: '/c' },
        1000,
      ).run,
      '/run/user/1000/igloo',
    );
  });

  test('empty XDG_* variables count as unset', () => {
    assert.deepEqual(
      iglooDirsFor(
        { HOME: '/home/anna', XDG_DATA_HOME: '', XDG_RUNTIME_DIR: '', XDG_CACHE_HOME: '' },
        1000,
      ),
      { data: '/home/anna/.local/share/igloo', run: '/home/anna/.cache/igloo/run' },
    );
  });

  test('no HOME: below "/"', () => {
    assert.deepEqual(iglooDirsFor({}, 1000), {
      data: '/.local/share/igloo',
      run: '/.cache/igloo/run',
    });
  });

  test('IGLOO_DATA_DIR and IGLOO_RUN_DIR replace both, for root too; one alone is ignored', () => {
    const both = { IGLOO_DATA_DIR: '/t/data', IGLOO_RUN_DIR: '/t/run' };
    assert.deepEqual(iglooDirsFor(both, 1000), { data: '/t/data', run: '/t/run' });
    assert.deepEqual(iglooDirsFor(both, 0), { data: '/t/data', run: '/t/run' });
    assert.deepEqual(iglooDirsFor({ IGLOO_DATA_DIR: '/t/data' }, 0), ROOT);
    assert.deepEqual(iglooDirsFor({ IGLOO_RUN_DIR: '/t/run', HOME: '/h' }, 5), {
      data: '/h/.local/share/igloo',
      run: '/h/.cache/igloo/run',
    });
    assert.deepEqual(iglooDirsFor({ IGLOO_DATA_DIR: '', IGLOO_RUN_DIR: '/t/run' }, 0), ROOT);
  });

  test('a process environment fits', () => {
    const env: NodeJS.ProcessEnv = { HOME: '/home/b', PATH: '/bin' };
    assert.equal(iglooDirsFor(env, 7).data, '/home/b/.local/share/igloo');
  });
});

describe('defaultDirsOf()', () => {
  test('what iglooDirsFor() gives with the passwd home and no variables', () => {
    assert.deepEqual(defaultDirsOf({ uid: 0, home: '/root' }), ROOT);
    assert.deepEqual(defaultDirsOf({ uid: 1000, home: '/home/anna' }), {
      data: '/home/anna/.local/share/igloo',
      run: '/home/anna/.cache/igloo/run',
    });
    assert.deepEqual(
      defaultDirsOf({ uid: 1000, home: '/home/anna' }),
      iglooDirsFor({ HOME: '/home/anna' }, 1000),
    );
  });

  test('a home that is not absolute is "/", never relative to the working directory', () => {
    for (const home of ['', 'home/anna', '.'])
      assert.deepEqual(defaultDirsOf({ uid: 1000, home }), {
        data: '/.local/share/igloo',
        run: '/.cache/igloo/run',
      });
  });
});

describe('container paths', () => {
  test('DATA/containers/NAME/{config,state.json,rootfs} and RUN/NAME/{exit,console.sock}', () => {
    assert.deepEqual(containerPaths({ data: '/d', run: '/r' }, 'web-1'), {
      dir: '/d/containers/web-1',
      config: '/d/containers/web-1/config',
      state: '/d/containers/web-1/state.json',
      rootfs: '/d/containers/web-1/rootfs',
      rundir: '/r/web-1',
      exitFile: '/r/web-1/exit',
      consoleSocket: '/r/web-1/console.sock',
    });
    assert.equal(containersDir('/d'), '/d/containers');
    assert.deepEqual([CONFIG_FILE, STATE_FILE, ROOTFS_DIR], ['config', 'state.json', 'rootfs']);
  });

  test('the name is validated before any path is made', () => {
    for (const name of ['', '.', '..', '../x', 'a/b', '/abs', 'a b', '-x', 'x'.repeat(65)])
      assert.throws(
        () => containerPaths({ data: '/d', run: '/r' }, name),
        (err: unknown) => err instanceof IglooError && err.code === 'EINVAL',
        name,
      );
  });

  test('the console socket of a 64-byte name under /home/anna fits sockaddr_un (108 bytes)', () => {
    const dirs = iglooDirsFor({ HOME: '/home/anna' }, 1000);
    const path = containerPaths(dirs, 'x'.repeat(64)).consoleSocket;
    assert.equal(path.length, 105);
  });

  test('prepared plans: RUN/NAME/prepared-exec[-tty], DATA/prepared/run/{plan,lock,rootfs}', () => {
    assert.equal(preparedExecPath('/r/web', false), '/r/web/prepared-exec');
    assert.equal(preparedExecPath('/r/web', true), '/r/web/prepared-exec-tty');
    assert.deepEqual(preparedRunPaths({ data: '/d', run: '/r' }), {
      dir: '/d/prepared/run',
      plan: '/d/prepared/run/plan',
      lock: '/d/prepared/run/lock',
      rootfs: '/d/prepared/run/rootfs',
    });
  });

  test('images: DATA/images', () => {
    assert.equal(imagesDir('/var/lib/igloo'), '/var/lib/igloo/images');
  });
});

describe('containersWalk()', () => {
  // [data, home, top, rel]
  const cases: Array<[string, string, string, string]> = [
    // Below the home: walk from the home, every component after it link-free.
    ['/home/anna/.local/share/igloo', '/home/anna', '/home/anna', '.local/share/igloo/containers'],
    ['/home/anna/igloo', '/home/anna', '/home/anna', 'igloo/containers'],
    // Outside the home (root, IGLOO_DATA_DIR): from DATA itself.
    ['/var/lib/igloo', '/root', '/var/lib/igloo', 'containers'],
    ['/srv/igloo', '/home/anna', '/srv/igloo', 'containers'],
    // A sibling whose name starts like the home is not below it.
    ['/home/annabel/igloo', '/home/anna', '/home/annabel/igloo', 'containers'],
    ['/home/anna', '/home/anna', '/home/anna', 'containers'],
  ];
  for (const [data, home, top, rel] of cases)
    test(`${data} with home ${home}: ${top} then ${rel}`, () => {
      assert.deepEqual(containersWalk(data, home), { top, rel });
    });

  test('no home, "/" or a relative one: from DATA', () => {
    for (const home of [undefined, '/', '', 'home'])
      assert.deepEqual(containersWalk('/.local/share/igloo', home), {
        top: '/.local/share/igloo',
        rel: 'containers',
      });
    assert.deepEqual(containersWalk('/x/igloo', ''), { top: '/x/igloo', rel: 'containers' });
  });

  test('every default data directory is reached the way ps -a and audit walk it', () => {
    const anna = { uid: 1000, home: '/home/anna' };
    const { top, rel } = containersWalk(defaultDirsOf(anna).data, anna.home);
    assert.equal(`${top}/${rel}`, containersDir(defaultDirsOf(anna).data));
    const root = { uid: 0, home: '/root' };
    const w = containersWalk(defaultDirsOf(root).data, root.home);
    assert.equal(`${w.top}/${w.rel}`, '/var/lib/igloo/containers');
  });
});

describe('subidPathsFor()', () => {
  test('/etc/subuid and /etc/subgid unless IGLOO_SUBUID and IGLOO_SUBGID say otherwise', () => {
    assert.deepEqual(subidPathsFor({}), { uid: '/etc/subuid', gid: '/etc/subgid' });
    assert.deepEqual(subidPathsFor({ IGLOO_SUBUID: '/t/u', IGLOO_SUBGID: '/t/g' }), {
      uid: '/t/u',
      gid: '/t/g',
    });
    assert.deepEqual(subidPathsFor({ IGLOO_SUBGID: '/t/g' }), {
      uid: '/etc/subuid',
      gid: '/t/g',
    });
  });
});
