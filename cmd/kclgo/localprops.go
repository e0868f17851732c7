package main

import (
	"fmt"
	"strings"
)

// localProperties returns the daemon's properties for the local emulators:
// what each key does is in the README's "Run your processor locally"
// section, which shows this file for the default ports.
func localProperties(k daemonKind, executable, stream, app, kinesisEndpoint, dynamoDBEndpoint string) string {
	var b strings.Builder
	// A properties file has no comments at the end of a line: they go above.
	line := func(key, value, comment string) {
		if comment != "" {
			b.WriteString("# " + comment + "\n")
		}
		fmt.Fprintf(&b, "%s = %s\n", key, value)
	}
	line("executableName", executable, "split on spaces: no spaces in paths")
	line("streamName", stream, "")
	line("applicationName", app, "names the lease table in DynamoDB")
	line("AWSCredentialsProvider", "EnvironmentVariableCredentialsProvider", "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test")
	line("regionName", "us-east-1", "")
	line("kinesisEndpoint", kinesisEndpoint, "the h2c proxy in front of the emulator: the 2.x/3.x daemon speaks HTTP/2 only")
	line("dynamoDBEndpoint", dynamoDBEndpoint, "the emulator itself (HTTP/1.1)")
	line("initialPositionInStream", "TRIM_HORIZON", "a new application starts at the oldest record")
	line("metricsLevel", "NONE", "no CloudWatch emulator")
	line("maxRecords", "1000", "")
	line("idleTimeBetweenReadsInMillis", "200", "")
	line("failoverTimeMillis", "3000", "short lease times and sync intervals: a local run is quick")
	line("shardSyncIntervalMillis", "1000", "")
	line("parentShardPollIntervalMillis", "1000", "")
	line("shutdownGraceMillis", "5000", "above failoverTimeMillis")
	if k.kcl != "1" {
		line("retrievalMode", "POLLING", "KCL 2.x/3.x: no SubscribeToShard in the emulators")
	}
	if k.kcl == "3" {
		line("leaseAssignmentIntervalMillis", "1000", "KCL 3: the leader's assignment loop")
		line("workerMetricsReporterFreqInMillis", "1000", "KCL 3: else no lease is assigned at first")
	}
	return b.String()
}
