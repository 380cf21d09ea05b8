/**
 * A Distributed Map's S3 side: reading its items (ItemReader) and exporting its children's results (ResultWriter),
 * in the shapes AWS documents. Failures become the Step Functions errors AWS reports for them.
 */
import { GetObjectCommand, PutObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import type { ItemReaderConfig } from './distributed-map-config.js';
import { StatesTaskError } from './invocation.js';
import { isJsonObject, type JsonObject, type JsonValue } from './json.js';

/**
 * Reads the items of a map run. `parameters` are the ItemReader's Parameters already resolved against the state's
 * input. getObject: the object must hold a JSON array. listObjectsV2: one item per object, as AWS gives it
 * (`Etag`, `Key`, `LastModified` in epoch seconds, `Size`, `StorageClass`). ReaderConfig.MaxItems keeps the first N.
 * @throws StatesTaskError States.ItemReaderFailed when S3 fails, a parameter is not a string, or the object is not a
 *   JSON array.
 */
export async function readItems(
  s3: S3Client,
  reader: ItemReaderConfig,
  parameters: JsonValue,
  maxItems: number | undefined,
): Promise<JsonValue[]> {
  const limit = maxItems ?? Number.POSITIVE_INFINITY;
  const bucket = stringParameter(parameters, 'Bucket', 'ItemReader');
  try {
    if (reader.source === 'json-object') {
      const key = stringParameter(parameters, 'Key', 'ItemReader');
      const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const text = (await response.Body?.transformToString('utf8')) ?? '';
      const items: unknown = JSON.parse(text);
      if (!Array.isArray(items)) throw new Error(`s3://${bucket}/${key} does not hold a JSON array`);
      const jsonItems: JsonValue[] = items;
      return jsonItems.slice(0, limit);
    }
    const prefix =
      isJsonObject(parameters) && parameters.Prefix !== undefined
        ? stringParameter(parameters, 'Prefix', 'ItemReader', { allowEmpty: true })
        : undefined;
    const items: JsonValue[] = [];
    for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix })) {
      for (const object of page.Contents ?? []) {
        if (items.length >= limit) return items;
        items.push({
          Etag: object.ETag ?? '',
          Key: object.Key ?? '',
          LastModified: Math.floor((object.LastModified?.getTime() ?? 0) / 1000),
          Size: object.Size ?? 0,
          StorageClass: object.StorageClass ?? 'STANDARD',
        });
      }
    }
    return items;
  } catch (error) {
    if (error instanceof StatesTaskError) throw error;
    throw new StatesTaskError('States.ItemReaderFailed', error instanceof Error ? error.message : String(error));
  }
}

/** One child execution as ResultWriter exports it (AWS's field names; Input and Output are JSON text). */
export interface ChildResultEntry {
  readonly ExecutionArn: string;
  readonly Name: string;
  readonly StateMachineArn: string;
  readonly Status: 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
  readonly Input: string;
  readonly InputDetails: { readonly Included: true };
  readonly Output?: string;
  readonly OutputDetails?: { readonly Included: true };
  readonly Error?: string;
  readonly Cause?: string;
  readonly StartDate: string;
  readonly StopDate: string;
  readonly RedriveCount: 0;
  readonly RedriveStatus: 'NOT_REDRIVABLE';
}

/** What a map run's export holds. */
export interface ResultExport {
  readonly mapRunArn: string;
  /** The last part of the map run ARN; results go under `<Prefix>/<mapRunId>/`. */
  readonly mapRunId: string;
  readonly entries: readonly ChildResultEntry[];
}

/**
 * Writes `SUCCEEDED_0.json` / `FAILED_0.json` (only statuses that occurred; ABORTED and TIMED_OUT children count as
 * FAILED) and `manifest.json` under `<Prefix>/<map run id>/`, and returns the state's output AWS gives then:
 * `{ MapRunArn, ResultWriterDetails: { Bucket, Key } }` with the manifest's key.
 * @throws StatesTaskError States.ResultWriterFailed when S3 fails or Bucket/Prefix are not strings.
 */
export async function writeResults(s3: S3Client, parameters: JsonValue, run: ResultExport): Promise<JsonObject> {
  const bucket = stringParameter(parameters, 'Bucket', 'ResultWriter');
  const rawPrefix =
    isJsonObject(parameters) && parameters.Prefix !== undefined
      ? stringParameter(parameters, 'Prefix', 'ResultWriter', { allowEmpty: true })
      : '';
  const base = [rawPrefix.replace(/\/+$/, ''), run.mapRunId].filter((part) => part !== '').join('/');
  const put = async (key: string, body: string): Promise<{ Key: string; Size: number }> => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }));
    return { Key: key, Size: Buffer.byteLength(body, 'utf8') };
  };
  try {
    const succeeded = run.entries.filter((entry) => entry.Status === 'SUCCEEDED');
    const failed = run.entries.filter((entry) => entry.Status !== 'SUCCEEDED');
    const files: { SUCCEEDED: object[]; FAILED: object[]; PENDING: object[] } = {
      SUCCEEDED: [],
      FAILED: [],
      PENDING: [],
    };
    if (succeeded.length > 0) files.SUCCEEDED.push(await put(`${base}/SUCCEEDED_0.json`, JSON.stringify(succeeded)));
    if (failed.length > 0) files.FAILED.push(await put(`${base}/FAILED_0.json`, JSON.stringify(failed)));
    const manifestKey = `${base}/manifest.json`;
    const manifest = { DestinationBucket: bucket, MapRunArn: run.mapRunArn, ResultFiles: files };
    await put(manifestKey, JSON.stringify(manifest));
    return { MapRunArn: run.mapRunArn, ResultWriterDetails: { Bucket: bucket, Key: manifestKey } };
  } catch (error) {
    throw new StatesTaskError('States.ResultWriterFailed', error instanceof Error ? error.message : String(error));
  }
}

function stringParameter(parameters: JsonValue, key: string, field: string, options = { allowEmpty: false }): string {
  const value = isJsonObject(parameters) ? parameters[key] : undefined;
  if (typeof value !== 'string' || (value === '' && !options.allowEmpty)) {
    const error = field === 'ItemReader' ? 'States.ItemReaderFailed' : 'States.ResultWriterFailed';
    throw new StatesTaskError(
      error,
      `${field}.Parameters.${key} resolved to ${JSON.stringify(value ?? null)}, not a string`,
    );
  }
  return value;
}
