import { caCommand } from './ca-command.ts';

/** `dcsync create client-auth ca --cert=… --key=…` */
export const createClientAuthCaCommand = caCommand('client-auth', ['create', 'client-auth', 'ca']);
