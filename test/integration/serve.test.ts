/**
 * `igloo serve` driven over HTTP as real users: each verb over the user's
 * unix socket, the errors of bad requests (and that they change nothing),
 * the socket's mode against another user, root's users socket (SO_PEERCRED:
 * each user acts on their own containers only), TCP without the token, a
 * foreign Origin and a rebound Host, the event stream, exec over a
 * websocket, and the OpenAPI document (validated, and every route in it).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import WebSocket from 'ws';
import { makeTar, ociArchive } from '../support/oci.ts';
import { onServerEvents, startServe as serveAs } from '../support/serve.ts';
import {
  Cleanup,
  createUser,
  delegate,
  ensureRootDelegation,
  igloo,
  requireRoot,
  rootTestEnv,
  runAs,
  stagedCli,
  tempDir,
  type TestUser,
} from '../support/host.ts';

const cleanup = new Cleanup();
const startServe = (...a: [TestUser | 'root', string[], Record<string, string>?]) =>
  serveAs(cleanup, ...a);
let anna: TestUser;
let elsa: TestUser;
let annaSocket: string;

interface Answer {
  status: number;
  body: unknown;
  text: string;
}

/** One HTTP request over a unix socket (socketPath) or TCP (port). */
function call(
  to: { socketPath: string } | { port: number },
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        ...('socketPath' in to
          ? { socketPath: to.socketPath }
          : { host: '127.0.0.1', port: to.port }),
        method,
        path,
        headers: {
          ...(payload !== undefined && { 'content-type': 'application/json' }),
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let parsed: unknown = undefined;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const A = () => ({ socketPath: annaSocket });
const names = async (to = A()) =>
  ((await call(to, 'GET', '/containers')).body as Array<{ name: string }>).map((c) => c.name);

before(async () => {
  requireRoot();
  stagedCli(cleanup);
  await ensureRootDelegation(cleanup);
  anna = createUser(cleanup, 'igloo-srv-anna');
  elsa = createUser(cleanup, 'igloo-srv-elsa');
  await delegate(anna, 12_000_000, 262144);
  await delegate(elsa, 12_500_000, 262144);
  // Every container either user makes is destroyed, even when a test fails half way.
  for (const u of [anna, elsa])
    cleanup.add(`destroy ${u.name}'s containers`, async () => {
      const ls = await igloo(cleanup, u, ['ls', '--json']);
      for (const c of JSON.parse(ls.stdout || '[]') as Array<{ name: string }>)
        await igloo(cleanup, u, ['destroy', '--force', c.name]);
    });
  const served = await startServe(anna, []);
  annaSocket = served.socket;
});
after(() => cleanup.run());

describe('igloo serve over the unix socket', () => {
  test("the socket is anna's, mode 0600, in her private run directory; elsa cannot connect", async () => {
    const st = statSync(annaSocket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, anna.uid);
    assert.ok(annaSocket.startsWith(anna.home), annaSocket);
    const probe = `require('net').connect(process.argv[1]).on('connect',()=>{console.log('CONNECTED');process.exit(0)}).on('error',e=>{console.log(e.code);process.exit(0)})`;
    const r = await runAs(elsa, [process.execPath, '-e', probe, annaSocket]);
    assert.match(r.stdout, /^(EACCES|ENOENT)\n$/, r.stdout + r.stderr);
  });

  test('each verb: create, list, info, start, exec, kill, stop, destroy', async () => {
    const created = await call(A(), 'POST', '/containers', { name: 'anna-c1' });
    assert.equal(created.status, 201, created.text);
    // the container is anna's: her data directory, her slice
    const dir = join(anna.home, '.local/share/igloo/containers/anna-c1');
    assert.equal(statSync(dir).uid, anna.uid);
    assert.deepEqual(await names(), ['anna-c1']);

    const info = await call(A(), 'GET', '/containers/anna-c1');
    assert.equal(info.status, 200);
    const infoBody = info.body as {
      state: { status: string };
      config: { idmap: { uid: Array<{ outside: number }> } };
    };
    assert.equal(infoBody.state.status, 'created');
    const outside = infoBody.config.idmap.uid[0]!.outside;
    assert.ok(outside >= 12_000_000 && outside < 12_262_144, String(outside));

    const started = await call(A(), 'POST', '/containers/anna-c1/start', {});
    assert.equal(started.status, 200, started.text);
    const pid = (started.body as { pid: number }).pid;
    assert.ok(existsSync(`/proc/${pid}`));

    const exec = await call(A(), 'POST', '/containers/anna-c1/exec', {
      argv: ['/bin/sh', '-c', 'id -u; cat /proc/self/uid_map; echo oops >&2; exit 7'],
    });
    assert.equal(exec.status, 200, exec.text);
    const out = exec.body as { exitCode: number; stdout: string; stderr: string };
    assert.equal(out.exitCode, 7);
    assert.match(out.stdout, new RegExp(`^0\\n\\s+0\\s+${outside}\\s+65536\\n$`));
    assert.equal(out.stderr, 'oops\n');

    const list = (await call(A(), 'GET', '/containers')).body as Array<{
      name: string;
      state: { status: string; pid: number };
    }>;
    assert.deepEqual(
      list.map((c) => [c.name, c.state.status, c.state.pid]),
      [['anna-c1', 'running', pid]],
    );

    const killed = await call(A(), 'POST', '/containers/anna-c1/kill', { signal: 'SIGKILL' });
    assert.equal(killed.status, 200, killed.text);
    await waitFor(
      async () =>
        ((await call(A(), 'GET', '/containers/anna-c1')).body as { state: { status: string } })
          .state.status === 'stopped',
    );
    const after = (await call(A(), 'GET', '/containers/anna-c1')).body as {
      state: { lastExit: string };
    };
    assert.equal(after.state.lastExit, 'signaled SIGKILL');

    assert.equal((await call(A(), 'POST', '/containers/anna-c1/start', {})).status, 200);
    const stopped = await call(A(), 'POST', '/containers/anna-c1/stop', { timeout: 5 });
    assert.equal(stopped.status, 200, stopped.text);
    assert.equal((stopped.body as { status: string }).status, 'stopped');

    const destroyed = await call(A(), 'DELETE', '/containers/anna-c1');
    assert.equal(destroyed.status, 200, destroyed.text);
    assert.ok(!existsSync(dir));
    assert.deepEqual(await names(), []);
  });

  test('images, ps, tree and audit answer as JSON', async () => {
    const images = (await call(A(), 'GET', '/images')).body as Array<{
      name: string;
      builtin: boolean;
    }>;
    assert.deepEqual(images[0], { name: 'busybox', builtin: true });
    const ps = await call(A(), 'GET', '/ps');
    assert.equal(ps.status, 200);
    assert.ok((ps.body as Array<{ pid: number }>).some((r) => r.pid === 1));
    const tree = (await call(A(), 'GET', '/tree')).body as {
      tree: { userns: number };
      processes: unknown[];
    };
    assert.equal(typeof tree.tree.userns, 'number');
    const audit = (await call(A(), 'GET', '/audit')).body as { owner: string; findings: unknown[] };
    assert.equal(audit.owner, anna.name);
    assert.ok(Array.isArray(audit.findings));
  });

  test('bad requests get their status and the IglooError fields, and change nothing', async () => {
    const before = await names();
    const cases: Array<[string, string, unknown, number, string]> = [
      ['POST', '/containers', { name: '../evil' }, 400, 'EINVAL'],
      ['POST', '/containers', { name: 'ok', surprise: 1 }, 400, 'EINVAL'],
      ['POST', '/containers', { name: 'ok', idmap: 'u 0 0 65536 g 0 0 65536' }, 403, ''],
      ['GET', '/containers/nope', undefined, 404, 'ENOENT'],
      ['POST', '/containers/nope/start', {}, 404, 'ENOENT'],
      ['POST', '/containers/nope/exec', { argv: ['true'] }, 404, 'ENOENT'],
      ['DELETE', '/containers/nope', undefined, 404, 'ENOENT'],
      ['POST', '/containers/bad%20name/start', {}, 400, 'EINVAL'],
      ['POST', '/containers/x/kill', { signal: 'rm -rf' }, 400, 'EINVAL'],
      ['GET', '/no-such-route', undefined, 404, 'ENOENT'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await call(A(), method, path, body);
      assert.equal(
        r.status === status || (status === 403 && r.status >= 400),
        true,
        `${method} ${path}: ${r.status} ${r.text}`,
      );
      const err = r.body as { code: string; message: string };
      assert.equal(typeof err.message, 'string', r.text);
      if (code) assert.equal(err.code, code, r.text);
    }
    // malformed JSON
    const raw = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          socketPath: annaSocket,
          method: 'POST',
          path: '/containers',
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end('{"name": ');
    });
    assert.equal(raw, 400);
    assert.deepEqual(await names(), before);
    assert.ok(!existsSync(join(anna.home, '.local/share/igloo/containers/ok')));

    // a verb in the wrong state: 409, state unchanged
    assert.equal((await call(A(), 'POST', '/containers', { name: 'anna-st' })).status, 201);
    const execStopped = await call(A(), 'POST', '/containers/anna-st/exec', { argv: ['true'] });
    assert.equal(execStopped.status, 409, execStopped.text);
    assert.equal((execStopped.body as { code: string }).code, 'ESTATE');
    assert.equal((await call(A(), 'POST', '/containers', { name: 'anna-st' })).status, 409);
    assert.equal((await call(A(), 'DELETE', '/containers/anna-st')).status, 200);
  });

  test('events: created, started, exited with its status, destroyed, as they happen', async () => {
    const seen: Array<{ type: string; name: string; status?: string }> = [];
    const stream = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ socketPath: annaSocket, path: '/events' }, resolve);
      req.on('error', reject);
      req.end();
    });
    onServerEvents(stream, (e: { type: string; name: string; status?: string }) => seen.push(e));
    try {
      await call(A(), 'POST', '/containers', { name: 'anna-ev' });
      await call(A(), 'POST', '/containers/anna-ev/start', {});
      await waitFor(() => seen.some((e) => e.type === 'started'));
      // killed, not stopped through the server: the monitor's exit file is what tells
      await call(A(), 'POST', '/containers/anna-ev/kill', { signal: 'SIGKILL' });
      await waitFor(() => seen.some((e) => e.type === 'exited'));
      await call(A(), 'DELETE', '/containers/anna-ev');
      await waitFor(() => seen.some((e) => e.type === 'destroyed'));
      const mine = seen.filter((e) => e.name === 'anna-ev');
      assert.deepEqual(
        mine.map((e) => e.type),
        ['created', 'started', 'exited', 'destroyed'],
      );
      assert.equal(mine[2]!.status, 'signaled SIGKILL');
    } finally {
      stream.destroy();
    }
  });

  test('exec over a websocket: a pty inside, input typed, its window resized, output and the exit code back', async () => {
    assert.equal((await call(A(), 'POST', '/containers', { name: 'anna-ws' })).status, 201);
    assert.equal((await call(A(), 'POST', '/containers/anna-ws/start', {})).status, 200);
    const ws = new WebSocket(`ws+unix://${annaSocket}:/containers/anna-ws/exec`);
    let out = '';
    const exit = new Promise<number>((resolve, reject) => {
      ws.on('message', (data, binary) => {
        if (binary) out += data.toString();
        else {
          const msg = JSON.parse(data.toString()) as {
            type: string;
            exitCode?: number;
            message?: string;
          };
          if (msg.type === 'exit') resolve(msg.exitCode!);
          else reject(new Error(msg.message));
        }
      });
      ws.on('error', reject);
    });
    await new Promise((r) => ws.once('open', r));
    // resize: a control frame sets the window of the pty inside (stty reads it there)
    ws.send(JSON.stringify({ type: 'resize', rows: 33, cols: 101 }));
    ws.send(Buffer.from('tty; id -u; stty size\n'));
    await waitFor(() => /^33 101\r?$/m.test(out));
    ws.send(JSON.stringify({ type: 'resize', rows: 40, cols: 120 }));
    // out of range or malformed: taken, never typed in, and the size stays
    ws.send(JSON.stringify({ type: 'resize', rows: 0, cols: 100000 }));
    ws.send(JSON.stringify({ type: 'resize', rows: '1; rm -rf /', cols: 2 }));
    ws.send(Buffer.from('stty size; exit 5\n'));
    assert.equal(await exit, 5);
    assert.match(out, /\/dev\/pts\/\d+/);
    assert.match(out, /^0\r?$/m);
    assert.match(out, /^40 120\r?$/m);
    assert.doesNotMatch(out, /rm -rf|not found/);
    await call(A(), 'DELETE', '/containers/anna-ws?force=true');
  });

  test('the OpenAPI document is valid and lists every route', async () => {
    const doc = (await call(A(), 'GET', '/openapi.json')).body as {
      paths: Record<string, unknown>;
    };
    await SwaggerParser.validate(structuredClone(doc) as never);
    for (const path of [
      '/containers',
      '/containers/{name}',
      '/containers/{name}/start',
      '/containers/{name}/stop',
      '/containers/{name}/kill',
      '/containers/{name}/exec',
      '/containers/{name}/console',
      '/containers/{name}/logs',
      '/containers/{name}/checkpoint',
      '/containers/{name}/restore',
      '/images',
      '/images/{name}',
      '/ps',
      '/tree',
      '/audit',
      '/events',
    ])
      assert.ok(path in doc.paths, `${path} is not in the OpenAPI document`);
  });
});

