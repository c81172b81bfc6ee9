// Per-VM mutual-TLS material: a CA made for one VM, a server certificate for the guest's berthd and a client
// certificate for the host (the relay, or the docker CLI where only TCP is possible). Only holders of the client key
// (the user's own 0700 directory) can reach the engine, although its TCP port is visible to every local user.
//
// Written with node's crypto and a small DER writer rather than a library: @peculiar/x509 (the well-kept one) adds
// 50 packages, a reflect-metadata polyfill and 350 KB to the bundle for three certificates of a fixed shape, and
// openssl is not on Windows. ECDSA P-256 keeps the handshakes cheap for a guest without hardware acceleration.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

// ---- DER ----
function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer) => tlv(0x03, Buffer.from([0]), b);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const explicit = (n: number, b: Buffer) => tlv(0xa0 | n, b);
function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && !(b[i + 1] & 0x80)) i++;
  const v = b.subarray(i);
  return tlv(0x02, v[0] & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}
function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0] + parts[1]];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [];
    for (let v = p; ; v = Math.floor(v / 128)) {
      chunk.unshift((v % 128) | (chunk.length ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'; // YYYYMMDDHHMMSSZ
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}
const name = (cn: string) => seq(set(seq(oid('2.5.4.3'), utf8(cn))));
const extension = (id: string, critical: boolean, value: Buffer) =>
  seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

interface CertSpec {
  subject: string;
  issuer: string;
  publicKey: crypto.KeyObject;
  signer: crypto.KeyObject;
  ca?: boolean;
  usage?: typeof SERVER_AUTH | typeof CLIENT_AUTH;
  dns?: string[];
  ips?: string[];
  days: number;
}

function certificate(spec: CertSpec): string {
  const serial = crypto.randomBytes(16);
  serial[0] &= 0x7f;
  const now = Date.now();
  const exts = [
    extension('2.5.29.19', true, spec.ca ? seq(bool(true)) : seq()),
    // keyUsage: keyCertSign + cRLSign for the CA, digitalSignature for the leaves.
    extension('2.5.29.15', true, spec.ca ? bits(Buffer.from([0x06])) : bits(Buffer.from([0x80]))),
  ];
  if (spec.usage) exts.push(extension('2.5.29.37', false, seq(oid(spec.usage))));
  const san = [
    ...(spec.dns ?? []).map((d) => tlv(0x82, Buffer.from(d, 'ascii'))),
    ...(spec.ips ?? []).map((ip) => tlv(0x87, Buffer.from(ip.split('.').map(Number)))),
  ];
  if (san.length) exts.push(extension('2.5.29.17', false, seq(...san)));
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    ECDSA_SHA256,
    name(spec.issuer),
    // An hour back: the guest's clock may lag the host's by a little at boot.
    seq(time(new Date(now - 3600_000)), time(new Date(now + spec.days * 86400_000))),
    name(spec.subject),
    spec.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...exts)),
  );
  const signature = crypto.sign('sha256', tbs, spec.signer);
  const der = seq(tbs, ECDSA_SHA256, bits(signature));
  return `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

const ecKey = () => crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const pem = (k: crypto.KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }) as string;

export interface VmTls {
  /** The VM's CA (PEM), trusted by both sides. */
  ca: string;
  serverCert: string;
  serverKey: string;
  /** The host's client certificate and key (docker's cert.pem / key.pem). */
  clientCert: string;
  clientKey: string;
}

/** A fresh CA, server and client certificate for one VM (ten years; `berth vm rm` throws them away). */
export function makeVmTls(vmName: string, days = 3650): VmTls {
  const ca = ecKey();
  const server = ecKey();
  const client = ecKey();
  const caName = `Berth VM ${vmName} CA`;
  return {
    ca: certificate({
      subject: caName,
      issuer: caName,
      publicKey: ca.publicKey,
      signer: ca.privateKey,
      ca: true,
      days,
    }),
    serverCert: certificate({
      subject: `berth-vm-${vmName}`,
      issuer: caName,
      publicKey: server.publicKey,
      signer: ca.privateKey,
      usage: SERVER_AUTH,
      dns: ['localhost', 'berth-vm'],
      ips: ['127.0.0.1', '10.0.2.15', '192.168.127.2'],
      days,
    }),
    serverKey: pem(server.privateKey),
    clientCert: certificate({
      subject: 'berth-host',
      issuer: caName,
      publicKey: client.publicKey,
      signer: ca.privateKey,
      usage: CLIENT_AUTH,
      days,
    }),
    clientKey: pem(client.privateKey),
    // The CA's private key is never written: nobody can mint another client certificate for this VM.
  };
}

/** Docker's DOCKER_CERT_PATH layout (ca.pem, cert.pem, key.pem) for the client; the server's files beside them. */
export const TLS_FILES = {
  ca: 'ca.pem',
  clientCert: 'cert.pem',
  clientKey: 'key.pem',
  serverCert: 'server-cert.pem',
  serverKey: 'server-key.pem',
} as const;

export function writeVmTls(dir: string, tls: VmTls): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [k, file] of Object.entries(TLS_FILES))
    fs.writeFileSync(path.join(dir, file), tls[k as keyof VmTls], { mode: 0o600 });
}

export function readVmTls(dir: string): VmTls {
  const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
  return {
    ca: read(TLS_FILES.ca),
    serverCert: read(TLS_FILES.serverCert),
    serverKey: read(TLS_FILES.serverKey),
    clientCert: read(TLS_FILES.clientCert),
    clientKey: read(TLS_FILES.clientKey),
  };
}
