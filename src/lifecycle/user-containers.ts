/**
 * One user's containers on disk: where they live (DATA/containers/NAME),
 * their names and configs, and who owns them. The lifecycle's files
 * (slices, create, run, control) work on this; lifecycle/igloo.ts is the
 * facade over them.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerConfig } from '../core/config/model.ts';
import { errnoOf, sysError } from '../host/errno.ts';
import { currentUser } from '../host/users.ts';
import { containerPaths, iglooDirs, type ContainerPaths, type IglooDirs } from './paths.ts';
import { readConfig } from './store.ts';

export interface Owner {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

export class UserContainers {
  readonly dirs: IglooDirs;
  private ownerCache: Owner | undefined;

  constructor(dirs: IglooDirs = iglooDirs()) {
    this.dirs = dirs;
  }

  async owner(): Promise<Owner> {
    this.ownerCache ??= await currentUser();
    return this.ownerCache;
  }

  paths(name: string): ContainerPaths {
    return containerPaths(this.dirs, name);
  }

  /** DATA/containers: one directory per container; its lock guards names and slices. */
  get containersDir(): string {
    return join(this.dirs.data, 'containers');
  }

  /** Names of this user's containers. */
  async names(): Promise<string[]> {
    try {
      return (await readdir(this.containersDir, { withFileTypes: true }))
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort();
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return [];
      throw sysError(err, 'list', this.containersDir);
    }
  }

  async config(name: string): Promise<ContainerConfig> {
    return readConfig(this.paths(name), name);
  }
}
