/** Tests start their two datacenters with the same code as the demo. */
export { REPO, startTwoDc, type TwoDc } from '../../tools/local/two-datacenters.ts';
