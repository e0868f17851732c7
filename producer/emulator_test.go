package producer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kclgo/kclgo/deagg"
)

// The emulator tests run against moto's Kinesis (moto_server from PyPI),
// started once on a free loopback port the first time a test needs it and
// stopped by TestMain. They reach it through a gate that lets one request
// in at a time (see serveOneAtATime).

var emu struct {
	once  sync.Once
	url   string // the gate's
	moto  string // moto's own
	cmd   *exec.Cmd
	gate  *httptest.Server
	err   error
	skip  string
	serve sync.Mutex // held while moto serves a request
}

func TestMain(m *testing.M) {
	code := m.Run()
	if emu.gate != nil {
		emu.gate.Close()
	}
	if emu.cmd != nil && emu.cmd.Process != nil {
		_ = syscall.Kill(-emu.cmd.Process.Pid, syscall.SIGKILL) // its process group
		_ = emu.cmd.Wait()
	}
	os.Exit(code)
}

// emulator returns the URL of a running moto server, starting it on first
// use. Without moto_server it fails under CI, else installs it once with pip
// or skips.
func emulator(tb testing.TB) string {
	tb.Helper()
	emu.once.Do(startEmulator)
	if emu.skip != "" {
		tb.Skip(emu.skip)
	}
	if emu.err != nil {
		tb.Fatal(emu.err)
	}
	return emu.url
}

func startEmulator() {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		if os.Getenv("CI") != "" {
			emu.err = errors.New("moto_server not found on PATH: the emulator tests need it under CI; install it with pip install 'moto[server]' (scripts/setup.sh does)")
			return
		}
		out, perr := exec.Command("python3", "-m", "pip", "install", "-q", "moto[server]").CombinedOutput()
		if bin, err = exec.LookPath("moto_server"); err != nil {
			emu.skip = fmt.Sprintf("moto_server not found and pip install 'moto[server]' failed (%v: %s): skipping the Kinesis emulator tests", perr, strings.TrimSpace(string(out)))
			return
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		emu.err = err
		return
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		emu.err = fmt.Errorf("start moto_server: %w", err)
		return
	}
	emu.cmd = cmd
	moto := fmt.Sprintf("http://127.0.0.1:%d", port)
	emu.moto = moto
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(moto + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			emu.err = fmt.Errorf("moto_server on %s did not answer within 60s: %w", moto, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	emu.gate = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveOneAtATime(w, r, moto)
	}))
	emu.url = emu.gate.URL
}

// serveOneAtATime forwards r to moto and copies its answer back, one request
// at a time. moto's Kinesis is not safe for concurrent requests: its
// Shard.put_record reads the shard's highest sequence number and stores the
// record under the next one, so two puts on one shard at once (two
// PutRecords for the two children of a split shard, which moto stores on
// the parent; a retry while the first try is still being served) may get
// the same sequence number, and the second record overwrites the first
// while both are acknowledged. The request goes on when its client goes
// away (as a real put does), and the next one starts only after moto
// answered it.
func serveOneAtATime(w http.ResponseWriter, r *http.Request, moto string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	emu.serve.Lock()
	resp, respBody, err := roundTrip(moto, r, body)
	emu.serve.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, vs := range resp.Header {
		if !strings.EqualFold(k, "Content-Length") {
			w.Header()[k] = vs
		}
	}
	w.Header().Set("Connection", "close") // as moto's HTTP/1.0: no idle connection outlives a test
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

// oneShot opens a connection per request and keeps none idle, so that no
// goroutine of it outlives a test (checkGoroutines).
var oneShot = &http.Transport{DisableKeepAlives: true}

// roundTrip sends a copy of r with body to target, whether or not r's
// client is still there, and returns the answer read whole.
func roundTrip(target string, r *http.Request, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range r.Header {
		if !strings.EqualFold(k, "Content-Length") {
			req.Header[k] = vs
		}
	}
	resp, err := oneShot.RoundTrip(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// kinesisClient returns an SDK client for url with dummy credentials.
func kinesisClient(url string, optFns ...func(*kinesis.Options)) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("x", "x", ""),
	}, optFns...)
}

var streamSeq struct {
	sync.Mutex
	n int
}

// createStream creates a fresh stream of n shards and waits until it is
// active.
func createStream(tb testing.TB, c *kinesis.Client, shards int) string {
	tb.Helper()
	streamSeq.Lock()
	streamSeq.n++
	name := fmt.Sprintf("%s-%d-%d", strings.NewReplacer("/", "-", " ", "-").Replace(tb.Name()), os.Getpid(), streamSeq.n)
	streamSeq.Unlock()
	ctx := context.Background()
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))}); err != nil {
		tb.Fatalf("CreateStream: %v", err)
	}
	for range 100 {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return name
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("stream %s not active", name)
	return ""
}

