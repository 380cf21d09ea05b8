/**
 * Named errors of the local state machine runner. Load-time errors all extend {@link LocalDefinitionError} and name
 * the offending state, so a definition that would behave differently locally than on AWS fails before it runs.
 */

/** Base of every error the runner throws; `name` is the class name. */
export class OrchestrationError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Base of the load-time rejections. `stateName` is undefined when the problem is at the machine's top level. */
export class LocalDefinitionError extends OrchestrationError {
  constructor(
    readonly stateName: string | undefined,
    message: string,
    options?: ErrorOptions,
  ) {
    super(stateName === undefined ? message : `state "${stateName}": ${message}`, options);
  }
}

/** The definition cannot be read, is not JSON, is not ASL, or the library's validator rejects it. */
export class InvalidDefinitionError extends LocalDefinitionError {}

/** A Task state that no local handler is bound to (it would otherwise invoke real Lambda over the network). */
export interface UnboundTask {
  readonly stateName: string;
  /** The `${Name}` placeholder found in `Resource` or `Parameters.FunctionName`, if any. */
  readonly placeholder: string | undefined;
  readonly resource: string;
}

/** One or more Task states have no local handler. Lists every one of them, not just the first. */
export class UnboundTaskError extends LocalDefinitionError {
  constructor(readonly tasks: readonly UnboundTask[]) {
    const list = tasks
      .map((t) =>
        t.placeholder === undefined
          ? `"${t.stateName}" (resource ${t.resource}, no placeholder: bind it through stateHandlers)`
          : `"${t.stateName}" (placeholder ${t.placeholder})`,
      )
      .join(', ');
    super(undefined, `no local handler bound for Task state(s): ${list}`);
  }
}

/** `QueryLanguage: "JSONata"` (or a JSONata-only field): the library evaluates JSONPath only. */
export class JsonataNotSupportedError extends LocalDefinitionError {}

/**
 * A Distributed Map construct the runner does not emulate (CSV or manifest readers, WriterConfig, `*Path` settings,
 * ...), or a Distributed Map field on an inline Map. The message names the field.
 */
export class DistributedMapNotSupportedError extends LocalDefinitionError {}

/** A Distributed Map reads items from or writes results to S3, and LocalRunnerOptions.s3 was not given. */
export class MissingS3ClientError extends LocalDefinitionError {}

/** `Assign` or a `$variable` reference: the library silently ignores variables. */
export class AssignNotSupportedError extends LocalDefinitionError {}

/** `ResultPath: "$"`: the library writes the result under a key literally named `$` instead of replacing the input. */
export class RootResultPathError extends LocalDefinitionError {}

/** A Pass state whose `Result` is falsy (0, false, "", null): the library ignores it and passes the input through. */
export class FalsyPassResultError extends LocalDefinitionError {}

/** A Task state without a positive integer `TimeoutSeconds` (the library would apply 60 s; AWS applies none). */
export class MissingTaskTimeoutError extends LocalDefinitionError {}

/** HeartbeatSecondsPath on an activity Task without a Parameters object, through which the runner reads it. */
export class HeartbeatPathNotSupportedError extends LocalDefinitionError {}

/** A `$$` context path the local runner cannot provide with AWS's meaning at that place. */
export class UnsupportedContextPathError extends LocalDefinitionError {
  constructor(
    stateName: string,
    readonly path: string,
    reason: string,
  ) {
    super(stateName, `context path ${path} is not supported here locally: ${reason}`);
  }
}

/** Two states share a name (across Map iterators and Parallel branches too); local handlers are bound by name. */
export class DuplicateStateNameError extends LocalDefinitionError {}

/** A `${Name}` placeholder that is neither a Task binding nor given in `substitutions`. */
export class UnresolvedSubstitutionError extends LocalDefinitionError {
  constructor(readonly placeholders: readonly { name: string; stateName: string | undefined }[]) {
    const list = placeholders.map((p) => `\${${p.name}}${p.stateName ? ` in "${p.stateName}"` : ''}`).join(', ');
    super(undefined, `placeholder(s) with no value: ${list}; pass them in the substitutions option`);
  }
}

/** Runner options that name states the definition does not have, or the wrong kind of state. */
export class InvalidRunnerOptionsError extends OrchestrationError {}

/**
 * A task failure with a Step Functions error name, as SendTaskFailure reports it. `name` is the error name, so
 * `ErrorEquals: ["<error>"]` matches it; a Catch sees `{ Error: error, Cause: cause }`.
 * Handlers may throw it too when they want to choose the error name and cause verbatim.
 */
export class TaskFailedError extends Error {
  constructor(
    readonly error: string,
    override readonly cause: string = '',
  ) {
    super(cause);
    this.name = error;
  }
}

/** A task token that was never issued, or whose task already completed, failed or was aborted. */
export class TaskDoesNotExistError extends OrchestrationError {}

/** A task token whose task's TimeoutSeconds elapsed before it was completed. */
export class TaskTimedOutError extends OrchestrationError {}

/** The execution failed: `error` and `cause` are what DescribeExecution would report. */
export class ExecutionFailedError extends OrchestrationError {
  constructor(
    readonly executionName: string,
    readonly error: string,
    override readonly cause: string,
  ) {
    super(`execution ${executionName} failed: ${error}${cause ? `: ${cause}` : ''}`);
  }
}

/** The machine's top-level TimeoutSeconds elapsed. */
export class ExecutionTimedOutError extends OrchestrationError {
  constructor(readonly executionName: string) {
    super(`execution ${executionName} timed out`);
  }
}

/** The execution was aborted through `abort()`. */
export class ExecutionAbortedError extends OrchestrationError {
  constructor(readonly executionName: string) {
    super(`execution ${executionName} was aborted`);
  }
}

/** GetActivityTask, DescribeActivity or a schedule named an activity that was never created or registered. */
export class ActivityDoesNotExistError extends OrchestrationError {}

/** An activity name or ARN that Step Functions would refuse. */
export class InvalidActivityNameError extends OrchestrationError {}
