/**
 * What a Distributed Map state asks for, read strictly from its definition. Everything the runner emulates is parsed
 * into a {@link DistributedMapConfig}; everything else is refused at load with a named error naming the field, so a
 * definition never runs differently locally than on AWS without saying so.
 */
import { DistributedMapNotSupportedError, InvalidDefinitionError } from './errors.js';
import { isJsonObject, type JsonObject, type JsonValue } from './json.js';

/** `arn:aws:states:::s3:getObject` with `ReaderConfig.InputType: "JSON"`: the object is a JSON array of items. */
export const S3_GET_OBJECT = 'arn:aws:states:::s3:getObject';
/** `arn:aws:states:::s3:listObjectsV2`: one item per object under Bucket/Prefix. */
export const S3_LIST_OBJECTS = 'arn:aws:states:::s3:listObjectsV2';
/** ResultWriter's only resource. */
export const S3_PUT_OBJECT = 'arn:aws:states:::s3:putObject';

/** Step Functions caps MaxInputBytesPerBatch at the 256 KiB payload quota. */
const MAX_BATCH_BYTES = 256 * 1024;
/** AWS's limit on a Map Run label. */
const MAX_LABEL_LENGTH = 40;

export interface ItemReaderConfig {
  readonly source: 'json-object' | 'list-objects';
  /** Bucket, Key (json-object) or Prefix (list-objects); `.$` keys are paths into the state's effective input. */
  readonly parameters: JsonObject;
}

export interface ItemBatcherConfig {
  /** A payload template over the state's effective input; its result is each batch's `BatchInput`. */
  readonly batchInput: JsonObject | undefined;
}

/** The numbers that shape a map run; each may instead be read from the input through its `*Path` field. */
export interface MapRunSettings {
  /** 0 means as many as allowed (AWS: 10,000; locally capped, see DISTRIBUTED_MAP_CONCURRENCY_CAP). */
  readonly maxConcurrency: number;
  /** Undefined when not set; with neither tolerance set, any failed item fails the map run. */
  readonly toleratedFailurePercentage: number | undefined;
  readonly toleratedFailureCount: number | undefined;
  readonly maxItemsPerBatch: number | undefined;
  readonly maxInputBytesPerBatch: number | undefined;
  /** ItemReader.ReaderConfig.MaxItems. */
  readonly maxItems: number | undefined;
}

interface SettingRule {
  readonly key: keyof MapRunSettings;
  /** Where the field sits: on the state, or in one of its objects. */
  readonly holder: 'state' | 'ItemBatcher' | 'ItemReader.ReaderConfig';
  readonly field: string;
  readonly accept: (value: JsonValue) => value is number;
}

/** Every setting, its field (its `*Path` variant is `${field}Path`) and the values AWS accepts. */
export const MAP_RUN_SETTINGS: readonly SettingRule[] = [
  { key: 'maxConcurrency', holder: 'state', field: 'MaxConcurrency', accept: isCount },
  { key: 'toleratedFailurePercentage', holder: 'state', field: 'ToleratedFailurePercentage', accept: isPercentage },
  { key: 'toleratedFailureCount', holder: 'state', field: 'ToleratedFailureCount', accept: isCount },
  { key: 'maxItemsPerBatch', holder: 'ItemBatcher', field: 'MaxItemsPerBatch', accept: isPositiveCount },
  { key: 'maxInputBytesPerBatch', holder: 'ItemBatcher', field: 'MaxInputBytesPerBatch', accept: isBatchBytes },
  { key: 'maxItems', holder: 'ItemReader.ReaderConfig', field: 'MaxItems', accept: isPositiveCount },
];

