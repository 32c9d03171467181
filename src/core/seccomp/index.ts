/**
 * A container's seccomp filter, from its config: the profile it names
 * (igloo's default, none, or an OCI profile), its extra denies, assembled
 * into the BPF program the helper installs.
 */
import { boundingSet } from '../caps.ts';
import type { RunnableConfig } from '../config/runnable.ts';
import { IglooError } from '../errors.ts';
import { assemble, type SockFilter } from './assemble.ts';
import { parseOciProfile } from './oci-profile.ts';
import { defaultProfile, extendProfile, terminalDenies, type SeccompProfile } from './profile.ts';

export * from './assemble.ts';
export * from './oci-profile.ts';
export * from './profile.ts';
export * from './tables.ts';

/**
 * The profile a container runs with, or undefined for no filter at all.
 * igloo's default depends on `nesting` (user namespaces and the new mount
 * API stay for the runtime inside); an OCI profile gets the terminal rules
 * (TIOCSTI, TIOCLINUX) in front; `unconfined` gets only the config's denies.
 */
export function containerProfile(config: RunnableConfig): SeccompProfile | undefined {
  const s = config.seccomp;
  if (s.profile === 'unconfined') {
    if (s.deny.length === 0) return undefined;
    return extendProfile(
      { defaultAction: { kind: 'allow' }, arches: ['x86_64', 'i386'], rules: [] },
      s.deny,
    );
  }
  if (s.profile === 'default')
    return extendProfile(defaultProfile({ nesting: config.nesting === true }), s.deny);
  // The type asks for the profile's JSON; a caller without types may still forget it.
  if (s.oci === undefined)
    throw new IglooError(
      'EINVAL',
      `Cannot make the seccomp filter of "${config.name}": the profile ${s.profile} was not loaded`,
      { op: 'plan seccomp', path: s.profile, subject: config.name },
    );
  const caps = boundingSet(config.caps);
  const oci = parseOciProfile(s.oci, { path: s.profile, caps });
  return extendProfile({ ...oci, rules: [...terminalDenies(), ...oci.rules] }, s.deny);
}

export function containerFilter(config: RunnableConfig): SockFilter[] | undefined {
  const profile = containerProfile(config);
  return profile && assemble(profile);
}
