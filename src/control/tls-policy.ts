/**
 * The TLS policy shared by the control server and client: TLS 1.2 at least (1.3 is chosen whenever both
 * sides have it: OpenSSL always negotiates the highest common version), forward-secret AEAD suites only.
 */
import type { SecureContextOptions, SecureVersion } from 'node:tls';
import { keyfileTlsOptions, type Keyfile } from '../tls/index.ts';

export const TLS_MIN_VERSION: SecureVersion = 'TLSv1.2';
export const TLS_MAX_VERSION: SecureVersion = 'TLSv1.3';

/**
 * TLS 1.3 suites (all AEAD) first, then TLS 1.2 suites with ECDHE key exchange and AES-GCM or ChaCha20-Poly1305.
 * No CBC, no RSA key exchange, no SHA-1 MACs, no 3DES/RC4, no anonymous or export suites.
 */
export const TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

/**
 * Secure-context options for the server: its keyfile and the CA that issued acceptable client certificates.
 * Used both to create the server and for setSecureContext on reload (which replaces the whole context, so
 * the version and cipher settings must be repeated).
 */
export function serverSecureContextOptions(keyfile: Keyfile, clientCaPem: string | undefined): SecureContextOptions {
  return {
    ...keyfileTlsOptions(keyfile),
    ...(clientCaPem !== undefined ? { ca: clientCaPem } : {}),
    minVersion: TLS_MIN_VERSION,
    maxVersion: TLS_MAX_VERSION,
    ciphers: TLS_CIPHERS,
    honorCipherOrder: true,
  };
}

/** Options for the client: trust only `caPem` (not the system store), present the keyfile when given. */
export function clientTlsOptions(caPem: string, keyfile: Keyfile | undefined): SecureContextOptions & { rejectUnauthorized: true } {
  return {
    ca: caPem,
    ...(keyfile ? keyfileTlsOptions(keyfile) : {}),
    minVersion: TLS_MIN_VERSION,
    maxVersion: TLS_MAX_VERSION,
    ciphers: TLS_CIPHERS,
    rejectUnauthorized: true,
  };
}
