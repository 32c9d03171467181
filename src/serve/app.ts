/**
 * The REST API of `igloo serve`: fastify routes over the same `Igloo`
 * facade the CLI uses (src/lifecycle/igloo.ts), each with a JSON schema
 * that fastify validates requests against and @fastify/swagger turns into
 * the OpenAPI document (GET /openapi.json). Errors are IglooError fields
 * (http-errors.ts) with the status of their code.
 *
 *   GET    /containers                    list (state, pid, map, usage), from cache.ts
 *   POST   /containers                    create {name, image?, idmap?, nesting?}
 *   GET    /containers/:name              info (config, state, rootfs)
 *   DELETE /containers/:name[?force=1]    destroy
 *   POST   /containers/:name/start|stop|kill
 *   POST   /containers/:name/exec         {argv, user?, env?, cwd?, stdin?} -> exit code and output
 *   GET    /containers/:name/exec?cmd=..  websocket: interactive exec (terminal.ts)
 *   GET    /containers/:name/console      websocket: init's console
 *   GET    /containers/:name/logs         ?tail=N&follow=true: the kept console output (logs.ts)
 *   POST   /containers/:name/checkpoint|restore   root: CRIU, the container's own checkpoint
 *   GET    /images, POST /images?name=N (a tar body), DELETE /images/:name
 *   GET    /ps, /tree                     the inspector's snapshot (root: every user's)
 *   GET    /audit                         findings with why and fix
 *   GET    /events                        server-sent events (events.ts)
 *   GET    /, /assets/...                 the page (web/)
 */
import fastifySwagger from '@fastify/swagger';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IglooError, isIglooError } from '../core/errors.ts';
import { runAudit } from '../host/audit.ts';
import { BUILTIN_IMAGE } from '../host/images.ts';
import { subidPaths } from '../host/subid.ts';
import { currentUser } from '../host/users.ts';
import { inspect } from '../inspect/index.ts';
import type { Igloo } from '../lifecycle/igloo.ts';
import { ensurePrivateDir } from '../lifecycle/paths.ts';
import type { ContainerCache, ListedWithUsage } from './cache.ts';
import type { ContainerEvents, ContainerEvent } from './events.ts';
import { judge, type GuardConfig } from './guard.ts';
import { errorSchema, statusOf } from './http-errors.ts';
import { registerLogs } from './logs.ts';
import { registerPage } from './page.ts';
import { execCaptured, registerTerminals } from './terminal.ts';

export interface AppOptions {
  readonly igloo: Igloo;
  /** TCP: the token and listen address; absent on the unix socket. */
  readonly guard?: GuardConfig;
  /** Shared between the transports of one server (one watcher). */
  readonly events: ContainerEvents;
  /** The list's cache, kept by the events' watchers (cache.ts); shared like events. */
  readonly cache: ContainerCache;
}

type Named = FastifyRequest<{ Params: { name: string } }>;

const NAME_PARAM = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 256 } },
} as const;

const STATE = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string', enum: ['created', 'running', 'stopped'] },
    pid: { type: 'integer' },
    pidStart: { type: 'integer' },
    monitorPid: { type: 'integer' },
    startedAt: { type: 'string' },
    lastExit: { type: 'string' },
    stoppedAt: { type: 'string' },
  },
} as const;

const ANY_OBJECT = { type: 'object', additionalProperties: true } as const;

/** A running container's usage from its cgroup (as igloo stats --json has it). */
const USAGE = {
  type: 'object',
  description: "From the container's cgroup; only a running container with a cgroup has it",
  additionalProperties: true,
  properties: {
    memory: {
      type: 'object',
      additionalProperties: true,
      properties: {
        current: { type: 'integer' },
        limit: { type: 'integer' },
        peak: { type: 'integer' },
        oomKills: { type: 'integer' },
      },
    },
    cpu: {
      type: 'object',
      additionalProperties: true,
      properties: { usageNs: { type: 'integer' } },
    },
    pids: {
      type: 'object',
      additionalProperties: true,
      properties: { current: { type: 'integer' }, limit: { type: 'integer' } },
    },
  },
} as const;
const ERRORS = {
  400: { $ref: 'IglooError#' },
  401: { $ref: 'IglooError#' },
  403: { $ref: 'IglooError#' },
  404: { $ref: 'IglooError#' },
  409: { $ref: 'IglooError#' },
  500: { $ref: 'IglooError#' },
} as const;

