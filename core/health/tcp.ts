import { connect } from 'node:net';
import { describeSocketError, type ProbeLimits, type ProbeOutcome, withProbeLimits } from './probe.js';

/**
 * Whether a TCP connection to `address`:`port` is accepted within the limit. Only the handshake counts: nothing is
 * sent, and the connection is closed at once.
 */
export function probeTcp(address: string, port: number, limits: ProbeLimits): Promise<ProbeOutcome> {
  const what = `tcp ${address}:${port}`;
  return withProbeLimits(limits, what, (settle) => {
    const socket = connect({ host: address, port });
    socket.once('connect', () => settle({ passed: true, detail: `${what}: connection accepted` }));
    socket.once('error', (error) => settle({ passed: false, detail: `${what}: ${describeSocketError(error)}` }));
    return () => socket.destroy();
  });
}
