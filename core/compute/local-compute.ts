import { rm } from 'node:fs/promises';
import { BLOCK_SIZE } from '../blocks.js';
import { InvalidInputError, SnapshotNotFoundError, VolumeNotFoundError } from '../errors.js';
import { createVolume, snapshotVolume, writeVolumeBlocks } from '../localcloud/local-volume.js';
import { writtenSidecarPath } from '../localcloud/written-blocks.js';
import {
  HostNotFoundError,
  HostStateError,
  SubnetNotFoundError,
  VolumeInUseError,
  VolumeNotAttachedError,
} from './errors.js';
import { DEFAULT_LOCAL_INSTANCE_TYPE, localInstanceType } from './instance-types.js';
import { parseCidr } from './ipv4.js';
import { linkDevice, unlinkDevice } from './local-boot.js';
import { LocalHosts } from './local-hosts.js';
import { type ComputeState, createdFor, newResourceId, type VolumeRecord, volumePath } from './local-state.js';
import { assertWriteRate, type WorkloadPause } from './local-workload.js';
import type {
  ComputePort,
  CreateVolumeRequest,
  Host,
  InstanceTypeInfo,
  RunInstanceRequest,
  SnapshotProgress,
  SnapshotVolumeRequest,
  Subnet,
  Tags,
  VolumeInfo,
  VolumeSnapshot,
} from './port.js';
import { SEED_FOR_TAG, STACK_TAG } from './port.js';

/** Snapshot tag recording how many workload writes a local snapshot holds (drills check nothing was lost). */
export const WORKLOAD_WRITES_TAG = 'homebound:local-workload-writes';

/** A takeover host for drills and tests: new empty volumes and a workload writing to them while it runs. */
export interface TakeoverHostRequest {
  readonly name: string;
  readonly volumes: readonly { readonly sizeBytes: number; readonly tags?: Tags }[];
  /** Block writes per second while the host runs; 0 is an idle host. */
  readonly writesPerSecond: number;
  /** Writes each new volume's initial content (through writeVolume, so snapshots see it) before the host starts. */
  readonly fill?: (path: string, volumeId: string) => Promise<void>;
  /** Seed of the workload's choices. @default 1 */
  readonly seed?: number;
  readonly tags?: Tags;
  /** The EC2 instance type it stands for (an on-prem failback VM gets its size). @default m5.large */
  readonly instanceType?: string;
  /** A subnet made with `createSubnet`. @default no network */
  readonly subnetId?: string;
  /** Its address in `subnetId`. @default the subnet's first free one */
  readonly privateIp?: string;
}

/**
 * The compute port on the local cloud. Hosts and volumes are records in `<stateDir>/compute.json`; volumes are sparse
 * images in `<stateDir>/volumes`; snapshots go to the local cloud's SnapshotStore, each volume's snapshot a child of
 * its previous one. Takeover hosts made with `createTakeoverHost` run a LocalWorkload while `running`. Hosts change
 * state at once, except that a stop or terminate reports `stopping` until the workload's last write has landed and
 * the processes the bootstrap started for the host's user data have exited. Attached volumes appear as symlinks in
 * each host's device dir (`<stateDir>/hosts/<hostId>/devices/<volumeId>`). Workloads and booted processes live in
 * this process: after reopening a state dir, `resumeWorkloads` restarts those of running hosts.
 */
export class LocalCompute extends LocalHosts implements ComputePort {
  async createTakeoverHost(request: TakeoverHostRequest): Promise<Host> {
    assertWriteRate(request.writesPerSecond);
    const volumeIds: string[] = [];
    // Not through createVolume: a takeover host is not something homebound creates, so it gets no resourceTags.
    for (const volume of request.volumes) volumeIds.push(await this.newVolume(volume));
    // Before the workload starts, so nothing it writes is overwritten by the initial content.
    for (const volumeId of volumeIds) await request.fill?.(volumePath(this.stateDir, volumeId), volumeId);
    const hostId = await this.launch(
      {
        role: 'takeover',
        name: request.name,
        tags: request.tags ?? {},
        instanceType: request.instanceType ?? DEFAULT_LOCAL_INSTANCE_TYPE,
        ...(request.subnetId === undefined ? {} : { subnetId: request.subnetId }),
        ...(request.privateIp === undefined ? {} : { privateIp: request.privateIp }),
      },
      { writesPerSecond: request.writesPerSecond, seed: request.seed ?? 1 },
      volumeIds,
    );
    const [host] = await this.describeHosts({ hostIds: [hostId] });
    if (!host) throw new HostNotFoundError(hostId);
    return host;
  }