/** The answers of a route: 200 with an object of PROPERTIES, and the errors. */
const answers = (properties: Record<string, { type: string }>) =>
  ({ 200: { type: 'object', properties }, ...ERRORS }) as const;

const websocketPath = (summary: string, query: Array<{ name: string; description: string }>) => ({
  get: {
    summary,
    description:
      'A websocket (Upgrade: websocket). Frames from the client are input; a text frame {"type":"signal","signal":"SIGINT"} sends a signal. The server sends output as binary frames, then {"type":"exit","exitCode":N}, or {"type":"error",...IglooError} when refused.',
    parameters: [
      { name: 'name', in: 'path', required: true, schema: { type: 'string' } },
      ...query.map((q) => ({ ...q, in: 'query', schema: { type: 'string' } })),
    ],
    responses: {
      101: { description: 'Switching to the websocket protocol' },
      400: { description: 'A bad container name (an IglooError, before the upgrade)' },
      404: { description: 'No such container, or not a websocket request' },
      409: { description: 'The container is not running' },
    },
  },
});

const WEBSOCKET_PATHS = {
  '/containers/{name}/exec': websocketPath(
    'Websocket: an interactive command with a pty inside the container (default /bin/sh)',
    [
      { name: 'cmd', description: 'the command and its arguments, one cmd parameter each' },
      { name: 'user', description: 'the user inside' },
    ],
  ),
  '/containers/{name}/console': websocketPath("Websocket: init's console", []),
};

/**
 * GET /containers: each container with its whole state (as GET
 * /containers/NAME has it) and usage, as JSON text. The cache gives the
 * same object for a container that did not change: its JSON is kept with
 * it (by identity), so a list of 1000 unchanged containers joins 1000
 * kept strings.
 */
const listedJson = new WeakMap<ListedWithUsage, string>();
async function listContainers(igloo: Igloo, cache: ContainerCache): Promise<string> {
  const { name: owner } = await igloo.owner();
  const parts = (await cache.list()).map((c) => {
    let json = listedJson.get(c);
    if (json === undefined) {
      const { name, state, config, error, usage, cpuPercent } = c;
      const { version: _, ...shown } = state;
      json = JSON.stringify({
        name,
        owner,
        state: shown,
        idmap: config?.idmap ?? null,
        ...(usage !== undefined && { usage }),
        ...(cpuPercent !== undefined && { cpuPercent }),
        ...(error !== undefined && { error }),
      });
      listedJson.set(c, json);
    }
    return json;
  });
  return `[${parts.join(',')}]`;
}

