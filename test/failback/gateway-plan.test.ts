import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.js';
import { InvalidFailbackRequestError } from '../../core/failback/errors.js';
import { MAX_VOLUMES_PER_GATEWAY } from '../../core/failback/gateway-devices.js';
import { gatewayOfVolume, planGateways, targetGateways } from '../../core/failback/gateway-plan.js';
import { parseFailbackRequest } from '../../core/failback/request.js';
import type { RunVolume } from '../../core/failback/run-state.js';

/** `counts[i]` volumes for host `h<i>`, keyed `h<i>-v<j>`, in request order as ValidateRequest lists them. */
function volumesOf(...counts: number[]): RunVolume[] {
  return counts.flatMap((count, host) =>
    Array.from({ length: count }, (_, j) => ({
      hostId: `h${host}`,
      volumeId: `vol-${host}-${j}`,
      device: `/dev/xvd${String.fromCharCode(98 + j)}`,
      sizeBytes: 1 << 20,
      volumeKey: `h${host}-v${j}`,
    })),
  );
}

/** Each gateway as the hosts it holds volumes of, with how many: `h0:3 h1:2`. */
const layout = (gateways: RunVolume[][]) =>
  gateways.map((volumes) =>
    [...new Set(volumes.map((volume) => volume.hostId))]
      .map((host) => `${host}:${volumes.filter((volume) => volume.hostId === host).length}`)
      .join(' '),
  );

describe('planGateways: spreading a run’s volumes over sync gateways', () => {
  it('keeps each host’s volumes on one gateway, hosts in request order, a host that does not fit opening the next', () => {
    expect(layout(planGateways(volumesOf(3, 2, 4, 1, 5), 6))).toEqual(['h0:3 h1:2', 'h2:4 h3:1', 'h4:5']);
  });

  it('uses ceil(volumes / volumesPerGateway) gateways when hosts fill them exactly: 48 volumes, 12 a gateway, 4 gateways', () => {
    const plan = planGateways(volumesOf(6, 6, 6, 6, 6, 6, 6, 6), 12);

    expect(plan).toHaveLength(4);
    expect(plan.every((gateway) => gateway.length === 12)).toBe(true);
  });

  it('needs more gateways than the volume count alone says when hosts do not share one (next-fit, never a split host that fits)', () => {
    expect(layout(planGateways(volumesOf(3, 3, 3), 5))).toEqual(['h0:3', 'h1:3', 'h2:3']);
  });

  it('splits a host with more volumes than a gateway holds: whole gateways of its own, the rest shared with the next host', () => {
    expect(layout(planGateways(volumesOf(1, 7, 2), 3))).toEqual(['h0:1', 'h1:3', 'h1:3', 'h1:1 h2:2']);
    expect(planGateways(volumesOf(25), MAX_VOLUMES_PER_GATEWAY).map((gateway) => gateway.length)).toEqual([21, 4]);
  });

  it('puts every volume on exactly one gateway, in request order', () => {
    const volumes = volumesOf(2, 5, 1, 4);

    expect(planGateways(volumes, 4).flat()).toEqual(volumes);
  });

  it.each([0, 22, 2.5])('refuses volumesPerGateway %s with InvalidInputError naming the field', (perGateway) => {
    expect(() => planGateways(volumesOf(1), perGateway)).toThrow(InvalidInputError);
    expect(() => planGateways(volumesOf(1), perGateway)).toThrow(/volumesPerGateway/);
  });
});

describe('the request’s target.volumesPerGateway', () => {
  const request = (target: Record<string, unknown>) => ({
    method: 'automated',
    hosts: ['i-1'],
    target: { platform: 'aws', region: 'eu-west-1', ...target },
  });

  it('defaults to 21, the device names /dev/sdf–/dev/sdz one gateway attaches', () => {
    expect(parseFailbackRequest(request({}))).toMatchObject({ target: { volumesPerGateway: 21 } });
    expect(parseFailbackRequest(request({ volumesPerGateway: 4 }))).toMatchObject({ target: { volumesPerGateway: 4 } });
  });

  it.each([0, 22, 1.5, '8'])('refuses %s with InvalidFailbackRequestError naming target.volumesPerGateway', (value) => {
    const parse = () => parseFailbackRequest(request({ volumesPerGateway: value }));
    expect(parse).toThrow(InvalidFailbackRequestError);
    expect(parse).toThrow(/failback request field target\.volumesPerGateway/);
  });

  it('is not a field of the conditional-automated request (its agent applies every disk itself)', () => {
    expect(() =>
      parseFailbackRequest({
        method: 'conditional-automated',
        hosts: ['i-1'],
        target: { platform: 'vsphere', volumesPerGateway: 4 },
      }),
    ).toThrow(InvalidFailbackRequestError);
  });
});

describe('targetGateways: the run’s gateways from its target state', () => {
  const volumes = [
    { volumeKey: 'a', targetVolumeId: 'vol-ta', gatewayDevice: '/dev/sdf' },
    { volumeKey: 'b', targetVolumeId: 'vol-tb', gatewayDevice: '/dev/sdg' },
  ];

  it('reads the state of a run prepared with one gateway (gatewayHostId) as that gateway holding every volume', () => {
    const target = { gatewayHostId: 'i-old', volumes };

    expect(targetGateways(target)).toEqual([{ hostId: 'i-old', volumeKeys: ['a', 'b'] }]);
    expect(gatewayOfVolume(target, 'b')).toBe('i-old');
  });

  it('finds the gateway holding each volume, and refuses a volume no gateway holds', () => {
    const target = {
      gateways: [
        { hostId: 'i-1', volumeKeys: ['a'] },
        { hostId: 'i-2', volumeKeys: ['b'] },
      ],
      volumes,
    };

    expect(gatewayOfVolume(target, 'a')).toBe('i-1');
    expect(gatewayOfVolume(target, 'b')).toBe('i-2');
    expect(() => gatewayOfVolume(target, 'c')).toThrow(/no sync gateway of the run holds c/);
    expect(() => targetGateways({ volumes })).toThrow(InvalidInputError);
  });
});