/** A Distributed Map state as the runner emulates it. */
export interface DistributedMapConfig {
  readonly stateName: string;
  /** The Map Run label: `Label`, else the state name (as the ARNs of its map run and children show it). */
  readonly label: string;
  readonly executionType: 'STANDARD' | 'EXPRESS';
  /** The child state machine: ItemProcessor without its ProcessorConfig. */
  readonly processor: JsonObject;
  readonly itemsPath: string | undefined;
  readonly itemReader: ItemReaderConfig | undefined;
  readonly itemSelector: JsonObject | undefined;
  readonly itemBatcher: ItemBatcherConfig | undefined;
  /** The settings given as values. */
  readonly settings: MapRunSettings;
  /** The settings given as reference paths into the effective input (`MaxConcurrencyPath`, ...), by key. */
  readonly settingPaths: Readonly<Partial<Record<keyof MapRunSettings, string>>>;
  /** Bucket and Prefix, `.$` keys allowed. */
  readonly resultWriter: JsonObject | undefined;
}

/** True for a Map state whose ItemProcessor runs in DISTRIBUTED mode. */
export function isDistributedMap(state: JsonObject): boolean {
  const processor = state.ItemProcessor;
  return (
    state.Type === 'Map' &&
    isJsonObject(processor) &&
    isJsonObject(processor.ProcessorConfig) &&
    processor.ProcessorConfig.Mode === 'DISTRIBUTED'
  );
}

/** The state fields a Distributed Map may carry locally (JSONata and Assign are refused before this is asked). */
const STATE_FIELDS = new Set([
  'Type',
  'Comment',
  'QueryLanguage',
  'ItemProcessor',
  'ItemReader',
  'ItemsPath',
  'ItemSelector',
  'ItemBatcher',
  'MaxConcurrency',
  'MaxConcurrencyPath',
  'ToleratedFailurePercentage',
  'ToleratedFailurePercentagePath',
  'ToleratedFailureCount',
  'ToleratedFailureCountPath',
  'Label',
  'ResultWriter',
  'InputPath',
  'OutputPath',
  'ResultPath',
  'ResultSelector',
  'Retry',
  'Catch',
  'Next',
  'End',
]);

/** Fields that exist only on a Distributed Map; on an inline Map the runner refuses them. */
export const DISTRIBUTED_ONLY_FIELDS = [
  'ItemReader',
  'ItemBatcher',
  'ResultWriter',
  'ToleratedFailurePercentage',
  'ToleratedFailurePercentagePath',
  'ToleratedFailureCount',
  'ToleratedFailureCountPath',
  'Label',
];

/**
 * Parses a Distributed Map state.
 * @throws DistributedMapNotSupportedError for a field or value the runner does not emulate (naming it);
 *   InvalidDefinitionError for a value AWS would refuse.
 */
export function parseDistributedMap(name: string, state: JsonObject): DistributedMapConfig {
  const unsupported = (field: string, why: string) => new DistributedMapNotSupportedError(name, `${field}: ${why}`);
  const invalid = (field: string, why: string) => new InvalidDefinitionError(name, `${field}: ${why}`);
  for (const field of Object.keys(state)) {
    if (!STATE_FIELDS.has(field)) {
      throw unsupported(field, 'not emulated on a Distributed Map locally (Parameters included: use ItemSelector)');
    }
  }
  const processor = state.ItemProcessor;
  if (!isJsonObject(processor) || !isJsonObject(processor.ProcessorConfig)) {
    throw invalid('ItemProcessor', 'a Distributed Map needs an ItemProcessor with a ProcessorConfig');
  }
  const { ProcessorConfig: processorConfig, ...childMachine } = processor;
  const executionType = processorConfig.ExecutionType;
  if (executionType !== 'STANDARD' && executionType !== 'EXPRESS') {
    throw invalid('ItemProcessor.ProcessorConfig.ExecutionType', 'must be STANDARD or EXPRESS');
  }
  const itemReader = parseItemReader(state.ItemReader, unsupported, invalid);
  if (itemReader !== undefined && state.ItemsPath !== undefined) {
    throw unsupported('ItemsPath', 'not emulated together with an ItemReader (the reader gives the items)');
  }
  const label = optional(state.Label, 'Label', invalid, isLabel) ?? name;
  return {
    stateName: name,
    label,
    executionType,
    processor: childMachine,
    itemsPath: optional(
      state.ItemsPath,
      'ItemsPath',
      invalid,
      (v): v is string => typeof v === 'string' && v.startsWith('$'),
    ),
    itemReader,
    itemSelector: optional(state.ItemSelector, 'ItemSelector', invalid, isJsonObject),
    itemBatcher: parseItemBatcher(state.ItemBatcher, unsupported, invalid),
    ...parseSettings(state, invalid),
    resultWriter: parseResultWriter(state.ResultWriter, unsupported, invalid),
  };
}