function errorBody(err: unknown): { status: number; body: Record<string, unknown> } {
  if (isIglooError(err)) return { status: statusOf(err.code), body: err.toJSON() };
  const e = err as { validation?: unknown; statusCode?: number; message?: string; code?: string };
  if (e.validation !== undefined)
    return {
      status: 400,
      body: {
        code: 'EINVAL',
        message: `Bad request: ${e.message ?? 'invalid'}`,
        op: 'request',
        hint: 'See GET /openapi.json for what each route takes',
      },
    };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500)
    return {
      status: e.statusCode,
      body: { code: 'EINVAL', message: e.message ?? 'Bad request', op: 'request' },
    };
  return {
    status: 500,
    body: { code: 'ESYS', message: e.message ?? String(err), op: 'serve' },
  };
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const { igloo, events, cache } = opts;
  const root = (process.geteuid?.() ?? 0) === 0;
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    // close() ends every connection, event streams included: the server stops when told.
    forceCloseConnections: true,
    // An unknown field is refused (400), never silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
  });
  app.addSchema({ $id: 'IglooError', ...errorSchema });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'igloo serve',
        version: '1',
        description:
          "A user's igloo containers over REST (root: root's, and the host read-only). Errors are IglooError fields.",
      },
      components: {
        securitySchemes: { token: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ token: [] }],
    },
    refResolver: { buildLocalReference: (json) => String(json.$id) },
    // @fastify/websocket hides its routes from the document: they are described here.
    transformObject: (doc) => {
      const openapi = (doc as { openapiObject: { paths?: Record<string, unknown> } }).openapiObject;
      const paths: Record<string, object> = { ...(openapi.paths as Record<string, object>) };
      for (const [path, item] of Object.entries(WEBSOCKET_PATHS))
        paths[path] = { ...paths[path], ...item };
      return { ...openapi, paths } as never;
    },
  });
  await app.register(fastifyWebsocket, { options: { maxPayload: 1024 * 1024 } });

  // The guard runs before routing and parsing: a refused request changes nothing.
  app.addHook('onRequest', async (req, reply) => {
    const url = new URL(req.url, 'http://x');
    const verdict = judge(opts.guard ?? {}, {
      host: req.headers.host,
      origin: req.headers.origin,
      authorization: req.headers.authorization,
      queryToken: url.searchParams.get('token') ?? undefined,
      asset:
        req.method === 'GET' &&
        (url.pathname === '/' ||
          url.pathname === '/favicon.ico' ||
          url.pathname.startsWith('/assets/')),
    });
    if (!verdict.ok) {
      await reply.code(verdict.status).send({
        code: 'EPERM',
        message: verdict.message,
        op: 'serve',
        hint: verdict.hint,
      });
    }
  });

  app.setErrorHandler(async (err, _req, reply) => {
    const { status, body } = errorBody(err);
    await reply.code(status).send(body);
  });
  app.setNotFoundHandler(async (req, reply) => {
    await reply.code(404).send({
      code: 'ENOENT',
      message: `No route ${req.method} ${req.url.split('?')[0]}`,
      op: 'request',
      hint: 'See GET /openapi.json',
    });
  });
  // A tar archive arrives as a stream (POST /images): the route writes it to a private file.
  app.addContentTypeParser(
    ['application/x-tar', 'application/octet-stream'],
    (_req, payload, done) => done(null, payload),
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get(
    '/containers',
    {
      schema: {
        summary: 'List your containers',
        response: {
          200: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'state', 'owner'],
              properties: {
                name: { type: 'string' },
                owner: { type: 'string' },
                state: STATE,
                idmap: { ...ANY_OBJECT, nullable: true },
                usage: USAGE,
                cpuPercent: {
                  type: 'number',
                  description:
                    'CPU use since the previous list that sampled this container, % of one CPU',
                },
                error: { type: 'string' },
              },
            },
          },
          ...ERRORS,
        },
      },
    },
    async (_req, reply) =>
      // Already JSON (kept per container): fastify sends a string as it is.
      reply.type('application/json; charset=utf-8').send(await listContainers(igloo, cache)),
  );

  app.post<{
    Body: { name: string; image?: string; idmap?: string; nesting?: boolean; hostname?: string };
  }>(
    '/containers',
    {
      schema: {
        summary: 'Create a container',
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 256 },
            image: { type: 'string' },
            idmap: { type: 'string' },
            hostname: { type: 'string' },
            nesting: { type: 'boolean' },
          },
        },
        response: { 201: ANY_OBJECT, ...ERRORS },
      },
    },
    async (req, reply) => {
      const { name, ...rest } = req.body;
      const config = await igloo.create(name, rest);
      events.poke(name);
      return reply.code(201).send({ name, config });
    },
  );

  app.get(
    '/containers/:name',
    {
      schema: {
        summary: "A container's config and state",
        params: NAME_PARAM,
        response: {
          200: {
            type: 'object',
            properties: { name: { type: 'string' }, state: STATE, config: ANY_OBJECT, rootfs: {} },
          },
          ...ERRORS,
        },
      },
    },
    async (req: Named) => {
      const { name } = req.params;
      const config = await igloo.config(name);
      return {
        name,
        config,
        state: await igloo.state(name),
        rootfs: (await igloo.rootfsInfo(name)) ?? null,
      };
    },
  );

  app.delete<{ Params: { name: string }; Querystring: { force?: boolean } }>(
    '/containers/:name',
    {
      schema: {
        summary: 'Destroy a container (force: stop it first)',
        params: NAME_PARAM,
        querystring: { type: 'object', properties: { force: { type: 'boolean' } } },
        response: { 200: ANY_OBJECT, ...ERRORS },
      },
    },
    async (req) => {
      await igloo.destroy(req.params.name, { force: req.query.force === true });
      events.poke(req.params.name);
      return { name: req.params.name, destroyed: true };
    },
  );

  app.post(
    '/containers/:name/start',
    {
      schema: {
        summary: 'Start init in the background',
        params: NAME_PARAM,
        response: { 200: STATE, ...ERRORS },
      },
    },
    async (req: Named) => {
      const state = await igloo.start(req.params.name);
      events.poke(req.params.name);
      return state;
    },
  );

  app.post<{ Params: { name: string }; Body: { timeout?: number } | undefined }>(
    '/containers/:name/stop',
    {
      schema: {
        summary: 'Halt init (its halt signal, then SIGKILL after timeout seconds)',
        params: NAME_PARAM,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { timeout: { type: 'integer', minimum: 0, maximum: 3600 } },
        },
        response: { 200: STATE, ...ERRORS },
      },
    },
    async (req) => {
      const state = await igloo.stop(req.params.name, req.body?.timeout ?? 10);
      events.poke(req.params.name, 'stopped');
      return state;
    },
  );

  app.post<{ Params: { name: string }; Body: { signal?: string } | undefined }>(
    '/containers/:name/kill',
    {
      schema: {
        summary: 'Send init a signal (SIGTERM by default)',
        params: NAME_PARAM,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { signal: { type: 'string', pattern: '^SIG[A-Z0-9+-]{1,12}$' } },
        },
        response: { 200: ANY_OBJECT, ...ERRORS },
      },
    },
    async (req) => {
      const signal = req.body?.signal ?? 'SIGTERM';
      await igloo.kill(req.params.name, signal);
      return { name: req.params.name, signal };
    },
  );

  app.post<{
    Params: { name: string };
    Body: { argv: string[]; user?: string; env?: string[]; cwd?: string; stdin?: string };
  }>(
    '/containers/:name/exec',
    {
      schema: {
        summary: 'Run a command in the container, without a terminal; its output comes back',
        params: NAME_PARAM,
        body: {
          type: 'object',
          required: ['argv'],
          additionalProperties: false,
          properties: {
            argv: { type: 'array', minItems: 1, items: { type: 'string' } },
            user: { type: 'string' },
            env: { type: 'array', items: { type: 'string', pattern: '^[^=]+=' } },
            cwd: { type: 'string' },
            stdin: { type: 'string' },
          },
        },
        response: answers({
          exitCode: { type: 'integer' },
          stdout: { type: 'string' },
          stderr: { type: 'string' },
          truncated: { type: 'boolean' },
        }),
      },
    },
    async (req) => {
      const { name } = req.params;
      const state = await igloo.state(name);
      if (state.status !== 'running')
        throw new IglooError('ESTATE', `Cannot exec in "${name}": it is ${state.status}`, {
          op: 'exec',
          subject: name,
          hint: `Start it first (POST /containers/${name}/start)`,
        });
      return execCaptured(name, req.body);
    },
  );

  app.get(
    '/images',
    {
      schema: {
        summary: 'Images: busybox (built in) and imported ones',
        response: { 200: { type: 'array', items: ANY_OBJECT }, ...ERRORS },
      },
    },
    async () => [
      { name: BUILTIN_IMAGE, builtin: true },
      ...(await igloo.images().list()).map((i) => ({ ...i, builtin: false })),
    ],
  );

  app.post<{ Querystring: { name?: string }; Body: Readable }>(
    '/images',
    {
      bodyLimit: 8 * 1024 * 1024 * 1024,
      schema: {
        summary: 'Import an image: the body is an oci-archive or docker-archive tarball',
        querystring: {
          type: 'object',
          properties: { name: { type: 'string', minLength: 1, maxLength: 128 } },
        },
        response: { 201: ANY_OBJECT, ...ERRORS },
      },
    },
    async (req, reply) => {
      if (typeof (req.body as { pipe?: unknown } | undefined)?.pipe !== 'function')
        throw new IglooError('EINVAL', 'POST /images takes a tar archive as its body', {
          op: 'image import',
          hint: 'Send it with Content-Type: application/x-tar',
        });
      await ensurePrivateDir(igloo.dirs.run);
      const dir = await mkdtemp(join(igloo.dirs.run, '.upload-'));
      let image;
      try {
        const file = join(dir, 'image.tar');
        await pipeline(req.body, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
        image = await igloo
          .images()
          .import(file, req.query.name !== undefined ? { name: req.query.name } : {});
      } finally {
        // Removed before the answer: a client that sees it sees the upload gone.
        await rm(dir, { recursive: true, force: true });
      }
      return reply.code(201).send(image);
    },
  );

  app.delete(
    '/images/:name',
    {
      schema: {
        summary: 'Remove an image',
        params: NAME_PARAM,
        response: { 200: ANY_OBJECT, ...ERRORS },
      },
    },
    async (req: Named) => {
      await igloo.removeImage(req.params.name);
      return { name: req.params.name, removed: true };
    },
  );

  // Root sees the whole host, read-only; a user sees what /proc shows them.
  app.get(
    '/ps',
    {
      schema: {
        summary: 'Every process, with pid and uid inside and outside',
        response: { 200: { type: 'array', items: ANY_OBJECT }, ...ERRORS },
      },
    },
    async () => (await inspect({ all: root })).processes,
  );
  app.get(
    '/tree',
    {
      schema: {
        summary: 'The tree of user namespaces with maps, pid namespaces and processes',
        response: { 200: ANY_OBJECT, ...ERRORS },
      },
    },
    async () => inspect({ all: root }),
  );

  app.get(
    '/audit',
    {
      schema: {
        summary: 'Isolation findings, each with why and fix',
        response: { 200: ANY_OBJECT, ...ERRORS },
      },
    },
    async () => {
      const owner = await currentUser();
      const findings = await runAudit({ data: igloo.dirs.data, subid: subidPaths(), owner });
      return {
        ok: !findings.some((f) => f.severity === 'error'),
        owner: owner.name,
        findings,
      };
    },
  );

  app.get(
    '/events',
    {
      schema: {
        summary:
          'Server-sent events: created, started, exited (with status), stopped, destroyed; each data line is one JSON event',
        response: { 200: { type: 'string' } },
      },
    },
    (req, reply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write(': igloo events\n\n');
      const send = (event: ContainerEvent) => {
        res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      };
      events.on('event', send);
      req.raw.on('close', () => events.off('event', send));
    },
  );

  app.post<{ Params: { name: string }; Body: { leaveRunning?: boolean } | undefined }>(
    '/containers/:name/checkpoint',
    {
      schema: {
        summary:
          'Root: dump the running container with CRIU into its checkpoint directory (it stops, unless leaveRunning)',
        params: NAME_PARAM,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { leaveRunning: { type: 'boolean' } },
        },
        response: answers({
          name: { type: 'string' },
          dir: { type: 'string' },
          seconds: { type: 'number' },
          bytes: { type: 'integer' },
        }),
      },
    },
    async (req) => {
      const { name } = req.params;
      const { checkpoint } = await import('../lifecycle/checkpoint.ts');
      // Always the container's own checkpoint directory: no path comes from a request.
      const r = await checkpoint(igloo, name, { leaveRunning: req.body?.leaveRunning === true });
      events.poke(name);
      return { name, ...r };
    },
  );

  app.post(
    '/containers/:name/restore',
    {
      schema: {
        summary: 'Root: restore the container from its checkpoint (CRIU); init runs again',
        params: NAME_PARAM,
        response: answers({
          name: { type: 'string' },
          pid: { type: 'integer' },
          seconds: { type: 'number' },
        }),
      },
    },
    async (req: Named) => {
      const { name } = req.params;
      const { restore } = await import('../lifecycle/checkpoint.ts');
      const r = await restore(igloo, name);
      events.poke(name);
      return { name, ...r };
    },
  );

  registerLogs(app, igloo, ERRORS);
  registerTerminals(app, igloo);
  registerPage(app);
  return app;
}

export type { FastifyReply };