  async describeInstanceType(instanceType: string): Promise<InstanceTypeInfo> {
    return localInstanceType(instanceType);
  }

  /**
   * A subnet of the local cloud with the block `cidr` (e.g. `10.1.0.0/24`), for drills and tests; `subnetId` names it
   * (a deployment setting given before the subnet exists). @default a new id
   */
  async createSubnet(cidr: string, subnetId = newResourceId('subnet')): Promise<Subnet> {
    if (parseCidr(cidr) === undefined) throw new InvalidInputError(`subnet block ${cidr} is not a CIDR block`);
    const subnet = { subnetId, cidr };
    await this.exclusive((state) => {
      state.subnets[subnet.subnetId] = subnet;
    });
    return subnet;
  }

  async describeSubnets(subnetIds: readonly string[]): Promise<Subnet[]> {
    const { subnets } = await this.load();
    return subnetIds.map((subnetId) => {
      const subnet = subnets[subnetId];
      if (!subnet) throw new SubnetNotFoundError(subnetId);
      return { ...subnet };
    });
  }

  /**
   * Launches a host with the request's instance type, subnet, address and groups, as EC2 would refuse them: an
   * unknown type (UnknownInstanceTypeError), an unknown subnet or an unusable or taken address (local-network.ts).
   */
  async runInstance(request: RunInstanceRequest): Promise<string> {
    if (request.instanceType !== undefined) localInstanceType(request.instanceType);
    return this.launch({ ...request, tags: { ...request.tags, ...this.resourceTags } }, undefined, []);
  }

  async createSnapshots(hostId: string, tags: Tags): Promise<VolumeSnapshot[]> {
    return this.exclusive(async (state) => {
      const host = this.hostRecord(state, hostId);
      if (host.state === 'terminated') throw new HostStateError(hostId, host.state, 'snapshot its volumes');
      const volumes = Object.values(state.volumes)
        .filter((volume) => volume.attachment?.hostId === hostId)
        .sort((a, b) => (a.attachment?.device ?? '').localeCompare(b.attachment?.device ?? ''));
      const workload = this.workloadOf(hostId);
      // Crash consistency: no write lands between the first volume's snapshot and the last one's.
      const pause: WorkloadPause | undefined = workload?.running ? await workload.pause() : undefined;
      try {
        const taken: VolumeSnapshot[] = [];
        for (const volume of volumes) {
          const parentSnapshotId = await this.liveSnapshot(volume.volumeId, volume.lastSnapshotId);
          const snapshot = await snapshotVolume(this.store, volumePath(this.stateDir, volume.volumeId), {
            volumeId: volume.volumeId,
            parentSnapshotId,
            description: `homebound crash-consistent snapshot of ${hostId}`,
            tags: {
              ...volume.tags,
              ...tags,
              ...this.resourceTags,
              ...(pause ? { [WORKLOAD_WRITES_TAG]: String(pause.writeCount) } : {}),
            },
          });
          volume.lastSnapshotId = snapshot.snapshotId;
          taken.push({ volumeId: volume.volumeId, snapshotId: snapshot.snapshotId });
        }
        return taken;
      } finally {
        pause?.resume();
      }
    });
  }

  async findSnapshots(tags: Tags): Promise<VolumeSnapshot[]> {
    const added = (await this.load()).snapshotTags;
    const wanted = Object.entries(tags);
    return (await this.store.list())
      .filter((info) => {
        const all = { ...info.tags, ...added[info.snapshotId] };
        return wanted.every(([key, value]) => all[key] === value);
      })
      .map((info) => ({ snapshotId: info.snapshotId, volumeId: info.volumeId }));
  }

  async describeSnapshots(snapshotIds: readonly string[]): Promise<SnapshotProgress[]> {
    const found: SnapshotProgress[] = [];
    for (const snapshotId of snapshotIds) {
      const info = await this.store.get(snapshotId);
      const progress = info.status === 'completed' ? 100 : 0;
      found.push({
        snapshotId,
        volumeId: info.volumeId,
        state: info.status,
        progress,
        volumeSizeBytes: info.sourceBytes,
      });
    }
    return found;
  }

  async deleteSnapshots(snapshotIds: readonly string[]): Promise<void> {
    for (const snapshotId of snapshotIds) {
      await this.store.delete(snapshotId).catch((error: unknown) => {
        if (!(error instanceof SnapshotNotFoundError)) throw error;
      });
    }
    await this.exclusive((state) => {
      for (const snapshotId of snapshotIds) delete state.snapshotTags[snapshotId];
    });
  }

