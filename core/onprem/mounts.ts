import { readdir, readFile, realpath } from 'node:fs/promises';
import { basename } from 'node:path';

/**
 * Best-effort check that nothing on this host has a target disk mounted, so the agent does not write under a live
 * file system. Linux only (reads /proc/self/mounts and /sys); elsewhere, or when those cannot be read, it finds
 * nothing. It sees this host's mounts only: a disk shared with another host (SAN, VM) is the operator's to guard.
 */

/** Where `path` (a block device or an image file) or a partition of it is mounted, or undefined. */
export async function mountOf(path: string, mountsFile = '/proc/self/mounts'): Promise<string | undefined> {
  const resolved = await realpath(path).catch(() => path);
  const table = await readFile(mountsFile, 'utf8').catch(() => '');
  const devices = new Set([resolved, ...(await loopDevicesBacking(resolved))]);
  for (const line of table.split('\n')) {
    const [source, mountPoint] = line.split(' ');
    // Devices (and images mounted by path); tmpfs, proc, nfs host:/path and the like are not disks here.
    if (!source?.startsWith('/') || mountPoint === undefined) continue;
    const device = await realpath(source).catch(() => source);
    for (const disk of devices) {
      if (device === disk || isPartitionOf(device, disk)) return unescapeMountPoint(mountPoint);
    }
  }
  return undefined;
}

/** `/dev/sdb1` of `/dev/sdb`, `/dev/nvme0n1p2` of `/dev/nvme0n1`, `/dev/loop3p1` of `/dev/loop3`. */
function isPartitionOf(device: string, disk: string): boolean {
  if (!device.startsWith(disk)) return false;
  return /^p?\d+$/.test(device.slice(disk.length));
}

/** The loop devices whose backing file is `file` (an image attached with losetup and perhaps mounted). */
async function loopDevicesBacking(file: string): Promise<string[]> {
  const entries = await readdir('/sys/block').catch(() => [] as string[]);
  const found: string[] = [];
  for (const entry of entries.filter((name) => name.startsWith('loop'))) {
    const backing = await readFile(`/sys/block/${entry}/loop/backing_file`, 'utf8').catch(() => undefined);
    if (backing?.trim() === file) found.push(`/dev/${basename(entry)}`);
  }
  return found;
}

/** /proc/self/mounts escapes space, tab, newline and backslash as octal. */
function unescapeMountPoint(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}
