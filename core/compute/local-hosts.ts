import type { SnapshotStore } from '../localcloud/snapshot-store.js';
import { HostNotFoundError, HostStateError } from './errors.js';
import { HostBoots, type HostBootstrap, linkDevice, unlinkDevice } from './local-boot.js';
import { placeHost } from './local-network.js';
import {
  type ComputeState,
  createdFor,
  type HostRecord,
  loadState,
  localInstanceArn,
  newResourceId,
  saveState,
  volumePath,
} from './local-state.js';
import { LocalWorkload } from './local-workload.js';
import { type Host, type HostFilter, ROLE_TAG, type RunInstanceRequest, type Tags } from './port.js';

export interface LocalComputeOptions {
  /** Holds `compute.json` and `volumes/`. */
  readonly stateDir: string;
  /** The local cloud's snapshot store, where `createSnapshots` puts snapshots. */
  readonly store: SnapshotStore;
  /** Runs the user data of hosts that have some whenever they become `running`. @default user data is not run */
  readonly bootstrap?: HostBootstrap;
  /** Tags on every volume, host and snapshot made through the port, as AwsCompute's `resourceTags`. @default none */
  readonly resourceTags?: Tags;
}

type StopTarget = 'stopped' | 'terminated';

/**
 * Host records and their lifecycle for LocalCompute: the state file (one writer at a time, each change saved
 * atomically), EC2's start/stop/terminate transitions, and the workloads of takeover hosts.
 */
export abstract class LocalHosts {
  protected readonly stateDir: string;
  protected readonly store: SnapshotStore;
  protected readonly resourceTags: Tags;
  private state: ComputeState | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly workloads = new Map<string, LocalWorkload>();
  private readonly boots: HostBoots;
  private readonly stopTargets = new Map<string, StopTarget>();
  private readonly transitions = new Set<Promise<void>>();
  private transitionFailure: unknown;

  constructor(options: LocalComputeOptions) {
    this.stateDir = options.stateDir;
    this.store = options.store;
    this.resourceTags = options.resourceTags ?? {};
    this.boots = new HostBoots(options.bootstrap);
  }

  /** Hosts matching the filter, terminated ones included (as EC2 lists them for a while). Throws HostNotFoundError. */
  /** As EC2 would name the host (local-state.ts localInstanceArn). */
  instanceArn(hostId: string): string {
    return localInstanceArn(hostId);
  }

  async describeHosts(filter: HostFilter = {}): Promise<Host[]> {
    const state = await this.load();
    for (const hostId of filter.hostIds ?? []) this.hostRecord(state, hostId);
    return Object.values(state.hosts)
      .filter((host) => !filter.hostIds || filter.hostIds.includes(host.hostId))
      .filter((host) => !filter.tag || host.tags[filter.tag.key] === filter.tag.value)
      .filter((host) => !filter.subnetIds || (host.subnetId !== undefined && filter.subnetIds.includes(host.subnetId)))
      .map((host) => ({
        hostId: host.hostId,
        role: host.role,
        state: host.state,
        tags: { ...host.tags },
        ...(host.instanceType === undefined ? {} : { instanceType: host.instanceType }),
        ...(host.subnetId === undefined ? {} : { subnetId: host.subnetId }),
        ...(host.privateIp === undefined ? {} : { privateIp: host.privateIp }),
        ...(host.securityGroupIds === undefined ? {} : { securityGroupIds: [...host.securityGroupIds] }),
        volumes: this.attachedVolumes(state, host.hostId).map(({ volumeId, device, sizeBytes }) => ({
          volumeId,
          device,
          sizeBytes,
        })),
      }));
  }

