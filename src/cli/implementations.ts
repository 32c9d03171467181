/**
 * Where each command's implementation lives. Each is imported only when
 * its command runs (the bundle makes each file a chunk of its own), so
 * `igloo ps` never loads the lifecycle code and `igloo ls` no image code
 * (test/integration/cli-weight.test.ts).
 */
import * as table from './command-table.ts';
import type { CommandRunner, CommandSpec } from './spec.ts';

type Loader = () => Promise<CommandRunner>;

/** A command's loader, checked against its table: the runner takes what the table parses. */
const of = <S extends CommandSpec>(spec: S, load: () => Promise<CommandRunner<S>>) =>
  [spec.name, load as unknown as Loader] as const;

const IMPLEMENTATIONS: ReadonlyMap<string, Loader> = new Map([
  of(table.check, async () => (await import('./commands/check.ts')).check),
  of(table.oci, async () => (await import('./commands/oci.ts')).ociCommand),
  of(table.create, async () => (await import('./commands/create.ts')).create),
  of(table.start, async () => (await import('./commands/start-stop-kill.ts')).start),
  of(table.stop, async () => (await import('./commands/start-stop-kill.ts')).stop),
  of(table.kill, async () => (await import('./commands/start-stop-kill.ts')).kill),
  of(table.exec, async () => (await import('./commands/exec.ts')).exec),
  of(table.consoleCommand, async () => (await import('./commands/console.ts')).attach),
  of(table.run, async () => (await import('./commands/run.ts')).run),
  of(table.ls, async () => (await import('./commands/ls.ts')).ls),
  of(table.info, async () => (await import('./commands/info.ts')).info),
  of(table.destroy, async () => (await import('./commands/destroy.ts')).destroy),
  of(table.imageLs, async () => (await import('./commands/image.ts')).listImages),
  of(table.imageImport, async () => (await import('./commands/image.ts')).importImage),
  of(table.imageRm, async () => (await import('./commands/image.ts')).removeImage),
  of(table.imageBuild, async () => (await import('./commands/image.ts')).buildImage),
  of(table.imagePull, async () => (await import('./commands/image-registry.ts')).pullImage),
  of(table.imagePush, async () => (await import('./commands/image-registry.ts')).pushImage),
  of(table.snapshotCreate, async () => (await import('./commands/snapshots.ts')).createSnapshot),
  of(table.snapshotLs, async () => (await import('./commands/snapshots.ts')).listSnapshots),
  of(table.snapshotRestore, async () => (await import('./commands/snapshots.ts')).restoreSnapshot),
  of(table.snapshotRm, async () => (await import('./commands/snapshots.ts')).removeSnapshot),
  of(table.copy, async () => (await import('./commands/copy.ts')).copy),
  of(table.ps, async () => (await import('./commands/ps.ts')).ps),
  of(table.tree, async () => (await import('./commands/tree.ts')).tree),
  of(table.audit, async () => (await import('./commands/audit.ts')).audit),
  of(table.checkpoint, async () => (await import('./commands/checkpoint.ts')).checkpoint),
  of(table.restore, async () => (await import('./commands/checkpoint.ts')).restore),
  of(
    table.exportContainer,
    async () => (await import('./commands/export-import.ts')).exportArchive,
  ),
  of(
    table.importContainer,
    async () => (await import('./commands/export-import.ts')).importArchive,
  ),
  of(table.logs, async () => (await import('./commands/logs.ts')).logs),
  of(table.config, async () => (await import('./commands/config.ts')).config),
  of(table.rename, async () => (await import('./commands/rename.ts')).rename),
  of(table.autostart, async () => (await import('./commands/autostart.ts')).autostart),
  of(table.subidLs, async () => (await import('./commands/subid.ts')).listIds),
  of(table.subidGrant, async () => (await import('./commands/subid.ts')).grantIds),
  of(table.subidRevoke, async () => (await import('./commands/subid.ts')).revokeIds),
  of(table.set, async () => (await import('./commands/set.ts')).set),
  of(table.stats, async () => (await import('./commands/stats.ts')).stats),
  of(table.freeze, async () => (await import('./commands/freeze.ts')).freeze),
  of(table.thaw, async () => (await import('./commands/freeze.ts')).thaw),
  of(table.limitSet, async () => (await import('./commands/limit.ts')).limitSet),
  of(table.limitLs, async () => (await import('./commands/limit.ts')).limitLs),
  of(table.limitRm, async () => (await import('./commands/limit.ts')).limitRm),
  of(table.netCreate, async () => (await import('./commands/net.ts')).netCreate),
  of(table.netLs, async () => (await import('./commands/net.ts')).netLs),
  of(table.netRm, async () => (await import('./commands/net.ts')).netRm),
  of(table.netGrant, async () => (await import('./commands/net.ts')).netGrant),
  of(table.netRevoke, async () => (await import('./commands/net.ts')).netRevoke),
  of(table.help, async () => (await import('./commands/help.ts')).help),
  of(table.completion, async () => (await import('./completion.ts')).printCompletion),
  of(table.serve, async () => (await import('./commands/serve.ts')).serve),
]);

/** The names of the commands that have an implementation ("create", "image ls"...). */
export const implementedCommands = (): string[] => [...IMPLEMENTATIONS.keys()];

/** Loads the implementation of a command of the table. */
export function loadImplementation(spec: CommandSpec): Promise<CommandRunner> {
  const load = IMPLEMENTATIONS.get(spec.name);
  if (!load) throw new Error(`igloo: no implementation for "${spec.name}"`);
  return load();
}