type FieldError = (field: string, why: string) => Error;

function parseItemReader(
  value: JsonValue | undefined,
  unsupported: FieldError,
  invalid: FieldError,
): ItemReaderConfig | undefined {
  if (value === undefined) return undefined;
  if (!isJsonObject(value)) throw invalid('ItemReader', 'must be an object');
  onlyKeys(value, 'ItemReader', ['Resource', 'Parameters', 'ReaderConfig'], unsupported);
  const config = value.ReaderConfig ?? {};
  if (!isJsonObject(config)) throw invalid('ItemReader.ReaderConfig', 'must be an object');
  onlyKeys(config, 'ItemReader.ReaderConfig', ['InputType', 'MaxItems', 'MaxItemsPath'], unsupported);
  const parameters = value.Parameters;
  if (!isJsonObject(parameters)) throw invalid('ItemReader.Parameters', 'must be an object with Bucket');
  if (value.Resource === S3_GET_OBJECT) {
    if (config.InputType !== 'JSON') {
      throw unsupported(
        'ItemReader.ReaderConfig.InputType',
        `${JSON.stringify(config.InputType ?? null)}: only JSON (an object holding a JSON array) is emulated`,
      );
    }
    requireKeys(parameters, 'ItemReader.Parameters', ['Bucket', 'Key'], unsupported, invalid);
    return { source: 'json-object', parameters };
  }
  if (value.Resource === S3_LIST_OBJECTS) {
    if (config.InputType !== undefined) {
      throw invalid('ItemReader.ReaderConfig.InputType', 'listObjectsV2 takes no InputType');
    }
    requireKeys(parameters, 'ItemReader.Parameters', ['Bucket'], unsupported, invalid, ['Prefix']);
    return { source: 'list-objects', parameters };
  }
  throw unsupported(
    'ItemReader.Resource',
    `${JSON.stringify(value.Resource ?? null)}: only ${S3_GET_OBJECT} (InputType JSON) and ${S3_LIST_OBJECTS} are emulated`,
  );
}

function parseItemBatcher(
  value: JsonValue | undefined,
  unsupported: FieldError,
  invalid: FieldError,
): ItemBatcherConfig | undefined {
  if (value === undefined) return undefined;
  if (!isJsonObject(value)) throw invalid('ItemBatcher', 'must be an object');
  const limits = ['MaxItemsPerBatch', 'MaxItemsPerBatchPath', 'MaxInputBytesPerBatch', 'MaxInputBytesPerBatchPath'];
  onlyKeys(value, 'ItemBatcher', [...limits, 'BatchInput'], unsupported);
  if (!limits.some((limit) => limit in value)) {
    throw invalid('ItemBatcher', 'needs MaxItemsPerBatch or MaxInputBytesPerBatch (or their Path variants)');
  }
  return { batchInput: optional(value.BatchInput, 'ItemBatcher.BatchInput', invalid, isJsonObject) };
}

