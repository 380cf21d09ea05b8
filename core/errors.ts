/**
 * Named errors of the engine. Adapters translate their SDK's errors into these, so the engine, the CLI, the Lambda
 * handlers (Step Functions error names) and the approval API (HTTP statuses) map from one vocabulary.
 * `retryable` tells the streamer whether trying again can help; `throttled` that the caller must slow down.
 */
export class HomeboundError extends Error {
  readonly retryable: boolean = false;
  readonly throttled: boolean = false;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A snapshot id that the block source does not know. */
export class SnapshotNotFoundError extends HomeboundError {
  constructor(
    readonly snapshotId: string,
    options?: ErrorOptions,
  ) {
    super(`snapshot ${snapshotId} does not exist (or is not readable by this account)`, options);
  }
}

/** The snapshot exists but is not `completed`, so the EBS direct APIs cannot read it yet. */
export class SnapshotNotReadyError extends HomeboundError {
  constructor(
    readonly snapshotId: string,
    status: string,
    options?: ErrorOptions,
  ) {
    super(`snapshot ${snapshotId} is ${status}, not completed; only completed snapshots can be read`, options);
  }
}

/** ListChangedBlocks between snapshots that do not share lineage. */
export class UnrelatedSnapshotsError extends HomeboundError {
  constructor(
    readonly firstSnapshotId: string,
    readonly secondSnapshotId: string,
    options?: ErrorOptions,
  ) {
    super(
      `snapshots ${firstSnapshotId} and ${secondSnapshotId} are unrelated (no shared lineage); an incremental pass needs the previous pass's snapshot of the same volume`,
      options,
    );
  }
}

/** The service asked us to slow down. */
export class ThrottledError extends HomeboundError {
  override readonly retryable = true;
  override readonly throttled = true;
}

/** A failure AWS documents as worth retrying (5xx, "Failed to read block data", a dropped connection). */
export class TransientError extends HomeboundError {
  override readonly retryable = true;
}

/** A block whose bytes do not hash to the checksum the service sent with them. */
export class BlockChecksumMismatchError extends HomeboundError {
  override readonly retryable = true;
  constructor(
    readonly snapshotId: string,
    readonly blockIndex: number,
    options?: ErrorOptions,
  ) {
    super(`block ${blockIndex} of ${snapshotId} does not match its SHA-256 checksum`, options);
  }
}

/** Any other request the service refused; the message names what. Not retried. */
export class RequestRejectedError extends HomeboundError {}

/** The staging bucket is missing or unreachable. */
export class StagingBucketNotFoundError extends HomeboundError {
  constructor(
    readonly bucket: string,
    options?: ErrorOptions,
  ) {
    super(`staging bucket ${bucket} does not exist or is not accessible`, options);
  }
}

/** A staged object the pass needs is absent. */
export class StagedObjectMissingError extends HomeboundError {
  constructor(
    readonly key: string,
    options?: ErrorOptions,
  ) {
    super(`staged object ${key} is missing`, options);
  }
}

/** A staged segment or manifest failed verification: it must never be applied. */
export class CorruptSegmentError extends HomeboundError {
  constructor(
    readonly key: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`staged object ${key} is corrupt: ${reason}; it was not applied`, options);
  }
}

/** The target cannot hold the source. */
export class TargetTooSmallError extends HomeboundError {
  constructor(
    readonly target: string,
    readonly targetBytes: number,
    readonly sourceBytes: number,
  ) {
    super(`target ${target} holds ${targetBytes} bytes but the source volume is ${sourceBytes} bytes`);
  }
}

/** The target path cannot be opened for positional writes. */
export class TargetUnavailableError extends HomeboundError {
  constructor(
    readonly target: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`target ${target} cannot be opened: ${reason}`, options);
  }
}

/** A pass that does not follow the last pass applied to this target (wrong order, wrong volume, wrong lineage). */
export class PassOutOfOrderError extends HomeboundError {}

/** An applier journal neither of whose slots holds a whole state: the state directory was damaged outside homebound. */
export class CorruptJournalError extends HomeboundError {
  constructor(readonly path: string) {
    super(
      `journal ${path} holds no whole state (both slots fail their checksum); the target's state is unknown, so apply the passes again from a full pass into a fresh state directory`,
    );
  }
}

/** A local volume (image file) that does not exist. */
export class VolumeNotFoundError extends HomeboundError {
  constructor(
    readonly volume: string,
    options?: ErrorOptions,
  ) {
    super(`volume ${volume} does not exist`, options);
  }
}

/**
 * A seeded pass's seed record (core/engine/seed.ts) is not in staging yet: the target side is still hashing its seed
 * disk, or never will (no seed there). StreamPass waits for it up to a limit.
 */
export class SeedNotPublishedError extends HomeboundError {
  constructor(
    readonly recordKey: string,
    options?: ErrorOptions,
  ) {
    super(
      `seed record ${recordKey} is not published yet (the target side publishes it once it has hashed its seed)`,
      options,
    );
  }
}

/** A seed disk smaller than the volume it is meant to receive: blocks past its end could not be compared. */
export class SeedTooSmallError extends HomeboundError {
  constructor(
    readonly seed: string,
    readonly seedBytes: number,
    readonly volumeBytes: number,
    options?: ErrorOptions,
  ) {
    super(
      `seed ${seed} holds ${seedBytes} bytes but the volume it would receive is ${volumeBytes} bytes; a seed must be at least as large as its volume`,
      options,
    );
  }
}

/** Bad input from an operator or a caller; the message names the field. */
export class InvalidInputError extends HomeboundError {}

/**
 * The caller gave up on the work (a Task that timed out, an execution that ended, an operator's Ctrl-C): it stopped
 * before its next call and cut the calls in flight. Not retryable: whoever aborted decides what comes next.
 */
export class WorkCancelledError extends HomeboundError {
  constructor(what: string, reason?: unknown) {
    super(`${what} cancelled${reason instanceof Error ? ` (${reason.name}: ${reason.message})` : ''}`, {
      cause: reason,
    });
  }
}

const mebibytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Whether `error` is the file system saying it has no room (ENOSPC) or the user's quota is used up (EDQUOT). */
export function isNoSpaceError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * The target (or the file system holding its image) ran out of space while a pass was written. Nothing is lost:
 * the journal says where the pass stopped, and applying again once there is room resumes it.
 */
export class TargetFullError extends HomeboundError {
  constructor(
    readonly target: string,
    readonly passNumber: number,
    /** Bytes of the pass not yet written when it stopped: at most this much more room is needed. */
    readonly bytesNeeded: number,
    options?: ErrorOptions,
  ) {
    super(
      `no space left on target ${target} while writing pass ${passNumber}: up to ${mebibytes(bytesNeeded)} still to write; free space there and apply again (the pass resumes where it stopped)`,
      options,
    );
  }
}

/**
 * The applier's state directory (its spool of verified segments, its journal) ran out of space. The target is
 * untouched by the pass; applying again once there is room reuses the segments already spooled.
 */
export class SpoolFullError extends HomeboundError {
  constructor(
    readonly directory: string,
    readonly passNumber: number,
    /** Bytes the pass's segments take in the spool: all of them, or the one that did not fit while prefetching. */
    readonly bytesNeeded: number,
    options?: ErrorOptions,
  ) {
    super(
      `no space left in ${directory} while spooling pass ${passNumber}: it needs at least ${mebibytes(bytesNeeded)} there; free space (or use a --state-dir with room) and apply again`,
      options,
    );
  }
}
