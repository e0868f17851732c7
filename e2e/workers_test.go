package e2e

import (
	"context"
	"math/big"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// owners counts the leases each worker owns.
func owners(t *testing.T, ep endpoints, app string) map[string]int {
	t.Helper()
	ls, err := leases(ep, app)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, l := range ls {
		m[l.owner]++
	}
	return m
}

// leader returns the worker id holding the KCL 3 leader lock, if it can tell.
func leader(ep endpoints, app string) string {
	c := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep.dynamo), Credentials: awsCreds()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(app + "-CoordinatorState")})
	if err != nil {
		return ""
	}
	for _, it := range out.Items {
		if attr(it["key"]) == "Leader" {
			return attr(it["ownerName"])
		}
	}
	return ""
}

// TestTwoWorkers: two KCL 3 daemons of one application share the shards;
// when one is killed its leases move to the other and nothing is lost.
func TestTwoWorkers(t *testing.T) {
	need(t)
	t.Parallel()
	ep := env.kcl3
	stream, app := unique("workers"), unique("workers-app")
	produce(t, ep, stream, 4, 0, 4000)
	logPath := filepath.Join(t.TempDir(), "records.log")
	ds := map[string]*daemon{}
	for _, w := range []string{"worker-a", "worker-b"} {
		ds[w] = startDaemon(t, 3, props(3, ep, app, stream, env.child, map[string]string{"workerId": w}), childEnv(logPath))
	}
	waitAll(t, logPath, 0, 4000, 3*time.Minute, ds["worker-a"], ds["worker-b"])
	waitFor(t, 90*time.Second, "both workers to own leases", func() bool {
		o := owners(t, ep, app)
		return o["worker-a"] > 0 && o["worker-b"] > 0
	})
	t.Logf("lease owners: %v, leader %q", owners(t, ep, app), leader(ep, app))

	// Kill the worker that is not the leader: a dead leader's lock is only
	// taken over after its lock lease (minutes) runs out.
	victim, survivor := "worker-b", "worker-a"
	if leader(ep, app) == "worker-b" {
		victim, survivor = survivor, victim
	}
	t.Logf("SIGKILL %s (daemon and children)", victim)
	ds[victim].kill()
	produce(t, ep, stream, 0, 4000, 4000)
	waitAll(t, logPath, 0, 8000, 3*time.Minute, ds[survivor])
	waitFor(t, 60*time.Second, "every lease owned by "+survivor, func() bool {
		return owners(t, ep, app)[survivor] == 4
	})
}

// TestResharding: KCL 1 + kinesalite + dynalite. A shard is split while
// the daemon consumes; the parent ends with a SHARD_END checkpoint and the
// children's records all arrive after the parent's last record.
func TestResharding(t *testing.T) {
	need(t)
	t.Parallel()
	reshard(t, 1, env.kcl1)
}

// TestReshardingKCL3: the same with the KCL 3 daemon, Kinesis from
// kinesalite (through the proxy that adds ChildShards) and DynamoDB from
// moto (KCL 3 needs the lease-owner GSI, which dynalite cannot create).
func TestReshardingKCL3(t *testing.T) {
	need(t)
	t.Parallel()
	reshard(t, 3, env.kcl3k)
}

func reshard(t *testing.T, kcl int, ep endpoints) {
	stream, app := unique("reshard"), unique("reshard-app")
	produce(t, ep, stream, 2, 0, 1000)
	logPath := filepath.Join(t.TempDir(), "records.log")
	d := startDaemon(t, kcl, props(kcl, ep, app, stream, env.child, nil), childEnv(logPath))
	waitAll(t, logPath, 0, 1000, 3*time.Minute, d)

	kc := kinesisClient(ep)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	parent := shards.Shards[0]
	lo, _ := new(big.Int).SetString(aws.ToString(parent.HashKeyRange.StartingHashKey), 10)
	hi, _ := new(big.Int).SetString(aws.ToString(parent.HashKeyRange.EndingHashKey), 10)
	mid := new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1)
	if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(stream),
		ShardToSplit: parent.ShardId, NewStartingHashKey: aws.String(mid.String())}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "stream ACTIVE after the split", func() bool {
		out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		return err == nil && out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive
	})
	produce(t, ep, stream, 0, 1000, 1000)
	lines := waitAll(t, logPath, 0, 2000, 3*time.Minute, d)

	all, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var children []string
	for _, s := range all.Shards {
		if aws.ToString(s.ParentShardId) == aws.ToString(parent.ShardId) {
			children = append(children, aws.ToString(s.ShardId))
		}
	}
	sort.Strings(children)
	if len(children) != 2 {
		t.Fatalf("children of %s: %v", aws.ToString(parent.ShardId), children)
	}
	lastParent, firstChild := -1, len(lines)
	perShard := map[string]int{}
	for i, l := range lines {
		if l.kind != 'R' {
			continue
		}
		perShard[l.shard]++
		if l.shard == aws.ToString(parent.ShardId) {
			lastParent = i
		}
		if (l.shard == children[0] || l.shard == children[1]) && i < firstChild {
			firstChild = i
		}
	}
	t.Logf("records per shard: %v", perShard)
	if perShard[children[0]]+perShard[children[1]] == 0 {
		t.Errorf("no record arrived from the child shards %v", children)
	}
	if firstChild < lastParent {
		t.Errorf("a child record (line %d) arrived before the parent's last record (line %d)", firstChild, lastParent)
	}
	waitFor(t, 30*time.Second, "the parent's SHARD_END checkpoint", func() bool {
		ls, err := leases(ep, app)
		return err == nil && ls[aws.ToString(parent.ShardId)].checkpoint == "SHARD_END"
	})
	ls, _ := leases(ep, app)
	var summary []string
	for k, l := range ls {
		summary = append(summary, k+"="+l.checkpoint)
	}
	sort.Strings(summary)
	t.Logf("lease checkpoints: %s", strings.Join(summary, " "))
}
