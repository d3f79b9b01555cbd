/**
 * Certificate and secret tooling (`dcsync create tls|client-auth|jwt-secret`, test fixtures) and the
 * keyfile/JWT helpers the daemons use for TLS and authentication.
 */
export { TlsMaterialError, FileExistsError } from './errors.ts';
export { SECRET_FILE_MODE, PUBLIC_FILE_MODE } from './files.ts';
export { KEY_TYPES, DEFAULT_KEY_TYPE, type KeyType } from './keys.ts';
export {
  DEFAULT_CA_VALIDITY_MS,
  DEFAULT_TLS_KEYFILE_VALIDITY_MS,
  DEFAULT_CLIENT_KEYFILE_VALIDITY_MS,
  CLOCK_SKEW_ALLOWANCE_MS,
  type ValidityOptions,
} from './validity.ts';
export {
  createCa,
  writeCa,
  loadCa,
  parseCa,
  DEFAULT_CA_NAMES,
  DCSYNC_ORGANIZATION,
  type CaPurpose,
  type CaMaterial,
  type CaSigner,
  type CreateCaOptions,
} from './ca.ts';
export {
  issueServerKeyfile,
  issueClientKeyfile,
  parseHosts,
  SERVER_ORGANIZATIONAL_UNIT,
  CLIENT_ORGANIZATIONAL_UNIT,
  DEFAULT_CLIENT_NAME,
  type IssueServerOptions,
  type IssueClientOptions,
  type IssuedKeyfile,
  type HostName,
} from './issue.ts';
export {
  readKeyfile,
  parseKeyfile,
  writeKeyfile,
  formatKeyfile,
  keyfileTlsOptions,
  readCaCertificates,
  parseCaCertificates,
  describeCertificate,
  validityAt,
  expiresInMs,
  fileMode,
  type Keyfile,
  type LoadedKeyfile,
  type CertificateInfo,
  type CaCertificates,
  type Validity,
} from './keyfile.ts';
export {
  signJwt,
  verifyJwt,
  createJwtSecret,
  parseJwtSecret,
  readJwtSecret,
  writeJwtSecret,
  JwtError,
  JWT_ALGORITHM,
  MIN_JWT_SECRET_BYTES,
  type JwtClaims,
  type JwtFailure,
  type JwtSecret,
  type SignJwtOptions,
  type VerifyJwtOptions,
} from './jwt.ts';
