import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A small real filesystem that a test can fill up and empty again. */
export interface SmallDisk {
  dir: string;
  /** Fills what is free (leaving `leaveBytes`) with a filler file. */
  fill(leaveBytes?: number): Promise<void>;
  /** Deletes the filler: the space comes back. */
  free(): Promise<void>;
  unmount(): Promise<void>;
}

/**
 * Mounts a tmpfs of `bytes` (the tests run as root, here and in CI). A machine where that is
 * impossible fails the test with the reason: a disk-full test that cannot fill a disk proves nothing.
 *
 * @example
 * const disk = await mountSmallDisk(256 * 1024);
 * await disk.fill();        // ENOSPC from here on
 * await disk.free();
 */
export async function mountSmallDisk(bytes: number): Promise<SmallDisk> {
  const dir = await mkdtemp(join(tmpdir(), 'cloudtether-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    await rmdir(dir).catch(() => undefined);
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`cannot mount a tmpfs at ${dir} (the disk-full tests need root and mount): ${stderr || String(error)}`);
  }
  const filler = join(dir, 'filler');
  return {
    dir,
    async fill(leaveBytes = 0) {
      // Write in pages until the filesystem refuses: tmpfs counts whole pages.
      const page = Buffer.alloc(4096, 0x41);
      const chunks: Buffer[] = [];
      const free = freeBytes(dir) - leaveBytes;
      for (let left = free; left >= page.length; left -= page.length) chunks.push(page);
      await writeFile(filler, Buffer.concat(chunks), { flag: 'a' }).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOSPC') throw error;
      });
    },
    async free() {
      await unlink(filler).catch(() => undefined);
    },
    async unmount() {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Bytes free for an unprivileged writer, from `df`. */
export function freeBytes(dir: string): number {
  const out = execFileSync('df', ['-B1', '--output=avail', dir], { encoding: 'utf8' });
  return Number(out.trim().split('\n').at(-1));
}
