/**
 * What skopeo says when a registry refuses, turned into igloo's words: the
 * reason (skopeo's `msg="…"`, or its last line) and what to do about it.
 */

export interface RegistryFailure {
  readonly code: 'ENOENT' | 'EPERM' | 'EHOST' | 'EINVAL';
  readonly reason: string;
  readonly hint: string;
}

/** skopeo's fatal message: the msg="…" of its logrus line, else its last line. */
export function skopeoMessage(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  for (const line of [...lines].reverse()) {
    const m = /\bmsg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (m) return m[1]!.replace(/\\(.)/g, '$1');
  }
  return lines[lines.length - 1]?.trim() ?? 'skopeo failed without a message';
}

/** Why a pull or push of REF failed, and what to do. */
export function registryFailure(stderr: string, ref: string, op: 'pull' | 'push'): RegistryFailure {
  const reason = skopeoMessage(stderr);
  const has = (re: RegExp) => re.test(reason);
  if (has(/manifest unknown|name unknown|repository name not known|not found/i))
    return {
      code: 'ENOENT',
      reason,
      hint: `The registry has no image ${ref}: check the repository and the tag (skopeo list-tags docker://REPOSITORY lists its tags)`,
    };
  if (has(/auth\.json|getting username and password/i))
    return {
      code: 'EHOST',
      reason,
      hint: 'skopeo could not read your registry logins: check that file (REGISTRY_AUTH_FILE names another one)',
    };
  if (has(/unauthorized|authentication required|denied|forbidden/i))
    return {
      code: 'EPERM',
      reason,
      hint: `The registry refused you: log in first (skopeo login HOST), or check that you may ${op} ${ref}`,
    };
  if (has(/server gave HTTP response to HTTPS client/))
    return {
      code: 'EHOST',
      reason,
      hint: 'The registry speaks plain HTTP: add --tls-verify=false, only for a registry you trust (e.g. one on the loopback)',
    };
  if (has(/x509|certificate|tls:/i))
    return {
      code: 'EHOST',
      reason,
      hint: "The registry's TLS certificate was not accepted: install its CA, or add --tls-verify=false only for a registry you trust",
    };
  if (has(/connection refused|no such host|dial tcp|i\/o timeout|network is unreachable/i))
    return {
      code: 'EHOST',
      reason,
      hint: 'The registry cannot be reached: check the host and port, and that it runs',
    };
  if (has(/invalid reference|invalid argument|parsing reference/i))
    return {
      code: 'EINVAL',
      reason,
      hint: 'Write the reference as HOST[:PORT]/REPOSITORY[:TAG]',
    };
  return { code: 'EHOST', reason, hint: `skopeo could not ${op} ${ref}; its message is above` };
}
