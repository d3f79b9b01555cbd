import { DcsyncError } from '../../core/errors.ts';

/** A Kafka failure; keeps kafkajs's own `retriable` verdict. */
export class KafkaError extends DcsyncError {}

export function wrapKafkaError(err: unknown, doing: string): DcsyncError {
  if (err instanceof DcsyncError) return err;
  const e = err as { message?: string; retriable?: boolean; name?: string };
  return new KafkaError(`Kafka error while ${doing}: ${e.message ?? String(err)}`, { retriable: e.retriable ?? true, cause: err });
}
