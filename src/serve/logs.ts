/**
 * GET /containers/NAME/logs[?tail=N][&follow=true]: the console output the
 * container's monitor keeps (lifecycle/logs.ts), the last `tail` lines.
 * With follow the answer is a chunked stream: the kept output, then what
 * the monitor adds, until the container stops or the client goes.
 *
 * The bytes are the container's, as it wrote them (control sequences
 * included): served as text/plain with nosniff, never as HTML; the page
 * shows them as text after taking the control sequences out.
 *
 * Every refusal comes before the first byte, with its status: a bad name
 * or tail 400, no such container 404, nothing kept (never started with a
 * console) 404.
 */
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Igloo } from '../lifecycle/igloo.ts';

const TEXT = 'text/plain; charset=utf-8';

export function registerLogs(
  app: FastifyInstance,
  igloo: Igloo,
  errors: Record<number, unknown>,
): void {
  app.get<{ Params: { name: string }; Querystring: { tail?: number; follow?: boolean } }>(
    '/containers/:name/logs',
    {
      schema: {
        summary:
          "The container's console output as its monitor kept it (the last `tail` lines); follow: a chunked stream until it stops",
        params: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string', minLength: 1, maxLength: 256 } },
        },
        querystring: {
          type: 'object',
          properties: {
            tail: { type: 'integer', minimum: 0, maximum: 1_000_000 },
            follow: { type: 'boolean' },
          },
        },
        response: {
          200: {
            description: 'The output, as the container wrote it',
            content: { [TEXT]: { schema: { type: 'string' } } },
          },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const { name } = req.params;
      const tail = req.query.tail;
      const opts = tail === undefined ? {} : { tail };
      reply
        .header('content-type', TEXT)
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-store');
      if (req.query.follow !== true) return reply.send(await igloo.logs(name, opts));

      // Refusals first, while a status can still say so: no container (404),
      // or a stopped one with nothing kept (404). A running one may not have
      // written anything yet: following it waits for its first bytes.
      if ((await igloo.state(name)).status !== 'running') await igloo.logs(name, { tail: 0 });
      const out = new PassThrough();
      const stop = new AbortController();
      reply.raw.on('close', () => stop.abort()); // the client went (or the answer ended)
      igloo
        .followLogs(name, (bytes) => out.write(bytes), { ...opts, signal: stop.signal })
        .catch(() => undefined) // the status is sent: a late failure ends the stream
        .finally(() => out.end());
      return reply.send(out);
    },
  );
}