  /**
   * Starts stopped hosts (their workloads, and their user data through the bootstrap). Throws HostStateError for a
   * stopping or terminated host.
   */
  async startInstances(hostIds: readonly string[]): Promise<void> {
    await this.exclusive((state) => {
      const hosts = hostIds.map((hostId) => this.hostRecord(state, hostId));
      for (const host of hosts) {
        if (host.state === 'stopping' || host.state === 'terminated') {
          throw new HostStateError(host.hostId, host.state, 'start it');
        }
      }
      for (const host of hosts) host.state = 'running';
    });
    for (const hostId of hostIds) this.startWorkload(hostId);
    await Promise.all(hostIds.map((hostId) => this.boot(hostId)));
  }

  /**
   * Stops hosts: `stopping` at once, `stopped` once the workload's in-flight write has landed and the processes its
   * boot started have exited.
   */
  async stopInstances(hostIds: readonly string[]): Promise<void> {
    await this.shutDown(hostIds, 'stopped');
  }

  /** Terminates hosts like `stopInstances`; their volumes are detached and kept. */
  async terminateInstances(hostIds: readonly string[]): Promise<void> {
    await this.shutDown(hostIds, 'terminated');
  }

  /** The workload of a takeover host made with `createTakeoverHost`, in this process. */
  workloadOf(hostId: string): LocalWorkload | undefined {
    return this.workloads.get(hostId);
  }

  /**
   * Restarts, in this process, the workloads of running hosts that have one and boots running hosts with user data
   * (e.g. after reopening a state dir).
   */
  async resumeWorkloads(): Promise<void> {
    const state = await this.load();
    const running = Object.values(state.hosts).filter((host) => host.state === 'running');
    for (const host of running) this.startWorkload(host.hostId);
    await Promise.all(running.map((host) => this.boot(host.hostId)));
  }

  /**
   * Stops every workload and booted process of this process (host states stay as they are) and waits for pending
   * state transitions; rethrows the first failure of a background transition (the host then stays `stopping`) or of
   * a bootstrap.
   */
  async close(): Promise<void> {
    await Promise.all([...this.workloads.values()].map((workload) => workload.stop()));
    await this.boots.stopAll();
    await Promise.all([...this.transitions]);
    if (this.transitionFailure !== undefined) throw this.transitionFailure;
  }

  /** Records the host with what it was launched with; the network as local-network.ts `placeHost` allows. */
  protected async launch(
    request: RunInstanceRequest,
    workload: HostRecord['workload'],
    volumeIds: readonly string[],
  ): Promise<string> {
    const { clientToken } = request;
    const asked = JSON.stringify({ ...request, clientToken: undefined });
    const hostId = newResourceId('i');
    const earlier = await this.exclusive(async (state) => {
      const known = createdFor(state, clientToken, asked);
      if (known !== undefined) return known;
      const placement = placeHost(state, request);
      if (clientToken !== undefined) state.clientTokens[clientToken] = { id: hostId, request: asked };
      state.hosts[hostId] = {
        hostId,
        role: request.role,
        name: request.name,
        state: 'running',
        tags: { ...request.tags, Name: request.name, [ROLE_TAG]: request.role },
        ...(request.userData === undefined ? {} : { userData: request.userData }),
        ...(request.instanceType === undefined ? {} : { instanceType: request.instanceType }),
        ...placement,
        ...(request.securityGroupIds === undefined ? {} : { securityGroupIds: [...request.securityGroupIds] }),
        ...(workload ? { workload } : {}),
      };
      volumeIds.forEach((volumeId, i) => {
        const volume = state.volumes[volumeId];
        if (volume) volume.attachment = { hostId, device: `/dev/xvd${String.fromCharCode(97 + i)}` };
      });
      for (const volumeId of volumeIds) await linkDevice(this.stateDir, hostId, volumeId);
      return undefined;
    });
    // A retried launch (same ClientToken) gets the host the first one launched, as from EC2.
    if (earlier !== undefined) return earlier;
    this.startWorkload(hostId);
    await this.boot(hostId);
    return hostId;
  }

