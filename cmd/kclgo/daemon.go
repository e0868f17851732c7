package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
)

const daemonUsage = `usage: kclgo daemon [--kcl 3|2|1] [--check] app.properties

Checks the properties file (executableName exists and is executable; streamName,
applicationName present; endpoints are URLs, consistent with regionName and with
each other), fetches the pinned daemon jars if missing, then runs Amazon's KCL
MultiLangDaemon on it. SIGINT and SIGTERM are passed to the daemon, so that its
graceful shutdown runs; a second one kills it. The exit status is the daemon's.
`

// daemonCmd is kclgo daemon.
func daemonCmd(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, daemonUsage) }
	kcl := fs.String("kcl", "3", "daemon major version: 3 or 1")
	checkOnly := fs.Bool("check", false, "check the properties file and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	k, err := kindOf(*kcl)
	if err != nil {
		fmt.Fprintln(stderr, "kclgo daemon:", err)
		return 2
	}
	props, err := filepath.Abs(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "kclgo daemon:", err)
		return 2
	}
	p, err := readProperties(props)
	if err == nil {
		wd, _ := os.Getwd()
		err = p.check(wd)
	}
	if err != nil {
		fmt.Fprintln(stderr, "kclgo daemon:", err)
		return 2
	}
	if *checkOnly {
		fmt.Fprintf(stderr, "kclgo daemon: %s looks right\n", props)
		return 0
	}
	cache, err := cacheDir()
	if err == nil {
		_, err = fetchJars(ctx, cache, k, stderr)
	}
	var argv []string
	if err == nil {
		argv, err = javaArgs(cache, k, props)
	}
	if err != nil {
		fmt.Fprintln(stderr, "kclgo daemon:", err)
		return 1
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	code, err := runForwardingSignals(cmd)
	if err != nil {
		fmt.Fprintln(stderr, "kclgo daemon:", err)
		return 1
	}
	return code
}

// runForwardingSignals runs cmd in its own process group and passes it
// SIGINT and SIGTERM (the first one as received, so that the daemon's
// shutdown hook runs its graceful shutdown; a second one as SIGKILL). It
// returns cmd's exit status (128+n when killed by signal n).
func runForwardingSignals(cmd *exec.Cmd) (int, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	received := 0
	for {
		select {
		case err := <-done:
			return exitCode(err)
		case sig := <-sigs:
			received++
			if received == 1 {
				_ = cmd.Process.Signal(sig)
			} else {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		}
	}
}

// exitCode turns cmd.Wait's error into an exit status.
func exitCode(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return 0, err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ee.ExitCode(), nil
}
