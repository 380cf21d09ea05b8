import { mkdir, rm, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { volumePath } from './local-state.js';
import type { HostRole } from './port.js';

/**
 * How a local host "boots": LocalCompute hands a host's user data to a HostBootstrap whenever the host becomes
 * `running`, and stops what it started before the host reports `stopped` or `terminated`. Each host has a device
 * dir, where its attached volumes appear as `<volumeId>` symlinks to their images (as /dev/disk/by-id does on EC2),
 * and a state dir that survives stop/start (its root disk).
 */

export interface BootContext {
  readonly hostId: string;
  readonly role: HostRole;
  readonly userData: string;
  /** The host's ARN, as EC2 would name it (core/compute/local-state.ts localInstanceArn). */
  readonly instanceArn: string;
  /** `<compute stateDir>/hosts/<hostId>/devices`: one symlink per attached volume, named by volume id. */
  readonly deviceDir: string;
  /** `<compute stateDir>/hosts/<hostId>/state`: kept across stop/start. */
  readonly stateDir: string;
}

export interface BootedHost {
  /** Called when the host stops or terminates; resolves when its processes have exited. */
  stop(): Promise<void>;
}

/** Runs a host's user data; called for every host with user data each time it becomes `running`. */
export type HostBootstrap = (context: BootContext) => BootedHost | Promise<BootedHost>;

/** A host's device dir (absolute, so links and processes do not depend on the working directory). */
export function hostDeviceDir(stateDir: string, hostId: string): string {
  return join(resolve(stateDir), 'hosts', hostId, 'devices');
}

/** A host's own state dir, kept across stop/start. */
export function hostStateDir(stateDir: string, hostId: string): string {
  return join(resolve(stateDir), 'hosts', hostId, 'state');
}

/** Makes an attached volume visible to its host: `<deviceDir>/<volumeId>` → the volume image. */
export async function linkDevice(stateDir: string, hostId: string, volumeId: string): Promise<void> {
  const dir = hostDeviceDir(stateDir, hostId);
  await mkdir(dir, { recursive: true });
  const link = join(dir, volumeId);
  await rm(link, { force: true });
  await symlink(volumePath(resolve(stateDir), volumeId), link);
}

/** Removes a detached volume from its host's device dir; a link already gone is fine. */
export async function unlinkDevice(stateDir: string, hostId: string, volumeId: string): Promise<void> {
  await rm(join(hostDeviceDir(stateDir, hostId), volumeId), { force: true });
}

/**
 * The booted hosts of one LocalCompute, in this process. A host boots at most once until it is stopped; stopping a
 * host that is still booting waits for the boot to finish and then stops it.
 */
export class HostBoots {
  private readonly booted = new Map<string, Promise<BootedHost | undefined>>();

  constructor(private readonly bootstrap: HostBootstrap | undefined) {}

  /**
   * Boots the host unless it is booted already (or there is no bootstrap). Resolves once the bootstrap returned.
   * @throws what the bootstrap throws (the host then counts as booted with nothing to stop).
   */
  async boot(context: Omit<BootContext, 'deviceDir' | 'stateDir'>, computeStateDir: string): Promise<void> {
    const { bootstrap } = this;
    if (!bootstrap || this.booted.has(context.hostId)) return;
    const deviceDir = hostDeviceDir(computeStateDir, context.hostId);
    const stateDir = hostStateDir(computeStateDir, context.hostId);
    const booting = (async () => {
      await mkdir(deviceDir, { recursive: true });
      await mkdir(stateDir, { recursive: true });
      return bootstrap({ ...context, deviceDir, stateDir });
    })();
    this.booted.set(
      context.hostId,
      booting.catch(() => undefined),
    );
    await booting;
  }

  /** Stops what the host's boot started; resolves once it has exited. A host never booted is a no-op. */
  async stop(hostId: string): Promise<void> {
    const booted = this.booted.get(hostId);
    if (!booted) return;
    try {
      await (await booted)?.stop();
    } finally {
      this.booted.delete(hostId);
    }
  }

  /** Stops every booted host (e.g. when the LocalCompute closes). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.booted.keys()].map((hostId) => this.stop(hostId)));
  }
}
