//go:build !nosdk

package main

import (
	"context"

	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// sdkProvider returns an SDK MeterProvider with a ManualReader, and the
// function that collects it once.
func sdkProvider() (metric.MeterProvider, func() error, error) {
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	return mp, func() error {
		var rm metricdata.ResourceMetrics
		return r.Collect(context.Background(), &rm)
	}, nil
}
