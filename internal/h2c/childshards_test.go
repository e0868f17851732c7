package h2c

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// fakeKinesalite answers GetShardIterator, GetRecords and ListShards like
// kinesalite does for a stream whose shard 0 was split into shards 2 and 3:
// the closed shard's last GetRecords has no NextShardIterator and no
// ChildShards.
func fakeKinesalite(t *testing.T) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]string
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix) {
		case "GetShardIterator":
			_, _ = io.WriteString(w, `{"ShardIterator":"it-`+req["ShardId"]+`-1"}`)
		case "GetRecords":
			switch req["ShardIterator"] {
			case "it-shardId-000000000000-1":
				_, _ = io.WriteString(w, `{"Records":[],"NextShardIterator":"it-shardId-000000000000-2","MillisBehindLatest":0}`)
			case "it-shardId-000000000000-2":
				_, _ = io.WriteString(w, `{"Records":[],"MillisBehindLatest":0}`)
			default:
				t.Errorf("unexpected iterator %q", req["ShardIterator"])
			}
		case "ListShards":
			if r.Header.Get("Authorization") == "" {
				t.Error("ListShards without the client's Authorization header")
			}
			_, _ = io.WriteString(w, `{"Shards":[
				{"ShardId":"shardId-000000000000","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"9"}},
				{"ShardId":"shardId-000000000001","HashKeyRange":{"StartingHashKey":"10","EndingHashKey":"19"}},
				{"ShardId":"shardId-000000000002","ParentShardId":"shardId-000000000000","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"4"}},
				{"ShardId":"shardId-000000000003","ParentShardId":"shardId-000000000000","HashKeyRange":{"StartingHashKey":"5","EndingHashKey":"9"}}]}`)
		}
	}))
}

func TestChildShardsAdded(t *testing.T) {
	up := fakeKinesalite(t)
	defer up.Close()
	target, _ := url.Parse(up.URL)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(target, Options{ChildShards: true})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	call := func(op, body string) map[string]json.RawMessage {
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", targetPrefix+op)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20261126/us-east-1/kinesis/aws4_request")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		return m
	}
	call("GetShardIterator", `{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}`)
	if m := call("GetRecords", `{"ShardIterator":"it-shardId-000000000000-1"}`); m["ChildShards"] != nil {
		t.Errorf("ChildShards added to an open shard's response: %s", m["ChildShards"])
	}
	m := call("GetRecords", `{"ShardIterator":"it-shardId-000000000000-2"}`)
	var kids []struct {
		ShardId      string
		ParentShards []string
	}
	if err := json.Unmarshal(m["ChildShards"], &kids); err != nil {
		t.Fatalf("ChildShards %s: %v", m["ChildShards"], err)
	}
	if len(kids) != 2 || kids[0].ShardId != "shardId-000000000002" || kids[1].ShardId != "shardId-000000000003" ||
		len(kids[0].ParentShards) != 1 || kids[0].ParentShards[0] != "shardId-000000000000" {
		t.Errorf("ChildShards = %s", m["ChildShards"])
	}
}
