import { Kafka, logLevel, type KafkaConfig, type logCreator } from 'kafkajs';
import { silentLogger, type Logger, type LogMeta } from '../../core/logger.ts';

export interface KafkaClientOptions {
  /** Default 5000 (kafkajs: 1000, too short for a JVM broker that is still warming up). */
  connectionTimeout?: number;
  /** Default 30000 (as kafkajs). */
  requestTimeout?: number;
  /** kafkajs retry options for the client's internal retries. */
  retry?: KafkaConfig['retry'];
}

/**
 * The one place that builds a kafkajs client, for the product and the tests alike. kafkajs's own log lines
 * (warn and error only) go to `logger` under component 'kafkajs', with kafkajs's namespace, message and fields as metadata.
 */
export function kafkaClient(bootstrap: string | readonly string[], clientId: string, logger: Logger = silentLogger, opts: KafkaClientOptions = {}): Kafka {
  return new Kafka({
    clientId,
    brokers: typeof bootstrap === 'string' ? bootstrap.split(',').map((b) => b.trim()) : [...bootstrap],
    connectionTimeout: opts.connectionTimeout ?? 5_000,
    requestTimeout: opts.requestTimeout ?? 30_000,
    // Fail fast (≈15 s) and let the task's own backoff retry, which logs each attempt.
    retry: opts.retry ?? { initialRetryTime: 300, retries: 5, maxRetryTime: 5_000 },
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
      if (level === logLevel.ERROR) logger.error(msg, meta);
      else if (level === logLevel.WARN) logger.warn(msg, meta);
      else if (level === logLevel.INFO) logger.info(msg, meta);
      else if (level === logLevel.DEBUG) logger.debug(msg, meta);
    };
}
