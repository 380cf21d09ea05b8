import { constants, type Stats } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InvalidInputError } from '../core/errors.js';

/**
 * Path checks every command runs before any work, so a directory that is a file, read-only or under a file is one
 * line naming the flag (exit 3) instead of a Node stack found after a long run. They only look: nothing is created.
 */

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    // ENOTDIR: a component of the path is a file; the walk up finds which.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new InvalidInputError(`cannot inspect ${path}: ${(error as Error).message}`);
  }
}

async function isWritable(dir: string): Promise<boolean> {
  // access() also answers EROFS for a read-only mount, which the mode bits do not show.
  return access(dir, constants.W_OK | constants.X_OK).then(
    () => true,
    () => false,
  );
}

/**
 * Checks that `path` is, or can be created as, a directory this process can write.
 * @param flag the option that named it, e.g. `--state-dir`, for the message
 * @returns the absolute path
 * @throws InvalidInputError naming the flag: a file, under a file, or in a read-only place
 */
export async function writableDir(flag: string, path: string): Promise<string> {
  if (path === '') throw new InvalidInputError(`${flag} is empty; name a directory`);
  const absolute = resolve(path);
  let existing = absolute;
  let found = await statOrUndefined(existing);
  while (found === undefined && dirname(existing) !== existing) {
    existing = dirname(existing);
    found = await statOrUndefined(existing);
  }
  if (found === undefined) throw new InvalidInputError(`${flag} ${path}: no part of the path exists`);
  if (!found.isDirectory()) {
    throw new InvalidInputError(
      existing === absolute
        ? `${flag} ${path} is a file, not a directory`
        : `${flag} ${path} is under ${existing}, which is a file, not a directory`,
    );
  }
  if (!(await isWritable(existing))) {
    throw new InvalidInputError(
      existing === absolute
        ? `${flag} ${path} is not writable (read-only)`
        : `${flag} ${path} cannot be created: ${existing} is not writable (read-only)`,
    );
  }
  return absolute;
}

/**
 * Checks that the file `path` can be written: its directory exists and is writable, and it is not itself a directory.
 * The directory is not created, so a typo in it is caught instead of growing a new tree.
 * @throws InvalidInputError naming the flag
 */
export async function writableFileParent(flag: string, path: string): Promise<string> {
  if (path === '') throw new InvalidInputError(`${flag} is empty; name a file`);
  const absolute = resolve(path);
  const file = await statOrUndefined(absolute);
  if (file?.isDirectory()) throw new InvalidInputError(`${flag} ${path} is a directory; name a file`);
  const parent = dirname(absolute);
  const dir = await statOrUndefined(parent);
  if (dir === undefined) throw new InvalidInputError(`${flag} ${path}: directory ${parent} does not exist`);
  if (!dir.isDirectory()) throw new InvalidInputError(`${flag} ${path}: ${parent} is a file, not a directory`);
  const writable = file
    ? await access(absolute, constants.W_OK).then(
        () => true,
        () => false,
      )
    : await isWritable(parent);
  if (!writable) throw new InvalidInputError(`${flag} ${path} is not writable (read-only)`);
  return absolute;
}
