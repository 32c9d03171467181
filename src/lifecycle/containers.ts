/** The old home of Igloo (src/cli imports it from here); see lifecycle/igloo.ts. */
export { Igloo, type CreateOptions, type Owner } from './igloo.ts';