  /** Runs `change` on a copy of the state, one change at a time; the copy is saved and becomes the state on success. */
  protected exclusive<T>(change: (state: ComputeState) => T | Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      const draft = structuredClone(await this.load());
      const result = await change(draft);
      await saveState(this.stateDir, draft);
      this.state = draft;
      return result;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  protected async load(): Promise<ComputeState> {
    if (!this.state) {
      const loaded = await loadState(this.stateDir);
      // A host left `stopping` by an ended process has no workload writing any more.
      for (const host of Object.values(loaded.hosts)) if (host.state === 'stopping') host.state = 'stopped';
      this.state ??= loaded;
    }
    return this.state;
  }

  protected hostRecord(state: ComputeState, hostId: string): HostRecord {
    const host = state.hosts[hostId];
    if (!host) throw new HostNotFoundError(hostId);
    return host;
  }

  private attachedVolumes(state: ComputeState, hostId: string) {
    return Object.values(state.volumes)
      .flatMap((volume) =>
        volume.attachment?.hostId === hostId ? [{ ...volume, device: volume.attachment.device }] : [],
      )
      .sort((a, b) => a.device.localeCompare(b.device));
  }

  private startWorkload(hostId: string): void {
    const config = this.state?.hosts[hostId]?.workload;
    if (!config) return;
    let workload = this.workloads.get(hostId);
    if (!workload) {
      workload = new LocalWorkload({
        ...config,
        volumes: () =>
          this.state
            ? this.attachedVolumes(this.state, hostId).map((volume) => ({
                volumeId: volume.volumeId,
                sizeBytes: volume.sizeBytes,
                path: volumePath(this.stateDir, volume.volumeId),
              }))
            : [],
      });
      this.workloads.set(hostId, workload);
    }
    workload.start();
  }

  private async shutDown(hostIds: readonly string[], target: StopTarget): Promise<void> {
    const begun = await this.exclusive((state) => {
      const hosts = hostIds.map((hostId) => this.hostRecord(state, hostId));
      const toShutDown: string[] = [];
      for (const host of hosts) {
        if (host.state === 'terminated') {
          if (target === 'stopped') throw new HostStateError(host.hostId, host.state, 'stop it');
          continue;
        }
        if (target === 'stopped' && host.state === 'stopped') continue;
        if (this.stopTargets.get(host.hostId) !== 'terminated') this.stopTargets.set(host.hostId, target);
        if (host.state !== 'stopping') toShutDown.push(host.hostId);
        host.state = 'stopping';
      }
      return toShutDown;
    });
    for (const hostId of begun) this.track(this.finishShutDown(hostId));
  }

  private async finishShutDown(hostId: string): Promise<void> {
    await this.workloads.get(hostId)?.stop();
    await this.boots.stop(hostId);
    await this.exclusive(async (state) => {
      const target = this.stopTargets.get(hostId) ?? 'stopped';
      this.stopTargets.delete(hostId);
      this.hostRecord(state, hostId).state = target;
      if (target !== 'terminated') return;
      for (const volume of Object.values(state.volumes)) {
        if (volume.attachment?.hostId !== hostId) continue;
        volume.attachment = undefined;
        await unlinkDevice(this.stateDir, hostId, volume.volumeId);
      }
    });
  }

  /**
   * Runs the host's user data through the bootstrap, if it has both. Like a failing user-data script on EC2, a
   * failing bootstrap does not fail the launch or start; `close` rethrows it.
   */
  private async boot(hostId: string): Promise<void> {
    const host = this.state?.hosts[hostId];
    if (host?.userData === undefined || host.state !== 'running') return;
    await this.boots
      .boot({ hostId, role: host.role, userData: host.userData, instanceArn: this.instanceArn(hostId) }, this.stateDir)
      .catch((error: unknown) => {
        this.transitionFailure ??= error;
      });
  }

  private track(transition: Promise<void>): void {
    const tracked = transition
      .catch((error: unknown) => {
        this.transitionFailure ??= error;
      })
      .finally(() => this.transitions.delete(tracked));
    this.transitions.add(tracked);
  }
}
