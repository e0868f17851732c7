// Command h2cproxy is a development tool: a reverse proxy that accepts
// HTTP/2 over cleartext (prior knowledge, as the AWS SDK for Java v2 speaks it
// to an http:// endpoint) and HTTP/1.1, and forwards every request to an
// HTTP/1.1 upstream.
//
// The KCL 2.x/3.x MultiLangDaemon forces HTTP/2 on its Kinesis client, while
// the local Kinesis emulators (moto, kinesalite) speak HTTP/1.1 only. Put this
// proxy in front of the emulator and point the daemon's kinesisEndpoint at it:
//
//	h2cproxy -listen 127.0.0.1:4568 -upstream http://127.0.0.1:4567
//
// The client's Host header is kept as sent, because SigV4 signs it; the
// emulators do not check signatures, but a Host rewritten by the proxy would
// make the request differ from what the client signed.
//
// With -child-shards the proxy also adds the ChildShards field that
// kinesalite leaves out of a closed shard's last GetRecords response, so the
// KCL can finish a shard after a split. With -fan-out it makes
// kinesis-local's SubscribeToShard streams readable by the AWS SDKs (an
// initial-response event first, ResourceInUseException as the service's
// HTTP 400 error, a closed shard's stream ended with ChildShards), and with
// -subscription-max D it ends every subscription after D, as Kinesis does
// after 5 minutes (see internal/h2c/fanout.go). The proxy itself is package
// internal/h2c, which kclgo local serves in-process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kclgo/kclgo/internal/h2c"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:4568", "address to listen on (host:port)")
	upstream := flag.String("upstream", "http://127.0.0.1:4567", "HTTP/1.1 upstream base URL")
	quiet := flag.Bool("quiet", false, "do not log each request")
	var o h2c.Options
	flag.BoolVar(&o.ChildShards, "child-shards", false, "add ChildShards to the last GetRecords response of a closed shard (for kinesalite)")
	flag.BoolVar(&o.FanOut, "fan-out", false, "fix kinesis-local's SubscribeToShard streams: initial-response, errors, a closed shard's end")
	flag.DurationVar(&o.SubscriptionMax, "subscription-max", 0, "with -fan-out: end every SubscribeToShard stream after this long (Kinesis: 5m; 0: never)")
	flag.Parse()
	if err := run(*listen, *upstream, *quiet, o); err != nil {
		fmt.Fprintln(os.Stderr, "h2cproxy:", err)
		os.Exit(1)
	}
}

// run serves until SIGINT or SIGTERM.
func run(listen, upstream string, quiet bool, o h2c.Options) error {
	target, err := url.Parse(upstream)
	if err != nil {
		return fmt.Errorf("parse upstream %q: %w", upstream, err)
	}
	if target.Scheme != "http" || target.Host == "" {
		return fmt.Errorf("upstream %q: want http://host:port", upstream)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	if !quiet {
		o.Log = log.Default()
	}
	srv := h2c.NewServer(target, o)
	log.Printf("h2cproxy: listening on %s (h2c + HTTP/1.1), upstream %s", ln.Addr(), target)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
