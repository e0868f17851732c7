// Package h2c is the reverse proxy that lets the KCL 2.x/3.x daemon reach
// a local Kinesis emulator: it accepts HTTP/2 over cleartext (prior
// knowledge, as the AWS SDK for Java v2 speaks it to an http:// endpoint) and
// HTTP/1.1, and forwards every request to an HTTP/1.1 upstream. With
// [Options.ChildShards] it also adds the ChildShards field that kinesalite
// leaves out of a closed shard's last GetRecords response (see
// childshards.go), and with [Options.FanOut] it makes kinesis-local's
// SubscribeToShard streams readable by the AWS SDKs (see fanout.go).
// scripts/h2cproxy and cmd/kclgo serve it.
package h2c

import (
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// Options configure NewServer. The zero Options proxy quietly, without
// ChildShards and without the SubscribeToShard fixes.
type Options struct {
	// ChildShards adds ChildShards to closed shards' last GetRecords
	// responses (for kinesalite). Default false.
	ChildShards bool
	// FanOut fixes kinesis-local's SubscribeToShard answers (for enhanced
	// fan-out clients): an initial-response event first, a first
	// exception turned into the service's HTTP 400 error, a closed
	// shard's stream ended with ChildShards (fanout.go). Default false.
	FanOut bool
	// SubscriptionMax, with FanOut, ends every SubscribeToShard stream
	// after this long, at an event boundary, as Kinesis ends every
	// subscription after 5 minutes. Zero: streams end only when the
	// emulator or the client ends them.
	SubscriptionMax time.Duration
	// Log, when set, gets one line per request; nil logs nothing. Proxy
	// errors go to the standard logger either way.
	Log *log.Logger
}

// NewServer returns an http.Server that speaks HTTP/1.1 and unencrypted
// HTTP/2 and proxies every request to target (an http:// URL) over
// HTTP/1.1, keeping the client's Host header.
func NewServer(target *url.URL, o Options) *http.Server {
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		// ForceAttemptHTTP2 stays false: the upstream speaks HTTP/1.1.
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			// SetURL rewrites Host to the target's; keep the client's (SigV4 signs it).
			r.Out.Host = r.In.Host
		},
		Transport: transport,
		ErrorLog:  log.Default(),
	}
	var h http.Handler = rp
	var modify []func(*http.Response) error
	if o.ChildShards {
		fixer := newChildShardFixer(target)
		modify = append(modify, fixer.modifyResponse)
		h = fixer.wrap(h)
	}
	if o.FanOut {
		fixer := newFanOutFixer(target, o.SubscriptionMax, log.Default())
		modify = append(modify, fixer.modifyResponse)
		h = fixer.wrap(h)
	}
	if len(modify) > 0 {
		rp.ModifyResponse = func(resp *http.Response) error {
			for _, m := range modify {
				if err := m(resp); err != nil {
					return err
				}
			}
			return nil
		}
	}
	inner := h
	if o.Log != nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			inner.ServeHTTP(w, r)
			o.Log.Printf("%s %s %s %s %v", r.Proto, r.Method, r.URL.Path, r.Header.Get("X-Amz-Target"), time.Since(start).Round(time.Millisecond))
		})
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           h,
		Protocols:         &protocols,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
	}
}
