package h2c

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// childShardFixer adds the ChildShards field that real Kinesis returns with
// the last GetRecords response of a closed shard (no NextShardIterator) and
// that kinesalite leaves out. KCL 1.14+ and 2.x/3.x reject such a response
// ("GetRecordsResult is not valid ... ChildShards: []") and retry forever,
// so without this fix no shard split can complete under a local emulator.
//
// It remembers which shard each iterator belongs to (from GetShardIterator
// and from every NextShardIterator) and, at a shard's end, asks the upstream
// for the stream's shards (ListShards) to find the children.
type childShardFixer struct {
	upstream *url.URL
	client   *http.Client

	mu    sync.Mutex
	iters map[string]shardRef // shard iterator -> shard
}

type shardRef struct{ stream, shard string }

type ctxKey struct{}

// call is what the fixer learned from one request, carried to its response.
type call struct {
	target string
	ref    shardRef // for GetShardIterator: the shard asked for; for GetRecords: the iterator's shard
	header http.Header
}

const targetPrefix = "Kinesis_20131202."

func newChildShardFixer(upstream *url.URL) *childShardFixer {
	return &childShardFixer{upstream: upstream, client: &http.Client{}, iters: map[string]shardRef{}}
}

// wrap inspects GetShardIterator and GetRecords requests before they are
// proxied and stores what the response handler needs in the context.
func (f *childShardFixer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
		if (target != "GetShardIterator" && target != "GetRecords") || !isJSON(r.Header) {
			next.ServeHTTP(w, r)
			return
		}
		var req struct{ StreamName, StreamARN, ShardId, ShardIterator string }
		if !peekJSON(w, r, &req) {
			return
		}
		c := &call{target: target, header: r.Header.Clone()}
		switch target {
		case "GetShardIterator":
			stream := req.StreamName
			if stream == "" && req.StreamARN != "" {
				stream = req.StreamARN[strings.LastIndex(req.StreamARN, "/")+1:]
			}
			c.ref = shardRef{stream: stream, shard: req.ShardId}
		case "GetRecords":
			f.mu.Lock()
			c.ref = f.iters[req.ShardIterator]
			delete(f.iters, req.ShardIterator)
			f.mu.Unlock()
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
	})
}

func isJSON(h http.Header) bool {
	return strings.Contains(h.Get("Content-Type"), "json")
}

// modifyResponse is the ReverseProxy hook.
func (f *childShardFixer) modifyResponse(resp *http.Response) error {
	c, _ := resp.Request.Context().Value(ctxKey{}).(*call)
	if c == nil || resp.StatusCode != http.StatusOK || c.ref.shard == "" {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	setBody(resp, body)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil
	}
	switch c.target {
	case "GetShardIterator":
		f.remember(m["ShardIterator"], c.ref)
	case "GetRecords":
		if next := m["NextShardIterator"]; len(next) > 0 && string(next) != "null" {
			f.remember(next, c.ref)
			return nil
		}
		if cs := m["ChildShards"]; len(cs) > 0 && string(cs) != "null" && string(cs) != "[]" {
			return nil
		}
		children, err := f.children(resp.Request.Context(), c)
		if err != nil || len(children) == 0 {
			log.Printf("h2cproxy: %s/%s ended; no child shards found (%v)", c.ref.stream, c.ref.shard, err)
			return nil
		}
		m["ChildShards"] = children
		out, err := json.Marshal(m)
		if err != nil {
			return err
		}
		log.Printf("h2cproxy: %s/%s ended; added ChildShards %s", c.ref.stream, c.ref.shard, children)
		setBody(resp, out)
	}
	return nil
}

func setBody(resp *http.Response, b []byte) {
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
}

func (f *childShardFixer) remember(iter json.RawMessage, ref shardRef) {
	var s string
	if json.Unmarshal(iter, &s) != nil || s == "" {
		return
	}
	f.mu.Lock()
	f.iters[s] = ref
	f.mu.Unlock()
}

// children lists the shards whose parent (or adjacent parent) is c's shard,
// in the GetRecords ChildShards shape.
func (f *childShardFixer) children(ctx context.Context, c *call) (json.RawMessage, error) {
	var out struct {
		Shards []struct {
			ShardId               string
			ParentShardId         string
			AdjacentParentShardId string
			HashKeyRange          json.RawMessage
		}
	}
	if err := upstreamCall(ctx, f.client, f.upstream, c.header, "ListShards", map[string]string{"StreamName": c.ref.stream}, &out); err != nil {
		return nil, err
	}
	type child struct {
		ShardId      string
		ParentShards []string
		HashKeyRange json.RawMessage
	}
	var kids []child
	for _, s := range out.Shards {
		if s.ParentShardId != c.ref.shard && s.AdjacentParentShardId != c.ref.shard {
			continue
		}
		parents := []string{s.ParentShardId}
		if s.AdjacentParentShardId != "" {
			parents = append(parents, s.AdjacentParentShardId)
		}
		kids = append(kids, child{ShardId: s.ShardId, ParentShards: parents, HashKeyRange: s.HashKeyRange})
	}
	if len(kids) == 0 {
		return nil, nil
	}
	return json.Marshal(kids)
}
