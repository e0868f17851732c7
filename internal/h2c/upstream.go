package h2c

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// upstreamCall makes one Kinesis JSON call to the upstream on behalf of a
// proxied request, with that request's signature headers (the emulators
// check that they are present, not what they say), and decodes the answer
// into out.
func upstreamCall(ctx context.Context, client *http.Client, upstream *url.URL, from http.Header, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, upstream.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if v := from.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", targetPrefix+op)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s: %s %s: %s", op, resp.Status, e.Type, e.Message)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// peekJSON decodes the JSON body of a request about to be proxied into v
// (a body that is not JSON leaves v alone) and puts the body back for the
// proxy. It answers 502 and returns false if the body cannot be read.
func peekJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	_ = json.Unmarshal(body, v)
	return true
}
