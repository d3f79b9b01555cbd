import type { ConnectionOptions } from 'node:tls';
import { Kafka, logLevel, type KafkaConfig, type logCreator } from 'kafkajs';
import { silentLogger, type Logger, type LogMeta } from '../../core/logger.ts';
import { installRequestQueueTimerFix } from './request-queue-timer.ts';

/** Lowest TLS version dcsync accepts from Kafka brokers. */
export const KAFKA_TLS_MIN_VERSION = 'TLSv1.2';

/** TLS to the brokers (--mq.kafka-cacert, --mq.kafka-client-keyfile). The brokers are always verified. */
export interface KafkaTlsOptions {
  /** PEM CA certificates that verify the brokers, trusted instead of Node's default CAs; undefined: Node's default CAs. */
  ca?: string;
  /** The client certificate followed by its chain, and its key (PEM), for brokers that require client authentication. */
  cert?: string;
  key?: string;
  /** The name the brokers' certificates must carry, when it differs from the host connected to (also sent as SNI). */
  servername?: string;
}

export interface KafkaClientOptions {
  /** Default 5000 (kafkajs: 1000, too short for a JVM broker that is still warming up). */
  connectionTimeout?: number;
  /** Default 30000 (as kafkajs). */
  requestTimeout?: number;
  /** kafkajs retry options for the client's internal retries. */
  retry?: KafkaConfig['retry'];
  /** Connect with TLS; undefined: plain text. */
  ssl?: KafkaTlsOptions;
}

/** Node TLS options for kafkajs: verify the brokers (host name included), TLS 1.2 at least. */
export function kafkaTlsConnectionOptions(o: KafkaTlsOptions): ConnectionOptions {
  return {
    ...(o.ca !== undefined ? { ca: o.ca } : {}),
    ...(o.cert !== undefined && o.key !== undefined ? { cert: o.cert, key: o.key } : {}),
    // Only when given: kafkajs sets servername to the broker's host name itself, and a key with the value
    // undefined would replace it.
    ...(o.servername !== undefined ? { servername: o.servername } : {}),
    rejectUnauthorized: true,
    minVersion: KAFKA_TLS_MIN_VERSION,
  };
}

/**
 * The one place that builds a kafkajs client, for the product and the tests alike. kafkajs's own log lines
 * (warn and error only) go to `logger` under component 'kafkajs', with kafkajs's namespace, message and fields as metadata.
 */
export function kafkaClient(bootstrap: string | readonly string[], clientId: string, logger: Logger = silentLogger, opts: KafkaClientOptions = {}): Kafka {
  installRequestQueueTimerFix();
  return new Kafka({
    clientId,
    brokers: typeof bootstrap === 'string' ? bootstrap.split(',').map((b) => b.trim()) : [...bootstrap],
    connectionTimeout: opts.connectionTimeout ?? 5_000,
    requestTimeout: opts.requestTimeout ?? 30_000,
    // Fail fast (≈15 s) and let the task's own backoff retry, which logs each attempt.
    retry: opts.retry ?? { initialRetryTime: 300, retries: 5, maxRetryTime: 5_000 },
    ...(opts.ssl ? { ssl: kafkaTlsConnectionOptions(opts.ssl) } : {}),
    logLevel: logLevel.WARN,
    logCreator: kafkajsLogCreator(logger.child({ component: 'kafkajs', clientId })),
  });
}

/** A kafkajs logCreator that writes to our Logger. kafkajs filters by the client's logLevel before calling it. */
export function kafkajsLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      // Our messages are constants (G12): kafkajs's varying text goes into the metadata.
      const { message, timestamp: _timestamp, logger: _kafkajsLogger, ...fields } = log;
      const meta: LogMeta = { namespace, message, ...fields };
      const msg = 'kafkajs log';
      // Expected, not a problem: retries are limited on purpose (the task's backoff retries, and the slot is
      // confirmed only for acknowledged records, so a failed send is sent again, never lost).
      if (typeof message === 'string' && message.startsWith('Limiting retries for the idempotent producer')) return logger.debug(msg, meta);
      if (level === logLevel.ERROR) logger.error(msg, meta);
      else if (level === logLevel.WARN) logger.warn(msg, meta);
      else if (level === logLevel.INFO) logger.info(msg, meta);
      else if (level === logLevel.DEBUG) logger.debug(msg, meta);
    };
}
