/**
 * What `igloo check` says about bridge mode: nft for root's bridges and
 * their rules, LXC's setuid lxc-user-nic for users, and which bridges the
 * caller was granted in /etc/lxc/lxc-usernet.
 */
import { stat } from 'node:fs/promises';
import { parseUsernet } from '../../core/net/usernet-file.ts';
import { readTextOrEmpty } from '../files.ts';
import { LXC_USER_NIC, usernetPaths } from './lxc-user-nic.ts';

/** The shape of host/check.ts's CheckResult (not imported: check.ts imports this file). */
interface CheckResult {
  readonly name: string;
  readonly status: 'ok' | 'warn' | 'fail';
  readonly detail: string;
  readonly fix?: string;
}

async function findNft(): Promise<string | undefined> {
  for (const path of ['/usr/sbin/nft', '/sbin/nft', '/usr/local/sbin/nft'])
    if (await stat(path).catch(() => undefined)) return path;
  return undefined;
}

export async function bridgeChecks(user: { name: string; uid: number }): Promise<CheckResult[]> {
  const nft = await findNft();
  const out: CheckResult[] = [
    nft
      ? { name: 'bridges (nft)', status: 'ok', detail: `${nft}: NAT and anti-spoofing rules` }
      : {
          name: 'bridges (nft)',
          status: 'warn',
          detail: 'nft is not installed: igloo net create cannot make bridges',
          fix: 'apt-get install nftables',
        },
  ];
  const nic = await stat(LXC_USER_NIC).catch(() => undefined);
  if (!nic || nic.uid !== 0 || (nic.mode & 0o4000) === 0) {
    out.push({
      name: 'bridges for users',
      status: 'warn',
      detail: `${LXC_USER_NIC} is ${nic ? 'not setuid root' : 'missing'}: users cannot attach containers to bridges`,
      fix: 'apt-get install lxc',
    });
    return out;
  }
  if (user.uid === 0) {
    out.push({ name: 'bridges for users', status: 'ok', detail: `${LXC_USER_NIC} (setuid)` });
    return out;
  }
  const file = usernetPaths().file;
  const mine = parseUsernet(await readTextOrEmpty(file)).entries.filter(
    (e) => e.user === user.name && e.type === 'veth',
  );
  out.push({
    name: 'bridges for users',
    status: 'ok',
    detail: mine.length
      ? `you may attach ${mine.map((e) => `${e.count} to ${e.bridge}`).join(', ')} (${file})`
      : `no bridge granted to you in ${file}: --net bridge is not available`,
    ...(mine.length === 0 && {
      fix: `ask the administrator: sudo igloo net grant ${user.name} --bridge NAME --count N`,
    }),
  });
  return out;
}
