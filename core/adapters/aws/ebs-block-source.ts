import {
  type EBSClient,
  GetSnapshotBlockCommand,
  ListChangedBlocksCommand,
  ListSnapshotBlocksCommand,
} from '@aws-sdk/client-ebs';
import { RequestRejectedError } from '../../errors.js';
import type { BlockPage, BlockSource, FetchedBlock, ListOptions } from '../../ports.js';
import { withRequestExtras } from './direct-http-handler.js';
import { mapEbsError } from './ebs-errors.js';
import { readDeclaredBody } from './response-body.js';

const GIB = 1024 ** 3;

/**
 * BlockSource over the EBS direct APIs. Give it a client built with `maxAttempts: 1`: the streamer owns retries
 * and pacing (a hidden SDK retry would hide throttling from the rate governor).
 */
export class EbsBlockSource implements BlockSource {
  constructor(private readonly client: EBSClient) {}

  async listSnapshotBlocks(snapshotId: string, options: ListOptions = {}): Promise<BlockPage> {
    try {
      const page = await this.client.send(
        new ListSnapshotBlocksCommand({
          SnapshotId: snapshotId,
          MaxResults: options.maxResults,
          NextToken: options.nextToken,
          StartingBlockIndex: options.startingBlockIndex,
        }),
      );
      return {
        blocks: (page.Blocks ?? []).map((block) => ({
          index: required(block.BlockIndex, 'BlockIndex'),
          token: block.BlockToken,
        })),
        nextToken: page.NextToken ?? undefined,
        volumeSizeBytes: required(page.VolumeSize, 'VolumeSize') * GIB,
        blockSize: required(page.BlockSize, 'BlockSize'),
      };
    } catch (error) {
      throw mapEbsError(error, { operation: 'ListSnapshotBlocks', snapshotId });
    }
  }

  async listChangedBlocks(
    firstSnapshotId: string,
    secondSnapshotId: string,
    options: ListOptions = {},
  ): Promise<BlockPage> {
    try {
      const page = await this.client.send(
        new ListChangedBlocksCommand({
          FirstSnapshotId: firstSnapshotId,
          SecondSnapshotId: secondSnapshotId,
          MaxResults: options.maxResults,
          NextToken: options.nextToken,
          StartingBlockIndex: options.startingBlockIndex,
        }),
      );
      return {
        blocks: (page.ChangedBlocks ?? []).map((block) => ({
          index: required(block.BlockIndex, 'BlockIndex'),
          token: block.SecondBlockToken,
        })),
        nextToken: page.NextToken ?? undefined,
        volumeSizeBytes: required(page.VolumeSize, 'VolumeSize') * GIB,
        blockSize: required(page.BlockSize, 'BlockSize'),
      };
    } catch (error) {
      throw mapEbsError(error, { operation: 'ListChangedBlocks', snapshotId: secondSnapshotId, firstSnapshotId });
    }
  }

  async getSnapshotBlock(
    snapshotId: string,
    blockIndex: number,
    blockToken: string,
    into?: Buffer,
    signal?: AbortSignal,
  ): Promise<FetchedBlock> {
    try {
      // The buffer and the signal travel on the input (withRequestExtras): an option to `send` would make the SDK
      // resolve its middleware stack again on every call.
      const input = { SnapshotId: snapshotId, BlockIndex: blockIndex, BlockToken: blockToken };
      const response = await this.client.send(
        new GetSnapshotBlockCommand(withRequestExtras(input, { bodyInto: into, signal })),
      );
      if (!response.BlockData)
        throw new RequestRejectedError(`GetSnapshotBlock ${blockIndex} of ${snapshotId} returned no data`);
      const data = await readDeclaredBody(response.BlockData, response.DataLength, into);
      if (response.ChecksumAlgorithm && response.ChecksumAlgorithm !== 'SHA256') {
        throw new RequestRejectedError(`unexpected checksum algorithm ${response.ChecksumAlgorithm}`);
      }
      return { data, checksum: response.Checksum ?? '', dataLength: response.DataLength ?? data.length };
    } catch (error) {
      throw mapEbsError(error, { operation: 'GetSnapshotBlock', snapshotId });
    }
  }
}

function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new RequestRejectedError(`EBS response lacks ${field}`);
  return value;
}
