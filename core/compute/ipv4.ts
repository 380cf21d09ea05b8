/**
 * IPv4 addresses and CIDR blocks as plain numbers: what subnets, kept addresses and the request's network remap are
 * checked with (core/failback/host-settings.ts) and what the local compute adapter assigns addresses from.
 */

/** A CIDR block: its first address as a 32-bit number and its prefix length. */
export interface Cidr {
  readonly base: number;
  readonly prefixLength: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** The address as a number, or undefined when it is not a dotted-quad IPv4 address. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((part) => OCTET.test(part))) return undefined;
  return parts.reduce((value, part) => value * 256 + Number(part), 0);
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/**
 * The block, or undefined when `text` is not `a.b.c.d/n` (0 ≤ n ≤ 32) with no host bits set (`10.0.0.1/24` is
 * refused: it names an address, not a block).
 */
export function parseCidr(text: string): Cidr | undefined {
  const [address, prefix, extra] = text.split('/');
  if (address === undefined || prefix === undefined || extra !== undefined || !/^\d{1,2}$/.test(prefix)) return;
  const base = parseIpv4(address);
  const prefixLength = Number(prefix);
  if (base === undefined || prefixLength > 32) return undefined;
  if (base % blockSize(prefixLength) !== 0) return undefined;
  return { base, prefixLength };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.base)}/${cidr.prefixLength}`;
}

/** How many addresses the block holds. */
export function blockSize(prefixLength: number): number {
  return 2 ** (32 - prefixLength);
}

export function cidrContains(cidr: Cidr, address: number): boolean {
  return address >= cidr.base && address < cidr.base + blockSize(cidr.prefixLength);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b.base) || cidrContains(b, a.base);
}

/**
 * Whether an instance may have the address in a subnet of that block: inside it, and not one of the five EC2 reserves
 * in every subnet (the network address, the next three — router, DNS, future use — and the last, broadcast).
 */
export function isUsableInSubnet(cidr: Cidr, address: number): boolean {
  const offset = address - cidr.base;
  return cidrContains(cidr, address) && offset > 3 && offset < blockSize(cidr.prefixLength) - 1;
}

/** The first usable address of the block not in `taken`, or undefined when the block is full. */
export function firstFreeAddress(cidr: Cidr, taken: ReadonlySet<number>): number | undefined {
  for (let offset = 4; offset < blockSize(cidr.prefixLength) - 1; offset++) {
    if (!taken.has(cidr.base + offset)) return cidr.base + offset;
  }
  return undefined;
}
