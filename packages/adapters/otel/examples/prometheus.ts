// Serving the scheduler's metrics to Prometheus: `GET http://<host>:<port>/metrics`.
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import type { Scheduler } from '@syncfolio/core'
import { instrumentScheduler } from '@syncfolio/otel'

export async function serveMetrics(scheduler: Scheduler, { host = '0.0.0.0', port = 9464 } = {}) {
  // The exporter is a MetricReader: each scrape collects, and reads the budget gauge from scheduler.stats().
  const exporter = new PrometheusExporter({ host, port, preventServerStart: true })
  const provider = new MeterProvider({ readers: [exporter] })
  const dispose = instrumentScheduler(scheduler, { meter: provider.getMeter('syncfolio') })
  await exporter.startServer()
  return {
    /** Stops recording, then closes the /metrics server. */
    async close() {
      dispose()
      await provider.shutdown()
    },
  }
}
