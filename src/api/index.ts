/**
 * igloo's library API. Everything a program needs is exported here and
 * nothing else is public:
 *
 *   import { Igloo } from 'igloo';
 *   const igloo = new Igloo();
 *   await igloo.create('web', { image: 'busybox' });
 *   await igloo.start('web');
 *   const { exitCode } = await igloo.exec('web', ['/bin/true']);
 */
import { keepSpareHelper } from '../native/spawn.ts';

export { Igloo, type CreateOptions, type Owner } from '../lifecycle/igloo.ts';
/**
 * A program using the API lives on between calls: after its first start,
 * run or exec it keeps a helper zygote that forks the next calls' helpers,
 * so Node's fork of itself (5-20 ms) is not on their path.
 * keepSpareHelper(false) turns that off.
 */
export { keepSpareHelper };
keepSpareHelper(true);
export type { StateFile, ContainerStatus } from '../lifecycle/store.ts';
export { iglooDirs, type IglooDirs } from '../lifecycle/paths.ts';
export { IglooError, isIglooError, type ErrorCode } from '../core/errors.ts';
export type { ContainerConfig } from '../core/config/model.ts';
export { parseConfig, formatConfig } from '../core/config/file.ts';
export * as idmap from '../core/idmap/index.ts';
export {
  grant,
  revoke,
  readSubidReport,
  subidPaths,
  type Grant,
  type Revocation,
} from '../host/subid.ts';
export { runChecks, type CheckResult } from '../host/check.ts';
export { inspect, type InspectOptions } from '../inspect/index.ts';
export type { Snapshot, PsRow, TreeNode } from '../core/snapshot/model.ts';
// criu
export { checkpoint, restore } from '../lifecycle/checkpoint.ts';
export { exportContainer, importContainer } from '../lifecycle/transfer.ts';
export { findCriu, criuCheckResult } from '../host/criu.ts';
// The types the API's methods take and return, so a program can name them.
export type {
  BindMount,
  CapConfig,
  NamespaceKind,
  Rlimit,
  SeccompConfig,
} from '../core/config/model.ts';
export type { RefusedKey } from '../core/config/import.ts';
export type { ErrorDetails } from '../core/errors.ts';
export type { ContainerPaths, LayoutEnv, SubidPaths } from '../core/layout.ts';
export type { MemoryRootfs } from '../core/plan/plan.ts';
export type {
  BrokenContainer,
  ContainerKind,
  CreatorBasis,
  IdView,
  MapLine,
  SliceLabel,
} from '../core/snapshot/model.ts';
export type { ParentBasis } from '../core/snapshot/parents.ts';
export type { CheckStatus } from '../host/check.ts';
export type { CriuInfo } from '../host/criu.ts';
export type { ImageRunConfig } from '../core/image/oci.ts';
export type { ImageStore, StoredImage, StoredLayer } from '../host/images.ts';
export type { SubidFileReport } from '../host/subid.ts';
export type { ListedContainer } from '../lifecycle/control.ts';
export type { RootfsInfo } from '../lifecycle/idmapped.ts';
export type { EphemeralOptions, RunResult } from '../lifecycle/run.ts';
export type { ImportResult } from '../lifecycle/transfer.ts';
// networking (docs/network.md)
export {
  parseNetSpec,
  formatNetSpec,
  parsePortForward,
  formatPortForward,
  type NetSpec,
  type PortForward,
} from '../core/net/spec.ts';
export type { AutostartResult } from '../lifecycle/autostart.ts';
export type { PullOptions, RegistryOptions } from '../lifecycle/pull.ts';
export type { ContainerSnapshot } from '../lifecycle/snapshots.ts';
export type { ImageRef } from '../core/image/ref.ts';
// limits (docs/limits.md)
export type { Ceiling, Limits } from '../core/limits/values.ts';
export type { Usage } from '../core/limits/usage.ts';
export type { ContainerStats, Delegation, LimitTexts } from '../lifecycle/igloo.ts';
export type { PortProtocol } from '../core/net/spec.ts';
