package producer_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
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
// stopped by TestMain.

var emu struct {
	once sync.Once
	url  string
	cmd  *exec.Cmd
	err  error
	skip string
}

func TestMain(m *testing.M) {
	code := m.Run()
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
	emu.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(emu.url + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			emu.err = fmt.Errorf("moto_server on %s did not answer within 60s: %w", emu.url, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
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
