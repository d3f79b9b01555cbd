/**
 * TLS to this datacenter's Kafka from the task flags: --mq.kafka-cacert (the CA that verifies the brokers) and
 * --mq.kafka-client-keyfile (a dcsync keyfile presented as client certificate, for brokers with
 * ssl.client.auth=required). Files are read and checked at start, so a wrong path or an expired or unsuitable
 * certificate stops the command with a message naming the flag.
 */
import { InvalidOptionError } from '../../core/errors.ts';
import { keyfileTlsOptions, readCaCertificates, readKeyfile, validityAt } from '../../tls/keyfile.ts';
import type { KafkaTlsOptions } from './client.ts';

const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';

export interface KafkaTlsFiles {
  /** --mq.kafka-cacert */
  caFile?: string | undefined;
  /** --mq.kafka-client-keyfile */
  clientKeyfile?: string | undefined;
}

/** undefined when neither file is given (plain-text Kafka); else TLS with the brokers verified. */
export async function loadKafkaTls(files: KafkaTlsFiles, keys = { ca: 'mq.kafka-cacert', keyfile: 'mq.kafka-client-keyfile' }, now: Date = new Date()): Promise<KafkaTlsOptions | undefined> {
  if (!files.caFile && !files.clientKeyfile) return undefined;
  const tls: KafkaTlsOptions = {};
  if (files.caFile) {
    try {
      tls.ca = (await readCaCertificates(files.caFile)).pem;
    } catch (err) {
      throw new InvalidOptionError(keys.ca, (err as Error).message);
    }
  }
  if (files.clientKeyfile) {
    let kf;
    try {
      kf = await readKeyfile(files.clientKeyfile);
    } catch (err) {
      throw new InvalidOptionError(keys.keyfile, (err as Error).message);
    }
    const validity = validityAt(kf.certificate, now);
    if (validity !== 'valid')
      throw new InvalidOptionError(keys.keyfile, `holds a certificate that is ${validity} (valid ${kf.certificate.notBefore.toISOString()} to ${kf.certificate.notAfter.toISOString()})`);
    const eku = kf.certificate.extendedKeyUsage;
    if (eku.length > 0 && !eku.includes(CLIENT_AUTH_EKU))
      throw new InvalidOptionError(keys.keyfile, `holds a certificate that is not for client authentication (${kf.certificate.subject}): create one with 'dcsync create client-auth keyfile'`);
    Object.assign(tls, keyfileTlsOptions(kf));
  }
  return tls;
}
