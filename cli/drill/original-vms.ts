import { randomBytes } from 'node:crypto';
import { copyFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { BLOCK_SIZE, blockCountFor, bytesOnDisk } from '../../core/blocks.js';
import type { Host } from '../../core/compute/port.js';
import { imageSha256 } from '../../core/image-digest.js';
import type { OnPremSite } from '../../core/localcloud/onprem-site.js';
import { seededRandom } from '../../core/seeded-random.js';
import { VsphereClient } from '../../core/vsphere/client.js';
import { createThinDisk, datastorePath, makeDatastoreDirectory } from '../../core/vsphere/disks.js';
import { findDatacenter } from '../../core/vsphere/inventory.js';
import { powerOn } from '../../core/vsphere/vm.js';
import { VsphereTarget } from '../../core/vsphere/vsphere-target.js';
import type { LocalOnPremFailback } from '../../core/wiring/local-onprem.js';

/**
 * `drill --reuse-original` on vSphere: the original production VMs that survived at home. Each takeover host gets one
 * on the site's vcsim, named as the host, whose disks hold its takeover volumes' bytes as of now (the failover: the
 * workload is paused for the copy) and then `divergencePct` % of their blocks written at home; it is left powered on,
 * as an original VM that came back up on its own (the request says `powerOffSeed: true`). The takeover workload keeps
 * writing in the cloud, so what must cross the wire is the blocks written at home ∪ those written in the cloud since.
 */

/** The datastore folder of the drill's original disks (named after their takeover volume, as the report matches them). */
const ORIGINALS_FOLDER = 'homebound-drill-originals';

export interface OriginalVm {
  readonly hostId: string;
  /** The VM's name: the seed the request gives (`hosts[].failback.seed.vm`). */
  readonly vm: string;
  readonly disks: readonly { readonly volumeId: string; readonly fileName: string; readonly flatPath: string }[];
}

export interface OriginalVms {
  readonly vms: readonly OriginalVm[];
  readonly divergencePct: number;
  /** The takeover workload's write count per host at the copy: later writes differ from the original. */
  readonly writesAtCopy: ReadonlyMap<string, number>;
  /** Blocks written at home after the copy, per volume. */
  readonly writtenAtHome: ReadonlyMap<string, ReadonlySet<number>>;
}

/**
 * Makes the original VM of every takeover host on the site's vcsim (sized as the host, so the report's size check
 * holds for it as for a made VM).
 */
export async function createOriginalVms(
  env: LocalOnPremFailback,
  site: OnPremSite,
  hosts: readonly Host[],
  options: { divergencePct: number; seed: number; vCpus: number; memoryMiB: number },
): Promise<OriginalVms> {
  const { vcsim, datastoreDir, config } = site;
  if (!vcsim || !datastoreDir || config.platform.type !== 'vsphere') {
    throw new TypeError('--reuse-original needs the vsphere platform (the manual platform has no VMs to reuse)');
  }
  const platform = config.platform;
  const client = await VsphereClient.connect(
    { url: vcsim.url },
    { username: vcsim.username, password: vcsim.password },
  );
  try {
    const target = await VsphereTarget.open(client, {
      datacenter: platform.datacenter,
      datastore: platform.datastore,
      datastoreMount: datastoreDir,
      network: platform.network,
      compute: platform.cluster,
    });
    const datacenter = await findDatacenter(client, platform.datacenter);
    await makeDatastoreDirectory(client, datacenter, datastorePath(platform.datastore, ORIGINALS_FOLDER));
    const random = seededRandom(options.seed + 7);
    const vms: OriginalVm[] = [];
    const writesAtCopy = new Map<string, number>();
    const writtenAtHome = new Map<string, Set<number>>();
    for (const host of hosts) {
      const disks = [];
      for (const volume of host.volumes) {
        const fileName = datastorePath(platform.datastore, `${ORIGINALS_FOLDER}/${volume.volumeId}.vmdk`);
        await createThinDisk(client, datacenter, fileName, Math.ceil(volume.sizeBytes / 1024));
        disks.push({
          volumeId: volume.volumeId,
          fileName,
          flatPath: join(datastoreDir, ORIGINALS_FOLDER, `${volume.volumeId}-flat.vmdk`),
          sizeBytes: volume.sizeBytes,
        });
      }
      // The failover instant: no write lands while the volumes are copied, so later writes are the cloud's divergence.
      const workload = env.compute.workloadOf(host.hostId);
      const pause = await workload?.pause();
      try {
        for (const disk of disks) await copyFile(env.volumePath(disk.volumeId), disk.flatPath);
        writesAtCopy.set(host.hostId, pause?.writeCount ?? 0);
      } finally {
        pause?.resume();
      }
      for (const disk of disks) {
        writtenAtHome.set(
          disk.volumeId,
          await divergeAtHome(disk.flatPath, disk.sizeBytes, options.divergencePct, random),
        );
      }
      const name = host.tags.Name ?? host.hostId;
      const vm = await target.ensureVm({
        name,
        numCpus: options.vCpus,
        memoryMiB: options.memoryMiB,
        disks: disks.map((disk) => ({ ...disk, created: true })),
        annotation: `the original production VM of ${name} (drill --reuse-original)`,
      });
      await powerOn(client, vm);
      vms.push({ hostId: host.hostId, vm: name, disks });
    }
    return { vms, divergencePct: options.divergencePct, writesAtCopy, writtenAtHome };
  } finally {
    await client.logout().catch(() => undefined);
  }
}

/** Overwrites `pct` % of the disk's blocks (at least one when pct > 0) with random bytes: the old site's own writes. */
async function divergeAtHome(path: string, sizeBytes: number, pct: number, random: () => number): Promise<Set<number>> {
  const blocks = blockCountFor(sizeBytes);
  const wanted = pct > 0 ? Math.max(1, Math.round((blocks * pct) / 100)) : 0;
  const written = new Set<number>();
  while (written.size < wanted) written.add(Math.floor(random() * blocks));
  const handle = await open(path, 'r+');
  try {
    for (const index of written) {
      await handle.write(randomBytes(bytesOnDisk(index, sizeBytes)), 0, undefined, index * BLOCK_SIZE);
    }
  } finally {
    await handle.close();
  }
  return written;
}

/**
 * The blocks the drill itself made differ between the originals and the takeover volumes at the first pass's
 * snapshot: written at home ∪ written by the takeover workload after the copy and before that snapshot, × 512 KiB.
 */
export function expectedDifferingBytes(
  env: LocalOnPremFailback,
  originals: OriginalVms,
  /** The write count each takeover volume's first-pass snapshot holds (watchFirstPass): later writes are not the
   * seeded pass's. @default every write of the run */
  atFirstPass: ReadonlyMap<string, number> = new Map(),
): number {
  let blocks = 0;
  for (const vm of originals.vms) {
    const writes = env.compute.workloadOf(vm.hostId)?.writes ?? [];
    const from = originals.writesAtCopy.get(vm.hostId) ?? 0;
    for (const disk of vm.disks) {
      const differing = new Set(originals.writtenAtHome.get(disk.volumeId));
      const until = atFirstPass.get(disk.volumeId) ?? writes.length;
      for (const write of writes.slice(from, until))
        if (write.volumeId === disk.volumeId) differing.add(write.blockIndex);
      blocks += differing.size;
    }
  }
  return blocks * BLOCK_SIZE;
}

/** The report's `seeding` (on-prem): what the drill expected to differ, and the preserved pre-failback state. */
export interface OnPremSeeding {
  readonly divergencePct: number;
  readonly expectedDifferingBytes: number;
  /** The copies that keep each seed disk's pre-failback state (`[datastore] homebound-preserved/<runId>/…`). */
  readonly preservedAs: readonly string[];
  /** Per seed disk: whether its preserved copy holds exactly the bytes the disk had before the run. */
  readonly preserved: readonly { disk: string; preservedAs: string; intact: boolean }[];
  readonly warnings?: readonly string[];
}

/**
 * What the report says of the seeds after a run: the preserved copies found for it on the datastore (in device
 * order, as the agent names them) and whether each holds the pre-failback bytes.
 */
export async function seedingOf(
  env: LocalOnPremFailback,
  site: OnPremSite,
  originals: OriginalVms,
  runId: string,
  preFailback: ReadonlyMap<string, string>,
  atFirstPass?: ReadonlyMap<string, number>,
): Promise<OnPremSeeding> {
  const preserved = [];
  for (const vm of originals.vms) {
    for (const [i, disk] of vm.disks.entries()) {
      const preservedAs = datastorePath(
        site.config.platform.type === 'vsphere' ? site.config.platform.datastore : '',
        `homebound-preserved/${runId}/${vm.vm}/disk-${i}.vmdk`,
      );
      const copy = join(site.datastoreDir ?? '', 'homebound-preserved', runId, vm.vm, `disk-${i}-flat.vmdk`);
      const sha256 = await imageSha256(copy).catch(() => undefined);
      preserved.push({
        disk: disk.fileName,
        preservedAs,
        intact: sha256 !== undefined && sha256 === preFailback.get(disk.volumeId),
      });
    }
  }
  return {
    divergencePct: originals.divergencePct,
    expectedDifferingBytes: expectedDifferingBytes(env, originals, atFirstPass),
    preservedAs: preserved.filter((entry) => entry.intact).map((entry) => entry.preservedAs),
    preserved,
  };
}

/** Each original disk's SHA-256 before the run: what its preserved copy must hold. */
export async function preFailbackHashes(originals: OriginalVms): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for (const vm of originals.vms) {
    for (const disk of vm.disks) hashes.set(disk.volumeId, await imageSha256(disk.flatPath));
  }
  return hashes;
}
