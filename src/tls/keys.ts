import { createPrivateKey, KeyObject, type webcrypto } from 'node:crypto';
import { TlsMaterialError } from './errors.ts';
import { nodeCrypto } from './x509.ts';

/** Key algorithms dcsync can generate. ECDSA P-256 is the default: small, fast, accepted everywhere. */
export const KEY_TYPES = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export const DEFAULT_KEY_TYPE: KeyType = 'ecdsa-p256';

/** A WebCrypto algorithm that both generates/imports the key and names the signature (hash included). */
export type SigningAlgorithm =
  | { readonly name: 'ECDSA'; readonly namedCurve: 'P-256' | 'P-384'; readonly hash: 'SHA-256' | 'SHA-384' }
  | { readonly name: 'RSASSA-PKCS1-v1_5'; readonly hash: 'SHA-256' };

export interface SigningKey {
  readonly privateKey: webcrypto.CryptoKey;
  readonly algorithm: SigningAlgorithm;
}

const RSA_PUBLIC_EXPONENT = new Uint8Array([1, 0, 1]);

export function signingAlgorithmFor(keyType: KeyType): SigningAlgorithm {
  switch (keyType) {
    case 'ecdsa-p256':
      return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    case 'ecdsa-p384':
      return { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  }
}

function modulusLength(keyType: KeyType): number {
  return Number(keyType.slice('rsa-'.length));
}

/** Generates an extractable key pair of the given type. */
export async function generateKeyPair(keyType: KeyType): Promise<webcrypto.CryptoKeyPair> {
  const algorithm = signingAlgorithmFor(keyType);
  const params =
    algorithm.name === 'ECDSA'
      ? { name: algorithm.name, namedCurve: algorithm.namedCurve }
      : { name: algorithm.name, hash: algorithm.hash, modulusLength: modulusLength(keyType), publicExponent: RSA_PUBLIC_EXPONENT };
  return (await nodeCrypto.subtle.generateKey(params, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

/** PEM "PRIVATE KEY" (unencrypted PKCS#8): what Node, OpenSSL, libpq and Kafka's PEM key stores read. */
export function privateKeyToPem(key: webcrypto.CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }).toString();
}

/**
 * Imports a PEM private key (PKCS#8, or the traditional "EC PRIVATE KEY"/"RSA PRIVATE KEY") as a
 * signing key, and chooses the signature algorithm from it: ECDSA with SHA-256 (P-256) or SHA-384 (P-384),
 * RSA PKCS#1 v1.5 with SHA-256. Encrypted keys are refused.
 */
export async function importSigningKey(pem: string, path?: string): Promise<SigningKey> {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new TlsMaterialError('is not an unencrypted PEM private key', path, err);
  }
  let algorithm: SigningAlgorithm;
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') algorithm = signingAlgorithmFor('ecdsa-p256');
    else if (curve === 'secp384r1') algorithm = signingAlgorithmFor('ecdsa-p384');
    else throw new TlsMaterialError(`uses the unsupported EC curve ${curve ?? '(unknown)'}`, path);
  } else if (key.asymmetricKeyType === 'rsa') {
    algorithm = signingAlgorithmFor('rsa-2048');
  } else {
    throw new TlsMaterialError(`holds an unsupported ${key.asymmetricKeyType ?? 'unknown'} key (ECDSA or RSA expected)`, path);
  }
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const importParams = algorithm.name === 'ECDSA' ? { name: algorithm.name, namedCurve: algorithm.namedCurve } : { name: algorithm.name, hash: algorithm.hash };
  const privateKey = await nodeCrypto.subtle.importKey('pkcs8', der, importParams, false, ['sign']);
  return { privateKey: privateKey as webcrypto.CryptoKey, algorithm };
}
