import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics'

/** A reader the test collects from when it wants, as a Prometheus scrape would. */
export class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

export interface Collected {
  /** Data points of one instrument, by name; [] when it recorded nothing. */
  points(name: string): Array<DataPoint<number | Histogram>>
  /** Every attribute set recorded under any instrument. */
  allAttributes(): Array<Record<string, unknown>>
  names(): string[]
}

export function meterWithReader() {
  const reader = new CollectingReader()
  const provider = new MeterProvider({ readers: [reader] })
  const meter = provider.getMeter('syncfolio-test')
  async function collect(): Promise<Collected> {
    const { resourceMetrics, errors } = await reader.collect()
    if (errors.length > 0) throw errors[0]
    return view(resourceMetrics)
  }
  return { meter, provider, collect }
}

function view(resourceMetrics: ResourceMetrics): Collected {
  const metrics = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics)
  const points = (name: string) =>
    metrics
      .filter((metric) => metric.descriptor.name === name)
      .flatMap((metric) => metric.dataPoints as Array<DataPoint<number | Histogram>>)
  return {
    points,
    allAttributes: () => metrics.flatMap((metric) => metric.dataPoints.map((point) => ({ ...point.attributes }))),
    names: () => metrics.filter((metric) => metric.dataPoints.length > 0).map((metric) => metric.descriptor.name),
  }
}

/** Count, sum and attributes of each histogram point, sorted by attributes, for exact comparison. */
export function histogramSummary(points: Array<DataPoint<number | Histogram>>) {
  return points
    .map((point) => {
      const value = point.value as Histogram
      return { attributes: { ...point.attributes }, count: value.count, sum: value.sum }
    })
    .sort((a, b) => JSON.stringify(a.attributes).localeCompare(JSON.stringify(b.attributes)))
}

export function valueSummary(points: Array<DataPoint<number | Histogram>>) {
  return points
    .map((point) => ({ attributes: { ...point.attributes }, value: point.value as number }))
    .sort((a, b) => JSON.stringify(a.attributes).localeCompare(JSON.stringify(b.attributes)))
}
