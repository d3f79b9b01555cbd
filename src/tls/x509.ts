/**
 * The one place that loads @peculiar/x509: it needs the reflect-metadata polyfill before it is evaluated,
 * and a WebCrypto provider (Node's), which it does not pick up by itself outside browsers.
 * Everything in src/tls imports the library through this module.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** Node's WebCrypto, passed explicitly to every generator call and set as the library's default provider. */
export const nodeCrypto: webcrypto.Crypto = webcrypto;

if (!x509.cryptoProvider.has(x509.CryptoProvider.DEFAULT)) x509.cryptoProvider.set(nodeCrypto);

export { x509 };