/** Each setting as a value or as a `*Path` reference path (not both), checked like AWS checks them. */
function parseSettings(
  state: JsonObject,
  invalid: FieldError,
): Pick<DistributedMapConfig, 'settings' | 'settingPaths'> {
  const settings: Record<string, number | undefined> = {};
  const settingPaths: Partial<Record<keyof MapRunSettings, string>> = {};
  for (const rule of MAP_RUN_SETTINGS) {
    const holder = holderOf(state, rule.holder);
    const where = rule.holder === 'state' ? '' : `${rule.holder}.`;
    const value = holder?.[rule.field];
    const path = holder?.[`${rule.field}Path`];
    if (value !== undefined && path !== undefined) {
      throw invalid(`${where}${rule.field}Path`, `give ${rule.field} or ${rule.field}Path, not both`);
    }
    settings[rule.key] = optional(value, `${where}${rule.field}`, invalid, rule.accept);
    if (path !== undefined) {
      if (typeof path !== 'string' || !path.startsWith('$')) {
        throw invalid(`${where}${rule.field}Path`, `${JSON.stringify(path)} is not a reference path`);
      }
      settingPaths[rule.key] = path;
    }
  }
  return {
    settings: {
      maxConcurrency: settings.maxConcurrency ?? 0,
      toleratedFailurePercentage: settings.toleratedFailurePercentage,
      toleratedFailureCount: settings.toleratedFailureCount,
      maxItemsPerBatch: settings.maxItemsPerBatch,
      maxInputBytesPerBatch: settings.maxInputBytesPerBatch,
      maxItems: settings.maxItems,
    },
    settingPaths,
  };
}

function holderOf(state: JsonObject, holder: SettingRule['holder']): JsonObject | undefined {
  if (holder === 'state') return state;
  if (holder === 'ItemBatcher') return isJsonObject(state.ItemBatcher) ? state.ItemBatcher : undefined;
  const reader = state.ItemReader;
  return isJsonObject(reader) && isJsonObject(reader.ReaderConfig) ? reader.ReaderConfig : undefined;
}

function parseResultWriter(
  value: JsonValue | undefined,
  unsupported: FieldError,
  invalid: FieldError,
): JsonObject | undefined {
  if (value === undefined) return undefined;
  if (!isJsonObject(value)) throw invalid('ResultWriter', 'must be an object');
  onlyKeys(value, 'ResultWriter', ['Resource', 'Parameters'], unsupported);
  if (value.Resource !== S3_PUT_OBJECT) {
    throw unsupported(
      'ResultWriter.Resource',
      `${JSON.stringify(value.Resource ?? null)}: only ${S3_PUT_OBJECT} is emulated`,
    );
  }
  const parameters = value.Parameters;
  if (!isJsonObject(parameters)) throw invalid('ResultWriter.Parameters', 'must be an object with Bucket');
  requireKeys(parameters, 'ResultWriter.Parameters', ['Bucket'], unsupported, invalid, ['Prefix']);
  return parameters;
}

function onlyKeys(value: JsonObject, where: string, allowed: readonly string[], unsupported: FieldError): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw unsupported(`${where}.${key}`, 'not emulated locally');
  }
}

/** Each required key present (plain or `.$`), no key outside required + optional. */
function requireKeys(
  parameters: JsonObject,
  where: string,
  required: readonly string[],
  unsupported: FieldError,
  invalid: FieldError,
  optionalKeys: readonly string[] = [],
): void {
  const known = [...required, ...optionalKeys];
  for (const key of Object.keys(parameters)) {
    if (!known.includes(key.replace(/\.\$$/, ''))) throw unsupported(`${where}.${key}`, 'not emulated locally');
  }
  for (const key of required) {
    if (!(key in parameters) && !(`${key}.$` in parameters)) throw invalid(`${where}.${key}`, 'is required');
  }
}

function optional<T extends JsonValue>(
  value: JsonValue | undefined,
  field: string,
  invalid: FieldError,
  accept: (value: JsonValue) => value is T,
): T | undefined {
  if (value === undefined) return undefined;
  if (!accept(value)) throw invalid(field, `${JSON.stringify(value)} is not a valid value`);
  return value;
}

function isCount(value: JsonValue): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function isPositiveCount(value: JsonValue): value is number {
  return isCount(value) && value >= 1;
}

function isPercentage(value: JsonValue): value is number {
  return typeof value === 'number' && value >= 0 && value <= 100;
}

function isBatchBytes(value: JsonValue): value is number {
  return isPositiveCount(value) && value <= MAX_BATCH_BYTES;
}

function isLabel(value: JsonValue): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_LABEL_LENGTH && /^[\w-]+$/.test(value);
}
