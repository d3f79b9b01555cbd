/** The daemons' metrics (Prometheus, prom-client): families, their registries and the /metrics routes. */
export { MasterMetrics, type MasterMetricsOptions } from './master-metrics.ts';
export { WorkerMetrics, type WorkerTaskState } from './worker-metrics.ts';
export { METRICS_PATHS, metricsRoutes, type MetricsSource } from './routes.ts';
