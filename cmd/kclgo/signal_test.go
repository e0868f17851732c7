package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDaemonPassesSignals: a SIGTERM to kclgo daemon reaches the daemon (a
// fake java that traps it, as the JVM's shutdown hook does), kclgo waits
// for its graceful exit and exits with its status.
func TestDaemonPassesSignals(t *testing.T) {
	bin, marks := t.TempDir(), t.TempDir()
	java := "#!/bin/sh\ntrap 'echo TERM > " + filepath.Join(marks, "signal") + "; exit 143' TERM\necho started > " +
		filepath.Join(marks, "started") + "\nwhile :; do sleep 0.05; done\n"
	if err := os.WriteFile(filepath.Join(bin, "java"), []byte(java), 0o755); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	if err := os.MkdirAll(filepath.Join(cache, "jars", "kcl3"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "jars", "kcl3", ".complete"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kclgoBin, "daemon", "testdata/props/good.properties")
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "KCLGO_CACHE="+cache)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ { // bounded: 10 s
		if _, err := os.Stat(filepath.Join(marks, "started")); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := exitCode(cmd.Wait())
	if err != nil {
		t.Fatal(err)
	}
	if code != 143 {
		t.Errorf("exit status %d, want the daemon's 143; stderr %q", code, stderr.String())
	}
	if b, err := os.ReadFile(filepath.Join(marks, "signal")); err != nil || strings.TrimSpace(string(b)) != "TERM" {
		t.Errorf("the daemon did not get SIGTERM (%v)", err)
	}
}
