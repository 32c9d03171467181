/**
 * Id slices: each container gets a slice of its owner's delegated ids that
 * no other container of theirs shares (the blocks of different users are
 * disjoint by delegation). The one-shot run slot reserves a slice of its
 * own (lifecycle/prepared-plans.ts) and gives it up when a container needs it.
 */
import { IglooError } from '../core/errors.ts';
import {
  checkMapDelegated,
  chooseSlice,
  intersectRanges,
  outsideRanges,
  parseIdmapSpec,
  sliceMap,
  type IdMaps,
  type IdRange,
} from '../core/idmap/index.ts';
import { readDelegation } from '../host/subid.ts';
import type { CreateOptions } from './new-config.ts';
import { preparedRunPaths } from '../core/layout.ts';
import { dropPreparedRun, preparedRunReservation } from './prepared-plans.ts';
import { readConfig } from './store.ts';
import type { UserContainers } from './user-containers.ts';

/** A nesting container's slice: its own 65536 ids and seven whole slices to delegate onward. */
export const NESTING_SLICE = 8 * 65536;

/** The same slice for uids and gids. */
export function sliceIdmap(slice: IdRange): IdMaps {
  const map = sliceMap(slice);
  return { uid: map, gid: map };
}

/** The host ids this user's containers use (a broken container's are unknown and skipped). */
export async function containerRanges(user: UserContainers): Promise<IdRange[]> {
  const taken: IdRange[] = [];
  for (const name of await user.names()) {
    try {
      const config = await readConfig(user.paths(name), name);
      taken.push(...outsideRanges(config.idmap.uid), ...outsideRanges(config.idmap.gid));
    } catch {
      // A broken container still holds its directory; its ids are unknown and skipped.
    }
  }
  return taken;
}

/**
 * The host id ranges used by this user's containers (to keep slices
 * isolated), and by the one-shot slot unless `withoutSlot`.
 */
async function takenRanges(user: UserContainers, withoutSlot = false): Promise<IdRange[]> {
  const taken: IdRange[] = [];
  const slot = withoutSlot ? undefined : preparedRunReservation(user.dirs);
  if (slot) taken.push(...outsideRanges(slot.uid), ...outsideRanges(slot.gid));
  taken.push(...(await containerRanges(user)));
  return taken;
}

/**
 * The map for a new container. The one-shot slot gives its slice up when
 * a container needs it: an explicit map that overlaps it, or an auto map
 * with no other slice free.
 */
export async function chooseIdmap(
  user: UserContainers,
  opts: CreateOptions,
  forSlot = false,
): Promise<IdMaps> {
  const owner = await user.owner();
  const delegation = await readDelegation(owner);
  if (opts.idmap && opts.idmap !== 'auto') {
    const maps = parseIdmapSpec(opts.idmap, { path: '--idmap' });
    checkMapDelegated(maps.uid, 'uid', delegation.uid, { owner: owner.name });
    checkMapDelegated(maps.gid, 'gid', delegation.gid, { owner: owner.name });
    const slot = preparedRunReservation(user.dirs);
    const ranges = (m: IdMaps) => [...outsideRanges(m.uid), ...outsideRanges(m.gid)];
    if (slot && intersectRanges(ranges(maps), ranges(slot)).length > 0) await giveUpSlot(user);
    return maps;
  }
  // One slice, the same for uids and gids, that no other container of this
  // user shares (the blocks of different users are disjoint by delegation).
  const both = intersectRanges(delegation.uid, delegation.gid);
  if (both.length === 0) {
    throw new IglooError(
      'ENOTDELEGATED',
      `Cannot create a container for "${owner.name}": no subordinate ids are delegated to them`,
      {
        op: 'create',
        subject: owner.name,
        hint: `Ask the administrator to run: igloo subid grant ${owner.name}   (then igloo check)`,
      },
    );
  }
  // A nesting container gets room for its own 65536 ids and seven whole
  // slices to delegate onward.
  const size = opts.sliceSize ?? (opts.nesting ? NESTING_SLICE : undefined);
  const choose = async (withoutSlot: boolean) =>
    chooseSlice(both, await takenRanges(user, withoutSlot), {
      ...(size !== undefined && { size }),
      ...(opts.sliceStride !== undefined && { stride: opts.sliceStride }),
      ...(opts.sliceStart !== undefined && { start: opts.sliceStart }),
      // The one-shot slot takes its slice from the top of the block: the
      // user's first container keeps the block's start.
      ...(forSlot && { fromEnd: true }),
    });
  let slice;
  try {
    slice = await choose(forSlot);
  } catch (err) {
    if (forSlot || preparedRunReservation(user.dirs) === undefined) throw err;
    await giveUpSlot(user);
    slice = await choose(false);
  }
  return sliceIdmap(slice);
}

/** Frees the one-shot slot's slice for a container (refused while a run uses it). */
async function giveUpSlot(user: UserContainers): Promise<void> {
  if (!(await dropPreparedRun(user.dirs)))
    throw new IglooError(
      'EBUSY',
      'Cannot take the ids of the one-shot run slot: a run is using them right now',
      {
        op: 'create',
        path: preparedRunPaths(user.dirs).plan,
        hint: 'Try again when the `igloo run` has ended, or choose another --idmap',
      },
    );
}
