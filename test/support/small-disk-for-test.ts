import { onTestFinished } from 'vitest';
import { mountSmallDisk, type SmallDisk } from './tmpfs.ts';

/**
 * {@link mountSmallDisk} for one test: freed and unmounted (lazily, so files still open do not
 * hold it) when the test ends, pass or fail.
 */
export async function smallDiskForTest(bytes: number): Promise<SmallDisk> {
  const disk = await mountSmallDisk(bytes);
  onTestFinished(async () => {
    await disk.free();
    await disk.unmount();
  });
  return disk;
}
