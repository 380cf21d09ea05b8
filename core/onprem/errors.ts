import { HomeboundError } from '../errors.js';

/** The agent config names no target disk for a takeover volume of the run (manual platform). */
export class TargetDiskNotConfiguredError extends HomeboundError {
  constructor(readonly volumeId: string) {
    super(
      `no target disk is configured for volume ${volumeId}; add it under platform.disks in the agent config (a device or image file path)`,
    );
  }
}

/** A configured target disk does not exist and the config does not ask to create it. */
export class TargetDiskMissingError extends HomeboundError {
  constructor(
    readonly volumeId: string,
    readonly path: string,
  ) {
    super(`target disk ${path} for volume ${volumeId} does not exist (set "create": true to make a sparse image file)`);
  }
}

/** A target disk is mounted on the agent's host: writing it would corrupt a live file system. */
export class TargetDiskInUseError extends HomeboundError {
  constructor(
    readonly volumeId: string,
    readonly path: string,
    readonly mountPoint: string,
  ) {
    super(`target disk ${path} for volume ${volumeId} is mounted at ${mountPoint}; unmount it first`);
  }
}

/** The vCenter password file cannot be read or is empty. Names the file, never its content. */
export class VspherePasswordFileError extends HomeboundError {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`cannot read the vCenter password from ${path} (${reason}); its first line must be the password`);
  }
}

/**
 * The request asks a VM to go somewhere other than the agent's configured place (folder, resource pool, datastore,
 * port group): this build's agent places every VM of a run where its config says, so it refuses instead of ignoring.
 */
export class PlacementNotConfiguredError extends HomeboundError {
  constructor(
    readonly hostId: string,
    readonly field: string,
    asked: string,
    configured: string | undefined,
  ) {
    super(
      `host ${hostId}: failback.${field} "${asked}" is not the agent's configured ${field} (${configured ?? 'none'}); this agent places VMs only there (docs/agent.md)`,
    );
  }
}

/** A failback VM of the run now belongs to a later run (PrepareTarget for the same takeover host reused it). */
export class FailbackVmReassignedError extends HomeboundError {
  constructor(
    readonly vmName: string,
    readonly runId: string,
  ) {
    super(`VM ${vmName} no longer belongs to run ${runId}: a later run for the same takeover host has taken it over`);
  }
}

/** A failback VM is up on persistent disks (an earlier run cut over to it): a new run must not write its disks. */
export class FailbackVmRunningError extends HomeboundError {
  constructor(readonly vmName: string) {
    super(
      `VM ${vmName} is powered on with persistent disks (it may serve production after an earlier cutover); a new run would write under it — power it off first if it is not in use`,
    );
  }
}

/** A host's seed VM (`hosts[].failback.seed.vm`) is not on the agent's vCenter. */
export class SeedVmNotFoundError extends HomeboundError {
  constructor(
    readonly hostId: string,
    readonly vm: string,
  ) {
    super(
      `host ${hostId}: failback.seed.vm "${vm}" names no VM below the datacenter's VM folder (give its name or folder path, e.g. prod/db-1)`,
    );
  }
}

/** A seed VM has another number of disks than its takeover host has volumes: device order could not pair them. */
export class SeedDiskCountMismatchError extends HomeboundError {
  constructor(
    readonly hostId: string,
    readonly vm: string,
    readonly seedDisks: number,
    readonly volumes: number,
  ) {
    super(
      `host ${hostId}: failback.seed.vm "${vm}" has ${seedDisks} disks but the takeover host has ${volumes} volumes; its disks, in device order, must pair 1:1 with the volumes`,
    );
  }
}

/** A seed VM is powered on and the request does not allow powering it off (`target.powerOffSeed`). */
export class SeedVmRunningError extends HomeboundError {
  constructor(
    readonly hostId: string,
    readonly vm: string,
  ) {
    super(
      `host ${hostId}: failback.seed.vm "${vm}" is powered on; its disks cannot be written under it — power it off, or set target.powerOffSeed: true to let the agent do it`,
    );
  }
}

/**
 * A seed disk the agent cannot write as a flat file through its datastore mount: on another datastore than the agent's
 * configured one, a snapshot's delta disk (the VM has snapshots), or a flat file that is not there.
 */
export class SeedDiskNotWritableError extends HomeboundError {
  constructor(
    readonly hostId: string,
    readonly disk: string,
    reason: string,
  ) {
    super(`host ${hostId}: seed disk ${disk} cannot be the target disk: ${reason}`);
  }
}
