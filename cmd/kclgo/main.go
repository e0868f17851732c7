// Command kclgo runs Go record processors under Amazon's KCL
// MultiLangDaemon, locally and for real:
//
//	kclgo local [--kcl 3|2|1] [--shards N] [--records N | --put FILE] -- ./myproc args...
//	kclgo daemon [--kcl 3|2|1] [--check] app.properties
//	kclgo jars [--kcl 3|2|1]
//	kclgo fake [--records N] [--batches N] [--end shardEnded|leaseLost|shutdownRequested] -- ./myproc args...
//
// local starts loopback emulators, puts records and runs the real daemon
// with the processor, showing per-shard progress read from the protocol (a
// tap between the daemon and the processor forwards both directions byte
// for byte); daemon checks a properties file before it starts Java and
// passes signals; jars fetches the pinned daemon jars; fake runs the
// processor under kclgo's fake daemon, without Java.
//
// Install it with
//
//	go install github.com/kclgo/kclgo/cmd/kclgo@latest
//
// It needs no checkout: the Maven project that fetches the jars, the
// daemon's log configurations and the emulator launcher are embedded
// (package scripts). It needs java and mvn for the daemon (local, daemon,
// jars), python3 (moto, installed with pip) for --kcl 3 and node with npm
// (kinesalite, dynalite) for --kcl 1. Jars, emulators and the run folders
// live in $KCLGO_CACHE, by default the user cache directory's kclgo folder.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `kclgo runs Go Kinesis record processors under Amazon's KCL MultiLangDaemon.

  kclgo local [--kcl 3|2|1] [--shards N] [--records N | --put FILE] -- ./myproc args...
        the real daemon on local emulators, with live progress; exit 0 when every
        record was delivered and checkpointed
  kclgo daemon [--kcl 3|2|1] [--check] app.properties
        check the properties, fetch the jars if missing, run the daemon
  kclgo jars [--kcl 3|2|1]
        fetch the pinned daemon jars (Maven) and print their folder
  kclgo fake [--records N] [--batches N] [--end E] -- ./myproc args...
        the processor under kclgo's fake daemon, without Java

"kclgo COMMAND -h" describes a command's flags. Files live in $KCLGO_CACHE
(default: the user cache directory's kclgo folder).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if args[0] == "tap" { // started by the daemon: signals go to the child
		return tapCmd(args[1:])
	}
	if args[0] == "daemon" { // signals go to the daemon
		return daemonCmd(context.Background(), args[1:], stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "local":
		return localCmd(ctx, args[1:], stdout, stderr)
	case "jars":
		return jarsCmd(ctx, args[1:], stdout, stderr)
	case "fake":
		return fakeCmd(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "kclgo: unknown command %q\n\n%s", args[0], usage)
	return 2
}
