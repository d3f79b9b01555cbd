/** A daemon's metrics registry: its own families, dcsync_build_info, and Node's process metrics. */
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export function daemonRegistry(component: 'master' | 'worker', version: string): Registry {
  const registry = new Registry();
  new Gauge({ name: 'dcsync_build_info', help: 'Always 1; the labels tell the component and its version', labelNames: ['component', 'version'], registers: [registry] }).set({ component, version }, 1);
  collectDefaultMetrics({ register: registry });
  return registry;
}
