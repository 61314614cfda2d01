// fsync of a path: a file's bytes, or a folder's entries (a file renamed or linked into it, a
// folder made in it). What is acknowledged as stored has been through one of these first.
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';

export async function syncPath(path: string) {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** `syncPath` for start-up steps that cannot await; never on a request's path. */
export function syncPathSync(path: string) {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
