/** The limit flags of create, run and set (command-table.ts limitOptions) as texts by limit. */
import type { LimitTexts } from '../../lifecycle/limits.ts';

export function limitTexts(o: {
  memory?: string;
  'memory-swap'?: string;
  pids?: string;
  cpus?: string;
  'cpu-weight'?: string;
  cpuset?: string;
  'io-weight'?: string;
}): LimitTexts {
  const all: LimitTexts = {
    memory: o.memory,
    memorySwap: o['memory-swap'],
    pids: o.pids,
    cpus: o.cpus,
    cpuWeight: o['cpu-weight'],
    cpuset: o.cpuset,
    ioWeight: o['io-weight'],
  };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
}
