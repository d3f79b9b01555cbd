/**
 * GET /metrics (Prometheus text format) and GET /metrics.json (the same families as JSON) at the root of a master's
 * or worker's HTTPS port, where Prometheus looks by default, behind the monitoring token (access class
 * 'monitoring': 401 without it, 404 on a daemon started without one).
 */
import type { Registry } from 'prom-client';
import { route, type Route } from '../control/router.ts';

export const METRICS_PATHS = { text: '/metrics', json: '/metrics.json' } as const;

export interface MetricsSource {
  readonly registry: Registry;
  /** Brings the gauges up to date before they are read (a master reads its status once per scrape). */
  refresh(signal: AbortSignal): Promise<void>;
}

export function metricsRoutes(m: MetricsSource): Route[] {
  // One scrape at a time: a refresh resets the gauges, which must not happen while another scrape serializes them.
  let last: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = last.then(fn, fn);
    last = next.catch(() => {});
    return next;
  };
  return [
    route({
      method: 'GET',
      path: METRICS_PATHS.text,
      access: 'monitoring',
      root: true,
      summary: 'metrics in the Prometheus text format (docs/monitoring.md)',
      handler: async (req) => {
        const body = await exclusive(async () => {
          await m.refresh(req.signal);
          return m.registry.metrics();
        });
        return { status: 200, raw: { contentType: m.registry.contentType, body } };
      },
    }),
    route({
      method: 'GET',
      path: METRICS_PATHS.json,
      access: 'monitoring',
      root: true,
      summary: 'the same metrics as JSON',
      handler: async (req) => {
        const body = await exclusive(async () => {
          await m.refresh(req.signal);
          return m.registry.getMetricsAsJSON();
        });
        return { status: 200, body };
      },
    }),
  ];
}
