import { caCommand } from './ca-command.ts';

/** `dcsync create tls ca --cert=… --key=…` */
export const createTlsCaCommand = caCommand('tls', ['create', 'tls', 'ca']);
