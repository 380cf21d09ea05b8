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