describe('logs, the console, usage, image upload and checkpoint over the unix socket', () => {
  /** Writes TEXT to the container's console (what its monitor keeps as the log). */
  const toConsole = (name: string, text: string) =>
    call(A(), 'POST', `/containers/${name}/exec`, {
      argv: ['/bin/sh', '-c', `printf '${text}' > /dev/console`],
    });

  test('logs: the last lines with tail, follow as a chunked stream until the container stops', async () => {
    assert.equal((await call(A(), 'POST', '/containers', { name: 'anna-lg' })).status, 201);
    // never started: nothing kept (404 with a hint), and nothing is made
    const none = await call(A(), 'GET', '/containers/anna-lg/logs');
    assert.equal(none.status, 404, none.text);
    assert.equal((none.body as { code: string }).code, 'ENOENT');
    assert.match((none.body as { hint: string }).hint, /console/);
    cleanup.add(
      'destroy anna-lg',
      async () => void (await call(A(), 'DELETE', '/containers/anna-lg?force=true')),
    );
    assert.equal((await call(A(), 'POST', '/containers/anna-lg/start', {})).status, 200);
    // init's shell writes its prompt on the console when it is ready: the lines below come after it
    await waitFor(async () =>
      /anna-lg:\/[$#] /.test((await call(A(), 'GET', '/containers/anna-lg/logs')).text),
    );
    assert.equal((await toConsole('anna-lg', 'one\\ntwo\\nthree\\n')).status, 200);
    await waitFor(async () =>
      (await call(A(), 'GET', '/containers/anna-lg/logs')).text.includes('three'),
    );
    const tail = await call(A(), 'GET', '/containers/anna-lg/logs?tail=2');
    assert.equal(tail.status, 200);
    assert.match(tail.text, /^two\r?\nthree\r?\n$/);
    const res = await call(A(), 'GET', '/containers/anna-lg/logs?tail=1');
    assert.match(res.text, /^three\r?\n$/);

    // follow: the last line now, then what comes, and the end when it stops
    let followed = '';
    const ended = new Promise<number>((resolve, reject) => {
      const req = request(
        { socketPath: annaSocket, path: '/containers/anna-lg/logs?tail=1&follow=true' },
        (r) => {
          assert.match(String(r.headers['content-type']), /^text\/plain/);
          r.setEncoding('utf8').on('data', (d: string) => (followed += d));
          r.on('end', () => resolve(r.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end();
    });
    await waitFor(() => followed.includes('three'));
    assert.equal((await toConsole('anna-lg', 'followed-line\\n')).status, 200);
    await waitFor(() => followed.includes('followed-line'));
    assert.equal((await call(A(), 'POST', '/containers/anna-lg/stop', { timeout: 2 })).status, 200);
    assert.equal(await ended, 200);
    assert.match(followed, /^three\r?\nfollowed-line\r?\n/);

    // bad requests: their status, and the log is as it was
    for (const [path, status, code] of [
      ['/containers/anna-lg/logs?tail=-1', 400, 'EINVAL'],
      ['/containers/anna-lg/logs?tail=x', 400, 'EINVAL'],
      ['/containers/anna-lg/logs?follow=maybe', 400, 'EINVAL'],
      ['/containers/nope/logs', 404, 'ENOENT'],
      ['/containers/nope/logs?follow=true', 404, 'ENOENT'],
      ['/containers/bad%20name/logs', 400, 'EINVAL'],
      ['/containers/..%2Fx/logs', 400, 'EINVAL'],
    ] as const) {
      const r = await call(A(), 'GET', path);
      assert.equal(r.status, status, `${path}: ${r.text}`);
      assert.equal((r.body as { code: string }).code, code, r.text);
    }
    assert.match((await call(A(), 'GET', '/containers/anna-lg/logs')).text, /followed-line/);
    assert.equal((await call(A(), 'DELETE', '/containers/anna-lg')).status, 200);
  });

  test("the console websocket: init's shell answers; a stopped or unknown container is refused before the upgrade", async () => {
    assert.equal((await call(A(), 'POST', '/containers', { name: 'anna-con' })).status, 201);
    const refusedWith = (name: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws+unix://${annaSocket}:/containers/${name}/console`);
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('error', () => undefined);
      });
    assert.equal(await refusedWith('anna-con'), 409); // created, not running
    assert.equal(await refusedWith('nope'), 404);
    assert.equal(await refusedWith('bad%20name'), 400);

    const started = await call(A(), 'POST', '/containers/anna-con/start', {});
    assert.equal(started.status, 200, started.text);
    const ws = new WebSocket(`ws+unix://${annaSocket}:/containers/anna-con/console`);
    let out = '';
    ws.on('message', (data, binary) => {
      if (binary) out += data.toString();
    });
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    ws.send(Buffer.from('echo hi-$((40+2))\n'));
    await waitFor(() => out.includes('hi-42'));
    const closed = new Promise((r) => ws.once('close', r));
    ws.close();
    await closed;
    // detaching leaves init running, with the same pid
    const after = (await call(A(), 'GET', '/containers/anna-con')).body as {
      state: { status: string; pid: number };
    };
    assert.equal(after.state.status, 'running');
    assert.equal(after.state.pid, (started.body as { pid: number }).pid);
    assert.equal((await call(A(), 'DELETE', '/containers/anna-con?force=true')).status, 200);
  });

  test('usage figures in the list: memory, CPU and pids of a running container with a cgroup', async () => {
    // root delegates cgroups to anna: her containers get one each
    const set = await igloo(cleanup, 'root', ['limit', 'set', anna.name, '--pids', '500']);
    assert.equal(set.status, 0, set.stderr);
    cleanup.add(`remove ${anna.name}'s delegation`, async () => {
      for (const name of await names().catch(() => [] as string[]))
        await call(A(), 'DELETE', `/containers/${name}?force=true`);
      const r = await igloo(cleanup, 'root', ['limit', 'rm', anna.name]);
      if (r.status !== 0) throw new Error(r.stderr);
    });
    assert.equal((await call(A(), 'POST', '/containers', { name: 'anna-use' })).status, 201);
    assert.equal((await call(A(), 'POST', '/containers', { name: 'anna-idle' })).status, 201);
    assert.equal((await call(A(), 'POST', '/containers/anna-use/start', {})).status, 200);
    type Listed = {
      name: string;
      usage?: {
        memory?: { current: number };
        pids?: { current: number };
        cpu?: { usageNs: number };
      };
      cpuPercent?: number;
    };
    const list = async () => (await call(A(), 'GET', '/containers')).body as Listed[];
    const first = (await list()).find((c) => c.name === 'anna-use')!;
    assert.ok(first.usage, JSON.stringify(first));
    assert.ok(first.usage.memory!.current > 0, JSON.stringify(first.usage));
    assert.ok(first.usage.pids!.current >= 1, JSON.stringify(first.usage));
    assert.equal(typeof first.usage.cpu!.usageNs, 'number');
    // the figures are the cgroup's: a busy loop run by exec (in the container's cgroup) adds CPU time
    const busy = await call(A(), 'POST', '/containers/anna-use/exec', {
      argv: ['/bin/sh', '-c', 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo $i'],
    });
    assert.equal((busy.body as { stdout: string }).stdout, '100000\n', busy.text);
    const later = (await list()).find((c) => c.name === 'anna-use')!;
    assert.ok(
      later.usage!.cpu!.usageNs > first.usage.cpu!.usageNs,
      `${JSON.stringify(first.usage)} -> ${JSON.stringify(later.usage)}`,
    );
    // a second list has a CPU % over the time since the first
    const again = (await list()).find((c) => c.name === 'anna-use')!;
    assert.equal(typeof again.cpuPercent, 'number', JSON.stringify(again));
    assert.ok(again.cpuPercent! >= 0);
    // a container that does not run has no usage
    assert.equal((await list()).find((c) => c.name === 'anna-idle')!.usage, undefined);
    for (const name of ['anna-use', 'anna-idle'])
      assert.equal((await call(A(), 'DELETE', `/containers/${name}?force=true`)).status, 200);
  });

  test('image upload: a tar body becomes an image; a broken one is refused and leaves nothing', async () => {
    const before = ((await call(A(), 'GET', '/images')).body as Array<{ name: string }>).map(
      (i) => i.name,
    );
    const layer = makeTar([
      { path: 'bin/', type: 'dir' },
      { path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
      { path: 'uploaded', data: 'from the upload\n' },
    ]);
    const tarball = ociArchive({ layers: [layer], config: { Cmd: ['/bin/sh'] } });
    const upload = (body: Buffer, query: string) =>
      new Promise<Answer>((resolve, reject) => {
        const req = request(
          {
            socketPath: annaSocket,
            method: 'POST',
            path: `/images${query}`,
            headers: { 'content-type': 'application/x-tar' },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (d: string) => (text += d));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown, text }),
            );
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const runDir = dirname(annaSocket);
    const uploads = () => readdirSync(runDir).filter((f) => f.startsWith('.upload-'));

    // broken: not a tar archive, a truncated one, a bad name: refused, nothing kept
    for (const [body, query] of [
      [Buffer.from('not a tar archive at all'), '?name=broken'],
      [tarball.subarray(0, 1024), '?name=broken'],
      [tarball, '?name=..%2Fevil'],
    ] as const) {
      const r = await upload(body, query);
      assert.ok(r.status >= 400 && r.status < 500, `${query}: ${r.status} ${r.text}`);
      assert.equal(typeof (r.body as { message: string }).message, 'string');
      const left = uploads();
      assert.deepEqual(
        left,
        [],
        `${query} (${body.length} bytes) left ${left.map((d) => `${d}: ${readdirSync(join(runDir, d)).join(' ')}`).join('; ')}; answer ${r.text}`,
      );
    }
    assert.deepEqual(
      ((await call(A(), 'GET', '/images')).body as Array<{ name: string }>).map((i) => i.name),
      before,
    );
    assert.deepEqual(uploads(), []);
    // a JSON body is not an image
    const json = await call(A(), 'POST', '/images?name=x', { not: 'a tar' });
    assert.equal(json.status, 400, json.text);

    const made = await upload(tarball, '?name=uploaded');
    assert.equal(made.status, 201, made.text);
    assert.deepEqual(uploads(), []);
    assert.ok(
      ((await call(A(), 'GET', '/images')).body as Array<{ name: string }>).some(
        (i) => i.name === 'uploaded',
      ),
    );
    const c = await call(A(), 'POST', '/containers', { name: 'anna-up', image: 'uploaded' });
    assert.equal(c.status, 201, c.text);
    const rootfs = (
      (await call(A(), 'GET', '/containers/anna-up')).body as {
        config: { rootfs: string };
      }
    ).config.rootfs;
    assert.equal(readFileSync(join(rootfs, 'uploaded'), 'utf8'), 'from the upload\n');
    assert.equal((await call(A(), 'DELETE', '/containers/anna-up')).status, 200);
    assert.equal((await call(A(), 'DELETE', '/images/uploaded')).status, 200);
    assert.equal((await call(A(), 'DELETE', '/images/uploaded')).status, 404);
  });

  test("checkpoint and restore are root's: a user gets 403 and the container runs on", async () => {
    assert.equal((await call(A(), 'POST', '/containers', { name: 'anna-cp' })).status, 201);
    const started = await call(A(), 'POST', '/containers/anna-cp/start', {});
    const pid = (started.body as { pid: number }).pid;
    for (const [path, body, status] of [
      ['/containers/anna-cp/checkpoint', {}, 403],
      ['/containers/anna-cp/checkpoint', { leaveRunning: true }, 403],
      ['/containers/anna-cp/restore', {}, 403],
      ['/containers/anna-cp/checkpoint', { dir: '/tmp/x' }, 400],
      ['/containers/bad%20name/checkpoint', {}, 400],
    ] as const) {
      const r = await call(A(), 'POST', path, body);
      assert.equal(r.status, status, `${path} ${JSON.stringify(body)}: ${r.text}`);
      assert.ok((r.body as { hint?: string; message: string }).message, r.text);
    }
    const now = (await call(A(), 'GET', '/containers/anna-cp')).body as {
      state: { status: string; pid: number };
    };
    assert.deepEqual([now.state.status, now.state.pid], ['running', pid]);
    assert.ok(!existsSync(join(anna.home, '.local/share/igloo/containers/anna-cp/checkpoint')));
    assert.equal((await call(A(), 'DELETE', '/containers/anna-cp?force=true')).status, 200);
  });
});

describe('igloo serve over TCP', () => {
  test('no token: 401; foreign Origin or rebound Host: 403; nothing changes; with the token it works', async () => {
    const tcp = await startServe(anna, [
      '--socket',
      join(anna.home, 'tcp.sock'),
      '--listen',
      '127.0.0.1:0',
    ]);
    const to = { port: tcp.port! };
    const auth = { authorization: `Bearer ${tcp.token}` };
    const before = await names();
    const refused: Array<[Record<string, string>, number]> = [
      [{}, 401],
      [{ authorization: 'Bearer wrong' }, 401],
      [{ ...auth, origin: 'http://evil.example' }, 403],
      [{ ...auth, origin: 'null' }, 403],
      [{ ...auth, host: `evil.example:${tcp.port}` }, 403],
    ];
    for (const [headers, status] of refused) {
      const r = await call(to, 'POST', '/containers', { name: 'anna-csrf' }, headers);
      assert.equal(r.status, status, `${JSON.stringify(headers)}: ${r.text}`);
      assert.ok((r.body as { hint?: string }).hint, r.text);
      for (const path of ['/containers', '/containers/anna-csrf/logs?follow=true']) {
        const g = await call(to, 'GET', path, undefined, headers);
        assert.equal(g.status, status, `${path}: ${g.text}`);
      }
    }
    assert.deepEqual(await names(), before);
    assert.ok(!existsSync(join(anna.home, '.local/share/igloo/containers/anna-csrf')));
    // cross-site WebSocket hijacking: a foreign page's socket to the terminal, even with the token
    for (const [origin, token, status] of [
      ['http://evil.example', tcp.token!, 403],
      [`http://127.0.0.1:${tcp.port}`, 'wrong', 401],
    ] as const) {
      const refusedWs = await new Promise<number>((resolve) => {
        const ws = new WebSocket(
          `ws://127.0.0.1:${tcp.port}/containers/anna-csrf/exec?token=${token}`,
          { origin },
        );
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('error', () => undefined);
      });
      assert.equal(refusedWs, status, `websocket from ${origin}`);
    }
    // the page is served without the token (it holds no data), the data is not
    assert.equal((await call(to, 'GET', '/')).status, 200);
    // the same origin, with the token, may
    const ok = await call(to, 'GET', '/containers', undefined, {
      ...auth,
      origin: `http://127.0.0.1:${tcp.port}`,
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal((await call(to, 'GET', `/containers?token=${tcp.token}`)).status, 200);
  });
});

describe("root's users socket (SO_PEERCRED)", () => {
  test('each user sees and acts on their own containers only; root keeps its own', async () => {
    const dir = tempDir(cleanup, 'igloo-srv-root-', 0o700);
    const env = rootTestEnv(dir, 8_000_000);
    const shared = tempDir(cleanup, 'igloo-srv-users-', 0o755);
    const usersSocket = join(shared, 'users.sock');
    await startServe(
      'root',
      ['--socket', join(dir, 'root.sock'), '--users-socket', usersSocket],
      env,
    );
    assert.equal(statSync(usersSocket).mode & 0o777, 0o666);

    // A client run as USER: prints "STATUS BODY"
    const client = `const [sock, method, path, body] = process.argv.slice(1);
const req = require('http').request({ socketPath: sock, method, path, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
  let t = ''; res.on('data', (d) => (t += d)); res.on('end', () => { console.log(res.statusCode + ' ' + t); });
});
req.on('error', (e) => console.log('ERR ' + e.code)); req.end(body || undefined);`;
    const as = async (user: TestUser, method: string, path: string, body?: unknown) => {
      const r = await runAs(user, [
        process.execPath,
        '-e',
        client,
        usersSocket,
        method,
        path,
        ...(body === undefined ? [] : [JSON.stringify(body)]),
      ]);
      const m = /^(\d+) ([\s\S]*)\n$/.exec(r.stdout);
      assert.ok(m, r.stdout + r.stderr);
      return { status: Number(m[1]), body: JSON.parse(m[2]!) as unknown };
    };

    const made = await as(elsa, 'POST', '/containers', { name: 'elsa-c1' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    // made as elsa, in elsa's directory, from elsa's block
    const elsaDir = join(elsa.home, '.local/share/igloo/containers/elsa-c1');
    assert.equal(statSync(elsaDir).uid, elsa.uid);
    assert.equal((await as(anna, 'POST', '/containers', { name: 'anna-u1' })).status, 201);

    const annaSees = (await as(anna, 'GET', '/containers')).body as Array<{
      name: string;
      owner: string;
    }>;
    assert.deepEqual(
      annaSees.map((c) => [c.name, c.owner]),
      [['anna-u1', anna.name]],
    );
    // elsa's container does not exist for anna: 404, and it stays as it was
    for (const [method, path] of [
      ['POST', '/containers/elsa-c1/start'],
      ['GET', '/containers/elsa-c1'],
      ['GET', '/containers/elsa-c1/logs'],
      ['GET', '/containers/elsa-c1/logs?follow=true'],
      ['DELETE', '/containers/elsa-c1'],
    ] as const) {
      const r = await as(anna, method, path, method === 'POST' ? {} : undefined);
      assert.equal(r.status, 404, `${method} ${path}: ${JSON.stringify(r.body)}`);
    }
    assert.ok(existsSync(elsaDir));
    const elsaState = (await as(elsa, 'GET', '/containers/elsa-c1')).body as {
      state: { status: string };
    };
    assert.equal(elsaState.state.status, 'created');

    // root, on the same socket, is root: its own (empty) list, not the users'
    const rootSees = await call({ socketPath: usersSocket }, 'GET', '/containers');
    assert.equal(rootSees.status, 200);
    assert.deepEqual(rootSees.body, []);
  });
});

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 25));
  }
}