  async createVolume(request: CreateVolumeRequest): Promise<string> {
    return this.newVolume({ ...request, tags: { ...request.tags, ...this.resourceTags } });
  }

  private async newVolume(request: CreateVolumeRequest): Promise<string> {
    const { clientToken } = request;
    const asked = JSON.stringify({
      sizeBytes: request.sizeBytes,
      tags: request.tags ?? {},
      ...(request.snapshotId === undefined ? {} : { snapshotId: request.snapshotId }),
    });
    const earlier = createdFor(await this.load(), clientToken, asked);
    if (earlier !== undefined) return earlier;
    const volumeId = newResourceId('vol');
    // Exact bytes rather than whole GiB: images are sparse, but every snapshot scans the whole image.
    await createVolume(volumePath(this.stateDir, volumeId), request.sizeBytes);
    if (request.snapshotId !== undefined) await this.restore(request.snapshotId, volumeId, request.sizeBytes);
    return this.exclusive(async (state) => {
      // A call with the same token that got here first wins; this one's image is removed.
      const raced = createdFor(state, clientToken, asked);
      if (raced !== undefined) {
        await rm(volumePath(this.stateDir, volumeId), { force: true });
        return raced;
      }
      state.volumes[volumeId] = { volumeId, sizeBytes: request.sizeBytes, tags: { ...request.tags } };
      if (clientToken !== undefined) state.clientTokens[clientToken] = { id: volumeId, request: asked };
      return volumeId;
    });
  }

  /** Writes every block `snapshotId` holds into the new volume's image, as EBS fills a volume created from one. */
  private async restore(snapshotId: string, volumeId: string, sizeBytes: number): Promise<void> {
    const info = await this.store.get(snapshotId);
    if (info.sourceBytes > sizeBytes) {
      throw new InvalidInputError(
        `volume of ${sizeBytes} bytes is smaller than snapshot ${snapshotId} (${info.sourceBytes} bytes)`,
      );
    }
    const path = volumePath(this.stateDir, volumeId);
    const page = 10_000;
    for (let start = 0; ; ) {
      const indexes = await this.store.listBlocks(snapshotId, start, page);
      for (const index of indexes) {
        const data = await this.store.readBlock(snapshotId, index);
        await writeVolumeBlocks(path, index, data.subarray(0, Math.min(data.length, sizeBytes - index * BLOCK_SIZE)));
      }
      const last = indexes.at(-1);
      if (indexes.length < page || last === undefined) return;
      start = last + 1;
    }
  }

  get seedOptIn(): Tags {
    const stack = this.resourceTags[STACK_TAG];
    return stack === undefined ? {} : { [SEED_FOR_TAG]: stack };
  }

  async claimVolume(volumeId: string): Promise<void> {
    const tags = this.resourceTags;
    if (Object.keys(tags).length > 0) await this.createTags([volumeId], tags);
  }

  async describeVolumes(volumeIds: readonly string[]): Promise<VolumeInfo[]> {
    const state = await this.load();
    return volumeIds.map((volumeId) => {
      const volume = this.volumeRecord(state, volumeId);
      return {
        volumeId,
        sizeBytes: volume.sizeBytes,
        ...(volume.attachment ? { attachedTo: volume.attachment.hostId, device: volume.attachment.device } : {}),
        tags: { ...volume.tags },
      };
    });
  }

  /**
   * A snapshot of one volume as it is now (with this cloud's resource tags), a child of its previous one. A running
   * host's workload is paused for it, as EC2's snapshot is of one instant.
   */
  async snapshotVolume(request: SnapshotVolumeRequest): Promise<string> {
    const hostId = this.volumeRecord(await this.load(), request.volumeId).attachment?.hostId;
    const pause = hostId === undefined ? undefined : await this.workloadOf(hostId)?.pause();
    try {
      return await this.exclusive(async (state) => {
        const volume = this.volumeRecord(state, request.volumeId);
        const snapshot = await snapshotVolume(this.store, volumePath(this.stateDir, volume.volumeId), {
          volumeId: volume.volumeId,
          parentSnapshotId: await this.liveSnapshot(volume.volumeId, volume.lastSnapshotId),
          description: request.description,
          tags: { ...request.tags, ...this.resourceTags },
        });
        volume.lastSnapshotId = snapshot.snapshotId;
        return snapshot.snapshotId;
      });
    } finally {
      pause?.resume();
    }
  }

  async deleteVolume(volumeId: string): Promise<void> {
    await this.exclusive(async (state) => {
      const volume = this.volumeRecord(state, volumeId);
      if (volume.attachment) throw new VolumeInUseError(volumeId, volume.attachment.hostId);
      delete state.volumes[volumeId];
      const path = volumePath(this.stateDir, volumeId);
      await rm(path, { force: true });
      await rm(writtenSidecarPath(path), { force: true });
    });
  }

