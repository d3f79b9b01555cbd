/** Tests start their two datacenters with the same code as the demo. */
export { REPO, startTwoDc, type TwoDc } from '../../src/local/two-datacenters.ts';
