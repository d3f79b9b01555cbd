import { isIP } from 'node:net';
import { InvalidOptionError } from '../core/errors.ts';
import { randomSerialNumber, subjectName, toPem, type CaSigner } from './ca.ts';
import { TlsMaterialError } from './errors.ts';
import { DEFAULT_KEY_TYPE, generateKeyPair, privateKeyToPem, type KeyType } from './keys.ts';
import { describeCertificate, type CertificateInfo, type Keyfile } from './keyfile.ts';
import { DEFAULT_CLIENT_KEYFILE_VALIDITY_MS, DEFAULT_TLS_KEYFILE_VALIDITY_MS, resolveValidity, type ValidityOptions } from './validity.ts';
import { nodeCrypto, x509 } from './x509.ts';

/** Organizational units (OU) that say what a dcsync certificate is for; O is always 'dcsync'. */
export const SERVER_ORGANIZATIONAL_UNIT = 'server';
export const CLIENT_ORGANIZATIONAL_UNIT = 'client';
export const DEFAULT_CLIENT_NAME = 'dcsync-client';

export interface IssueServerOptions extends ValidityOptions {
  /** DNS names and IP addresses the server is reached by; at least one. The first becomes the CN. */
  readonly hosts: readonly string[];
  readonly keyType?: KeyType;
}

export interface IssueClientOptions extends ValidityOptions {
  /** Common name of the client certificate; default 'dcsync-client'. */
  readonly name?: string;
  readonly keyType?: KeyType;
}

/** A freshly issued keyfile plus what its certificate says. */
export interface IssuedKeyfile extends Keyfile {
  readonly certificate: CertificateInfo;
}

export type HostName = { readonly type: 'dns' | 'ip'; readonly value: string };

const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * Classifies each host as an IP address (v4 or v6, brackets allowed) or a DNS name (lower-cased; a leading
 * '*.' wildcard label is allowed). Duplicates are dropped. An empty list or a malformed name is a usage error.
 */
export function parseHosts(hosts: readonly string[]): HostName[] {
  const out: HostName[] = [];
  const seen = new Set<string>();
  for (const raw of hosts) {
    const h = raw.trim();
    const unbracketed = h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
    let name: HostName;
    if (isIP(unbracketed) !== 0) name = { type: 'ip', value: unbracketed.toLowerCase() };
    else {
      const dns = h.toLowerCase().replace(/\.$/, '');
      const labels = dns.split('.');
      const ok = dns.length > 0 && dns.length <= 253 && labels.every((l, i) => DNS_LABEL.test(l) || (i === 0 && l === '*' && labels.length > 2));
      if (!ok) throw new InvalidOptionError('host', `'${raw}' is neither a DNS name nor an IP address`);
      name = { type: 'dns', value: dns };
    }
    const key = `${name.type}:${name.value}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(name);
    }
  }
  if (out.length === 0) throw new InvalidOptionError('host', 'must name at least one DNS name or IP address the server is reached by');
  return out;
}

async function issue(
  ca: CaSigner,
  subject: x509.JsonName,
  extendedKeyUsage: readonly x509.ExtendedKeyUsage[],
  san: readonly HostName[],
  window: { notBefore: Date; notAfter: Date },
  keyType: KeyType,
): Promise<IssuedKeyfile> {
  const now = new Date();
  if (ca.certificate.notAfter.getTime() < now.getTime()) throw new TlsMaterialError(`the CA certificate expired on ${ca.certificate.notAfter.toISOString()}`);
  if (window.notAfter.getTime() > ca.certificate.notAfter.getTime()) {
    throw new InvalidOptionError('validfor', `would make the certificate outlive its CA (valid until ${ca.certificate.notAfter.toISOString()}); choose a shorter duration or renew the CA`);
  }
  const keys = await generateKeyPair(keyType);
  const isRsa = keys.publicKey.algorithm.name.startsWith('RSA');
  const usages = x509.KeyUsageFlags.digitalSignature | (isRsa ? x509.KeyUsageFlags.keyEncipherment : 0);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(usages, true),
    new x509.ExtendedKeyUsageExtension([...extendedKeyUsage]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, nodeCrypto),
    new x509.AuthorityKeyIdentifierExtension(ca.keyId),
  ];
  if (san.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(san.map((h) => ({ type: h.type, value: h.value }))));
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialNumber(),
      subject,
      issuer: ca.cert.subjectName,
      notBefore: window.notBefore,
      notAfter: window.notAfter,
      publicKey: keys.publicKey,
      signingKey: ca.signingKey,
      signingAlgorithm: ca.algorithm,
      extensions,
    },
    nodeCrypto,
  );
  const certPem = toPem(cert);
  return { certPem, chainPem: [ca.certPem], keyPem: privateKeyToPem(keys.privateKey), certificate: describeCertificate(certPem) };
}

/**
 * Issues a TLS keyfile for a master or worker: SAN with every host, CN = the first host, extended key
 * usage serverAuth and clientAuth (a worker presents the same keyfile when it calls the master).
 */
export async function issueServerKeyfile(ca: CaSigner, opts: IssueServerOptions): Promise<IssuedKeyfile> {
  const hosts = parseHosts(opts.hosts);
  const window = resolveValidity(opts, DEFAULT_TLS_KEYFILE_VALIDITY_MS);
  const cn = hosts[0]!.value;
  if (cn.length > 64) throw new InvalidOptionError('host', `the first host '${cn}' becomes the common name and must be at most 64 characters; list a shorter name first`);
  return issue(ca, subjectName(cn, SERVER_ORGANIZATIONAL_UNIT), [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], hosts, window, opts.keyType ?? DEFAULT_KEY_TYPE);
}

/**
 * Issues a client-authentication keyfile (from the client-auth CA): extended key usage clientAuth only,
 * subject CN=<name>, O=dcsync, OU=client, no subject alternative names.
 */
export async function issueClientKeyfile(ca: CaSigner, opts: IssueClientOptions = {}): Promise<IssuedKeyfile> {
  const window = resolveValidity(opts, DEFAULT_CLIENT_KEYFILE_VALIDITY_MS);
  return issue(ca, subjectName(opts.name ?? DEFAULT_CLIENT_NAME, CLIENT_ORGANIZATIONAL_UNIT), [x509.ExtendedKeyUsage.clientAuth], [], window, opts.keyType ?? DEFAULT_KEY_TYPE);
}
