import {
  EBSClient,
  GetSnapshotBlockCommand,
  InternalServerException,
  ListChangedBlocksCommand,
  RequestThrottledException,
  ResourceNotFoundException,
  ValidationException,
} from '@aws-sdk/client-ebs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { EbsBlockSource } from '../../core/adapters/aws/ebs-block-source.js';
import {
  RequestRejectedError,
  SnapshotNotFoundError,
  ThrottledError,
  TransientError,
  UnrelatedSnapshotsError,
} from '../../core/errors.js';

const ebs = mockClient(EBSClient);
const source = new EbsBlockSource(new EBSClient({ region: 'us-east-1' }));
const meta = { $metadata: {} };

afterEach(() => ebs.reset());

describe('EBS error mapping', () => {
  it.each(['ACCOUNT_THROTTLED', 'DEPENDENCY_REQUEST_THROTTLED', 'RESOURCE_LEVEL_THROTTLE'] as const)(
    'treats RequestThrottledException %s as throttling the governor must react to',
    async (reason) => {
      ebs
        .on(GetSnapshotBlockCommand)
        .rejects(new RequestThrottledException({ message: 'slow down', Reason: reason, ...meta }));
      const error = await source.getSnapshotBlock('snap-1', 0, 't').catch((e) => e);
      expect(error).toBeInstanceOf(ThrottledError);
      expect(error.retryable && error.throttled).toBe(true);
    },
  );

  it('retries InternalServerException and "Failed to read block data"', async () => {
    ebs.on(GetSnapshotBlockCommand).rejects(new InternalServerException({ message: 'boom', ...meta }));
    expect(await source.getSnapshotBlock('snap-1', 0, 't').catch((e) => e)).toBeInstanceOf(TransientError);
    ebs.reset();
    ebs.on(GetSnapshotBlockCommand).rejects(new ValidationException({ message: 'Failed to read block data', ...meta }));
    expect(await source.getSnapshotBlock('snap-1', 0, 't').catch((e) => e)).toBeInstanceOf(TransientError);
  });

  it('does not retry other validation errors, and names the reason', async () => {
    ebs
      .on(GetSnapshotBlockCommand)
      .rejects(new ValidationException({ message: 'bad token', Reason: 'INVALID_BLOCK_TOKEN', ...meta }));
    const error = await source.getSnapshotBlock('snap-1', 0, 't').catch((e) => e);
    expect(error).toBeInstanceOf(RequestRejectedError);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('INVALID_BLOCK_TOKEN');
  });

  it('maps UNRELATED_SNAPSHOTS to a named error that names both snapshots', async () => {
    ebs
      .on(ListChangedBlocksCommand)
      .rejects(new ValidationException({ message: 'unrelated', Reason: 'UNRELATED_SNAPSHOTS', ...meta }));
    const error = await source.listChangedBlocks('snap-a', 'snap-b').catch((e) => e);
    expect(error).toBeInstanceOf(UnrelatedSnapshotsError);
    expect(error.message).toMatch(/snap-a.*snap-b/);
  });

  it('names the missing snapshot, first or second', async () => {
    ebs.on(ListChangedBlocksCommand).rejects(
      new ResourceNotFoundException({
        message: "The snapshot 'snap-a' does not exist.",
        Reason: 'SNAPSHOT_NOT_FOUND',
        ...meta,
      }),
    );
    const error = await source.listChangedBlocks('snap-a', 'snap-b').catch((e) => e);
    expect(error).toBeInstanceOf(SnapshotNotFoundError);
    expect(error.snapshotId).toBe('snap-a');
  });
});
