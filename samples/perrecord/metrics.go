package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// The exporters live here, in the sample, and nowhere in the library: kclgo
// records through the OpenTelemetry metric API and the user chooses the
// export.
//
//   - -otlp URL pushes every 10 s over OTLP/HTTP (e.g.
//     http://127.0.0.1:4318/v1/metrics, an OpenTelemetry Collector): the
//     export for the daemon, where each shard is its own child process
//     that starts and stops with its lease.
//   - -prometheus ADDR serves /metrics on ADDR (e.g. 127.0.0.1:9464; port 0
//     picks a free one): the export for the native worker, one process for
//     every shard. It prints "perrecord: metrics on http://HOST:PORT/metrics"
//     on stderr once it listens.

// exportInterval is how often -otlp pushes.
const exportInterval = 10 * time.Second

// metrics returns the MeterProvider the flags ask for (nil for none) and the
// function that flushes and stops it.
func metrics(ctx context.Context, otlpURL, promAddr string, native bool) (metric.MeterProvider, func(context.Context) error, error) {
	none := func(context.Context) error { return nil }
	if otlpURL == "" && promAddr == "" {
		return nil, none, nil
	}
	if promAddr != "" && !native {
		return nil, none, errors.New("-prometheus needs -native: under the daemon every shard is its own child process, so one scrape endpoint cannot serve them; use -otlp")
	}
	host, _ := os.Hostname()
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", "perrecord"),
		attribute.String("service.instance.id", host+"-"+strconv.Itoa(os.Getpid())), // one per child under the daemon
	))
	if err != nil {
		return nil, none, fmt.Errorf("metrics resource: %w", err)
	}
	opts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	var srv *http.Server
	if otlpURL != "" {
		exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(otlpURL))
		if err != nil {
			return nil, none, fmt.Errorf("-otlp %s: %w", otlpURL, err)
		}
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(exportInterval))))
	}
	if promAddr != "" {
		reg := prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return nil, none, fmt.Errorf("-prometheus: %w", err)
		}
		ln, err := net.Listen("tcp", promAddr)
		if err != nil {
			return nil, none, fmt.Errorf("-prometheus %s: %w", promAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		fmt.Fprintf(os.Stderr, "perrecord: metrics on http://%s/metrics\n", ln.Addr())
		opts = append(opts, sdkmetric.WithReader(exp))
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	return mp, func(ctx context.Context) error {
		err := mp.Shutdown(ctx) // pushes the last OTLP export
		if srv != nil {
			err = errors.Join(err, srv.Shutdown(ctx))
		}
		return err
	}, nil
}
