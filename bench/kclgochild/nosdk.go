//go:build nosdk

package main

import (
	"errors"

	"go.opentelemetry.io/otel/metric"
)

// sdkProvider is not available in a binary built with -tags nosdk.
func sdkProvider() (metric.MeterProvider, func() error, error) {
	return nil, nil, errors.New("-otel sdk: this binary was built with -tags nosdk")
}
