// Which IP addresses are not on the public internet: what callbacks may not call by default
// (daemon/callbacks.ts) and where the CLI talks plain http to a relay named without a scheme.
import { BlockList, isIP } from 'node:net';

/** Private, loopback, link-local (cloud metadata), shared, documentation, multicast and reserved ranges. */
const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 3],
] as const) PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 127], ['64:ff9b::', 96], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) PRIVATE.addSubnet(net, bits, 'ipv6');

/** Whether `address` (an IP) is in a private, loopback, link-local or reserved range; BlockList checks an IPv4-mapped one (`::ffff:…`) against the IPv4 ranges. */
export const isPrivateAddress = (address: string): boolean => PRIVATE.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');

/** A URL's host without an IPv6 literal's brackets: what isIP and the resolver take. */
export const bareHost = (url: URL) => url.hostname.replace(/^\[|\]$/g, '');