// readAll reads every record of every shard (closed ones included) from the
// start, deaggregates them, and returns the user records shard by shard in
// sequence order.
func readAll(tb testing.TB, c *kinesis.Client, stream string) []deagg.UserRecord {
	tb.Helper()
	var all []deagg.UserRecord
	readShards(tb, c, stream, func(_ types.Shard, recs []deagg.Record) {
		var err error
		if all, err = deagg.AppendUserRecords(all, recs); err != nil {
			tb.Fatalf("deaggregate: %v", err)
		}
	})
	return all
}

// readShards reads every shard (closed ones included) from the start and
// hands each GetRecords page to fn.
func readShards(tb testing.TB, c *kinesis.Client, stream string, fn func(types.Shard, []deagg.Record)) {
	tb.Helper()
	ctx := context.Background()
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		tb.Fatalf("ListShards: %v", err)
	}
	for _, s := range shards.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream),
			ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			tb.Fatalf("GetShardIterator: %v", err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				tb.Fatalf("GetRecords: %v", err)
			}
			recs := make([]deagg.Record, len(out.Records))
			for i, r := range out.Records {
				recs[i] = deagg.Record{Data: r.Data, PartitionKey: aws.ToString(r.PartitionKey), SequenceNumber: aws.ToString(r.SequenceNumber)}
			}
			fn(s, recs)
			if len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
}

// splitFirstShard splits the stream's first shard in two halves.
func splitFirstShard(tb testing.TB, c *kinesis.Client, stream string) {
	tb.Helper()
	ctx := context.Background()
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		tb.Fatal(err)
	}
	s0 := shards.Shards[0]
	start, _ := new(big.Int).SetString(aws.ToString(s0.HashKeyRange.StartingHashKey), 10)
	end, _ := new(big.Int).SetString(aws.ToString(s0.HashKeyRange.EndingHashKey), 10)
	mid := new(big.Int).Rsh(new(big.Int).Add(start, end), 1)
	if _, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(stream),
		ShardToSplit: s0.ShardId, NewStartingHashKey: aws.String(mid.String())}); err != nil {
		tb.Fatal(err)
	}
}

func TestEmulatorSmoke(t *testing.T) {
	url := emulator(t)
	c := kinesisClient(url)
	stream := createStream(t, c, 2)
	out, err := c.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(stream),
		Records: []types.PutRecordsRequestEntry{{Data: []byte("hello"), PartitionKey: aws.String("k")}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s %s", aws.ToString(out.Records[0].ShardId), aws.ToString(out.Records[0].SequenceNumber))
	got := readAll(t, c, stream)
	if len(got) != 1 || string(got[0].Data) != "hello" {
		t.Fatalf("got %+v", got)
	}
}

// TestEmulatorConcurrentPuts: PutRecords calls from many clients at once on
// one shard all store their records, under their own sequence numbers (moto
// alone lost some: see serveOneAtATime).
func TestEmulatorConcurrentPuts(t *testing.T) {
	url := emulator(t)
	if n, stored, seqs := putConcurrently(t, url); stored != n || seqs != n {
		t.Errorf("%d records acknowledged, %d read back under %d sequence numbers", n, stored, seqs)
	}
}

// putConcurrently puts records from several goroutines at once into a
// fresh one-shard stream through url and returns how many were
// acknowledged, read back, and under how many sequence numbers.
func putConcurrently(t *testing.T, url string) (acked, stored, seqs int) {
	c := kinesisClient(url)
	stream := createStream(t, c, 1)
	const g, calls, per = 8, 25, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := range g {
		wg.Go(func() {
			for k := range calls {
				in := &kinesis.PutRecordsInput{StreamName: aws.String(stream)}
				for i := range per {
					in.Records = append(in.Records, types.PutRecordsRequestEntry{
						Data: fmt.Appendf(nil, "%d %d %d", w, k, i), PartitionKey: aws.String(fmt.Sprint(i))})
				}
				out, err := c.PutRecords(context.Background(), in)
				if err != nil {
					t.Errorf("PutRecords: %v", err)
					return
				}
				mu.Lock()
				acked += len(out.Records) - int(aws.ToInt32(out.FailedRecordCount))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, u := range readAll(t, c, stream) {
		seen[u.SequenceNumber] = true
		stored++
	}
	return acked, stored, len(seen)
}