  /** Attaches the volume; it appears in the host's device dir as `<volumeId>` (see local-boot.ts). */
  async attachVolume(volumeId: string, hostId: string, device: string): Promise<void> {
    await this.exclusive(async (state) => {
      const volume = this.volumeRecord(state, volumeId);
      const host = this.hostRecord(state, hostId);
      if (host.state === 'terminated') throw new HostStateError(hostId, host.state, `attach ${volumeId}`);
      if (volume.attachment?.hostId === hostId && volume.attachment.device === device) return;
      if (volume.attachment) throw new VolumeInUseError(volumeId, volume.attachment.hostId);
      const taken = Object.values(state.volumes).some(
        (other) => other.attachment?.hostId === hostId && other.attachment.device === device,
      );
      if (taken) throw new InvalidInputError(`device ${device} of ${hostId} already has a volume attached`);
      volume.attachment = { hostId, device };
      await linkDevice(this.stateDir, hostId, volumeId);
    });
  }

  async detachVolume(volumeId: string): Promise<void> {
    const hostId = this.volumeRecord(await this.load(), volumeId).attachment?.hostId;
    // The host's workload must not write to the volume once it is detached.
    const pause = hostId === undefined ? undefined : await this.workloadOf(hostId)?.pause();
    try {
      await this.exclusive(async (state) => {
        const volume = this.volumeRecord(state, volumeId);
        if (!volume.attachment) throw new VolumeNotAttachedError(volumeId);
        const from = volume.attachment.hostId;
        volume.attachment = undefined;
        await unlinkDevice(this.stateDir, from, volumeId);
      });
    } finally {
      pause?.resume();
    }
  }

  async createTags(resourceIds: readonly string[], tags: Tags): Promise<void> {
    for (const id of resourceIds) if (id.startsWith('snap-')) await this.store.get(id);
    await this.exclusive((state) => {
      const targets = resourceIds.map((id) => this.taggable(state, id));
      for (const target of targets) Object.assign(target, tags);
    });
  }

  async deleteTags(resourceIds: readonly string[], keys: readonly string[]): Promise<void> {
    for (const id of resourceIds) if (id.startsWith('snap-')) await this.store.get(id);
    await this.exclusive((state) => {
      const targets = resourceIds.map((id) => this.taggable(state, id));
      for (const target of targets) for (const key of keys) delete target[key];
    });
  }

  /** Volumes carrying every one of `tags` and this cloud's resource tags (as EC2 filters them). */
  async findVolumes(tags: Tags): Promise<VolumeInfo[]> {
    const wanted = Object.entries({ ...tags, ...this.resourceTags });
    return Object.values((await this.load()).volumes)
      .filter((volume) => wanted.every(([key, value]) => volume.tags[key] === value))
      .map((volume) => ({
        volumeId: volume.volumeId,
        sizeBytes: volume.sizeBytes,
        ...(volume.attachment ? { attachedTo: volume.attachment.hostId } : {}),
        tags: { ...volume.tags },
      }));
  }

  private taggable(state: ComputeState, id: string): Record<string, string> {
    if (id.startsWith('i-')) return this.hostRecord(state, id).tags;
    if (id.startsWith('vol-')) return this.volumeRecord(state, id).tags;
    if (id.startsWith('snap-')) {
      state.snapshotTags[id] ??= {};
      return state.snapshotTags[id];
    }
    throw new InvalidInputError(`cannot tag ${id}: not a host, volume or snapshot id`);
  }

  /**
   * The parent of the volume's next snapshot: its previous snapshot if that is still there, else its newest
   * completed snapshot still there (as EBS keeps a volume's lineage when one of its snapshots is deleted, so a kept
   * snapshot and a later one can still be compared); with none left, the next snapshot is a full one.
   */
  private async liveSnapshot(volumeId: string, snapshotId: string | undefined): Promise<string | undefined> {
    if (snapshotId === undefined) return undefined;
    const info = await this.store.get(snapshotId).catch(() => undefined);
    if (info?.status === 'completed') return snapshotId;
    const older = (await this.store.list({ volumeId })).filter((candidate) => candidate.status === 'completed');
    return older.at(-1)?.snapshotId;
  }

  private volumeRecord(state: ComputeState, volumeId: string): VolumeRecord {
    const volume = state.volumes[volumeId];
    if (!volume) throw new VolumeNotFoundError(volumeId);
    return volume;
  }
}
