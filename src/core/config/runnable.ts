/**
 * RunnableConfig: a ContainerConfig made ready to plan. Its hardening is
 * filled in (igloo's defaults where the config names none) and the seccomp
 * profile it names is loaded: the planners (core/plan) take only this type,
 * so a start, run or exec cannot forget to load an OCI profile. The one
 * place that makes it from a container's files is host/seccomp.ts
 * (loadSeccompProfile), through lifecycle/store.ts (loadRunnable).
 */
import {
  DEFAULT_CAPS,
  DEFAULT_SECCOMP,
  type CapConfig,
  type ContainerConfig,
  type SeccompConfig,
} from './model.ts';

export interface LoadedSeccomp extends SeccompConfig {
  /**
   * The parsed JSON of the OCI profile `profile` names, read just before
   * the plan is made; undefined for igloo's own (default, unconfined).
   * Never written to the config file.
   */
  readonly oci: unknown;
}

export interface RunnableConfig extends ContainerConfig {
  readonly seccomp: LoadedSeccomp;
  readonly caps: CapConfig;
  readonly noNewPrivs: boolean;
}

/** CONFIG with its defaults filled in and OCI, the JSON of its OCI profile if it names one. */
export function runnableConfig(config: ContainerConfig, oci?: unknown): RunnableConfig {
  return {
    ...config,
    seccomp: { ...(config.seccomp ?? DEFAULT_SECCOMP), oci },
    caps: config.caps ?? DEFAULT_CAPS,
    noNewPrivs: config.noNewPrivs ?? true,
  };
}
