package h2c

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestProxyH2CAndHTTP1 sends one prior-knowledge HTTP/2 request and one
// HTTP/1.1 request through the proxy and checks that both reach an HTTP/1.1
// upstream with the client's Host header intact.
func TestProxyH2CAndHTTP1(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 {
			t.Errorf("upstream got %s, want HTTP/1.x", r.Proto)
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Host", r.Host)
		_, _ = w.Write(append([]byte("echo:"), body...))
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(target, Options{})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	var h2 http.Protocols
	h2.SetUnencryptedHTTP2(true)
	clients := map[string]*http.Client{
		"h2c":   {Transport: &http.Transport{Protocols: &h2, TLSClientConfig: &tls.Config{}}},
		"http1": {Transport: &http.Transport{}},
	}
	for name, c := range clients {
		req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://"+ln.Addr().String()+"/", http.NoBody)
		req.Host = "kinesis.us-east-1.amazonaws.com"
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantMajor := map[string]int{"h2c": 2, "http1": 1}[name]
		if resp.ProtoMajor != wantMajor {
			t.Errorf("%s: response proto %s", name, resp.Proto)
		}
		if got := resp.Header.Get("X-Host"); got != req.Host {
			t.Errorf("%s: upstream saw Host %q, want %q", name, got, req.Host)
		}
		if string(b) != "echo:" {
			t.Errorf("%s: body %q", name, b)
		}
	}
}
