import { DcsyncError } from '../../core/errors.ts';

/** A Kafka failure. */
export class KafkaError extends DcsyncError {}

/** Broker answers that no retry can fix: credentials, authorization, configuration. */
const FATAL_TYPES = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'INVALID_CONFIG',
  'POLICY_VIOLATION',
  'UNSUPPORTED_VERSION',
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_REPLICATION_FACTOR',
]);

/** TLS verdicts on the broker's certificate: retrying cannot make a certificate trustworthy. */
const FATAL_TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
]);

interface KafkaJsErrorLike {
  message?: string;
  name?: string;
  type?: string;
  code?: string;
  cause?: unknown;
  originalError?: unknown;
}

function fatalType(err: unknown, depth = 0): string | undefined {
  if (!err || typeof err !== 'object' || depth > 5) return undefined;
  const e = err as KafkaJsErrorLike;
  if (e.type && FATAL_TYPES.has(e.type)) return e.type;
  if (e.name === 'KafkaJSSASLAuthenticationError') return 'SASL_AUTHENTICATION_FAILED';
  if (e.code && FATAL_TLS_CODES.has(e.code)) return e.code;
  return fatalType(e.cause, depth + 1) ?? fatalType(e.originalError, depth + 1);
}

/**
 * Classifies at the edge (G4): a broker that is down, restarting or slow is retriable, however many times kafkajs
 * already retried it itself; authentication, authorization and configuration errors are not.
 */
export function wrapKafkaError(err: unknown, doing: string): DcsyncError {
  if (err instanceof DcsyncError) return err;
  const e = err as KafkaJsErrorLike;
  const fatal = fatalType(err);
  const hint =
    fatal === 'MESSAGE_TOO_LARGE' || fatal === 'RECORD_LIST_TOO_LARGE'
      ? ' (raise message.max.bytes on the brokers and max.request.size in MirrorMaker 2)'
      : fatal && FATAL_TLS_CODES.has(fatal)
        ? ` (the broker's certificate is not accepted: ${fatal}; check --mq.kafka-cacert and the broker's host name)`
        : '';
  return new KafkaError(`Kafka error while ${doing}: ${e.message ?? String(err)}${hint}`, { retriable: !fatal, cause: err });
}
