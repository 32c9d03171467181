/** Resource limits: values, their cgroup files, usage parsing (pure). */
export * from './values.ts';
export * from './cgroup.ts';
export * from './usage.ts';
