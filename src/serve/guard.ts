/**
 * Who may talk to `igloo serve`, decided from the request alone (pure: no
 * I/O, unit tests beside it).
 *
 * - Over TCP every request carries the token printed when the server
 *   started (`Authorization: Bearer TOKEN`, or `?token=TOKEN` where a
 *   browser cannot set a header: EventSource, WebSocket); without it: 401.
 * - Over TCP the Host header must name a loopback address or the address
 *   the server listens on: a page of evil.example whose name an attacker
 *   re-points to 127.0.0.1 (DNS rebinding) sends `Host: evil.example`.
 * - On either transport an Origin header, when a browser sends one, must
 *   be the server's own (`http://HOST`): a foreign page's fetch, form post
 *   or WebSocket (CSRF, cross-site WebSocket hijacking) is refused.
 *   Programs (curl, the API) send no Origin.
 *
 * Over the unix socket the file's mode (0600, or SO_PEERCRED for root's
 * users' socket) decides who connects, so no token is asked there.
 */
import { timingSafeEqual } from 'node:crypto';

export interface GuardConfig {
  /** The TCP token; undefined on the unix socket. */
  readonly token?: string;
  /** host:port the TCP server listens on (what Host may name besides loopback names). */
  readonly listen?: string;
}

export interface RequestFacts {
  readonly host?: string | undefined;
  readonly origin?: string | undefined;
  readonly authorization?: string | undefined;
  /** The `token` query parameter. */
  readonly queryToken?: string | undefined;
  /** The page and its scripts: no data in them, so no token asked (Host and Origin still are). */
  readonly asset?: boolean;
}

export type Verdict =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly status: 401 | 403;
      readonly message: string;
      readonly hint: string;
    };

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The host part of a Host header ("127.0.0.1:8080" -> "127.0.0.1", "[::1]:80" -> "[::1]"). */
export function hostName(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.lastIndexOf(':');
  return (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
}

/** Whether a Host header names this server: loopback names, 127.0.0.0/8, or its listen address. */
export function hostAllowed(host: string, listen: string | undefined): boolean {
  const lower = host.toLowerCase();
  if (listen !== undefined && lower === listen.toLowerCase()) return true;
  const name = hostName(lower);
  return LOOPBACK_NAMES.has(name) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** Whether an Origin header is the server's own origin for this Host. */
export function originAllowed(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  return origin.toLowerCase() === `http://${host.toLowerCase()}`;
}

function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The verdict on one request. */
export function judge(config: GuardConfig, req: RequestFacts): Verdict {
  const tcp = config.token !== undefined;
  if (tcp && (req.host === undefined || !hostAllowed(req.host, config.listen)))
    return {
      ok: false,
      status: 403,
      message: `Refused: Host "${req.host ?? ''}" is not this server`,
      hint: 'Connect through 127.0.0.1 or localhost (a foreign name pointing here is refused)',
    };
  if (req.origin !== undefined && req.origin !== 'null' && !originAllowed(req.origin, req.host))
    return {
      ok: false,
      status: 403,
      message: `Refused: Origin "${req.origin}" is not this server`,
      hint: 'Only the page igloo serve itself serves may call it from a browser',
    };
  if (req.origin === 'null')
    return {
      ok: false,
      status: 403,
      message: 'Refused: an opaque Origin ("null")',
      hint: 'Only the page igloo serve itself serves may call it from a browser',
    };
  if (tcp && req.asset !== true) {
    const bearer = req.authorization?.match(/^Bearer\s+(\S+)$/i)?.[1];
    const given = bearer ?? req.queryToken;
    if (given === undefined || !sameSecret(given, config.token!))
      return {
        ok: false,
        status: 401,
        message: given === undefined ? 'A token is required' : 'Wrong token',
        hint: 'Send "Authorization: Bearer TOKEN" with the token igloo serve printed when it started',
      };
  }
  return { ok: true };
}
