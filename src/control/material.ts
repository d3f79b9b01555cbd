/**
 * The files a control server serves with: its TLS keyfile, the client-auth CA, the JWT secret. Loaded at
 * start and on reload, all or nothing; an expired keyfile or one that is not a server certificate is refused.
 */
import {
  expiresInMs,
  readCaCertificates,
  readJwtSecret,
  readKeyfile,
  TlsMaterialError,
  validityAt,
  type CaCertificates,
  type CertificateInfo,
  type JwtSecret,
  type LoadedKeyfile,
} from '../tls/index.ts';

export const SERVER_AUTH_OID = '1.3.6.1.5.5.7.3.1';

export interface ServerMaterial {
  readonly keyfile: LoadedKeyfile;
  readonly keyfilePath: string;
  readonly clientCa?: CaCertificates;
  readonly clientCaPath?: string;
  readonly jwtSecret?: JwtSecret;
}

export interface CertificateWarning {
  readonly kind: 'expires-soon' | 'expired' | 'not-yet-valid';
  readonly file: 'keyfile' | 'clientAuthCa';
  readonly path: string;
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly message: string;
}

/** Refuses a keyfile a server must not serve with: expired, or made for clients only. */
export function checkServerKeyfile(kf: LoadedKeyfile, path: string, now: Date): void {
  const c = kf.certificate;
  if (validityAt(c, now) === 'expired') {
    throw new TlsMaterialError(
      `the certificate (${c.subject}) expired on ${c.notAfter.toISOString()}; the server does not start with an expired certificate: issue a new keyfile with 'dcsync create tls keyfile' and start again`,
      path,
    );
  }
  if (c.extendedKeyUsage.length > 0 && !c.extendedKeyUsage.includes(SERVER_AUTH_OID)) {
    throw new TlsMaterialError(`the certificate (${c.subject}) is not a TLS server certificate (no serverAuth usage); use a keyfile from 'dcsync create tls keyfile'`, path);
  }
}

export async function loadServerMaterial(paths: { keyfile: string; clientAuthCa: string | undefined; jwtSecret: string | undefined }, now: Date): Promise<ServerMaterial> {
  const [keyfile, clientCa, jwtSecret] = await Promise.all([
    readKeyfile(paths.keyfile),
    paths.clientAuthCa === undefined ? undefined : readCaCertificates(paths.clientAuthCa),
    paths.jwtSecret === undefined ? undefined : readJwtSecret(paths.jwtSecret),
  ]);
  checkServerKeyfile(keyfile, paths.keyfile, now);
  if (clientCa && !clientCa.certificates.every((c) => c.isCa)) {
    throw new TlsMaterialError('must hold only CA certificates (the client-auth CA certificate from `dcsync create client-auth ca`)', paths.clientAuthCa);
  }
  return {
    keyfile,
    keyfilePath: paths.keyfile,
    ...(clientCa ? { clientCa, clientCaPath: paths.clientAuthCa! } : {}),
    ...(jwtSecret ? { jwtSecret } : {}),
  };
}

function warningFor(file: CertificateWarning['file'], path: string, c: CertificateInfo, now: Date, warnMs: number): CertificateWarning | undefined {
  const base = { file, path, subject: c.subject, notBefore: c.notBefore, notAfter: c.notAfter };
  const what = file === 'keyfile' ? 'the TLS keyfile' : 'the client-auth CA';
  switch (validityAt(c, now)) {
    case 'expired':
      return { ...base, kind: 'expired', message: `${path}: ${what} (${c.subject}) expired on ${c.notAfter.toISOString()}` };
    case 'not-yet-valid':
      return { ...base, kind: 'not-yet-valid', message: `${path}: ${what} (${c.subject}) is not valid before ${c.notBefore.toISOString()} (check the clocks)` };
    case 'valid': {
      const left = expiresInMs(c, now);
      if (left > warnMs) return undefined;
      const days = Math.floor(left / 86_400_000);
      return { ...base, kind: 'expires-soon', message: `${path}: ${what} (${c.subject}) expires on ${c.notAfter.toISOString()} (in ${days} day(s)); renew it and reload` };
    }
  }
}

/** Warnings about the keyfile and the client-auth CA at `now`. */
export function certificateWarnings(m: ServerMaterial, now: Date, warnMs: number): CertificateWarning[] {
  const out: CertificateWarning[] = [];
  const kw = warningFor('keyfile', m.keyfilePath, m.keyfile.certificate, now, warnMs);
  if (kw) out.push(kw);
  if (m.clientCa && m.clientCaPath !== undefined) {
    for (const c of m.clientCa.certificates) {
      const w = warningFor('clientAuthCa', m.clientCaPath, c, now, warnMs);
      if (w) out.push(w);
    }
  }
  return out;
}
