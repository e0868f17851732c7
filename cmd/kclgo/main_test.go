package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// kclgoBin is the kclgo binary built for the tests that need a real
// process (exit status, the tap as a child).
var kclgoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kclgo-test-")
	if err != nil {
		panic(err)
	}
	kclgoBin = filepath.Join(dir, "kclgo")
	if out, err := exec.Command("go", "build", "-o", kclgoBin, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fakeTools returns a PATH whose java and mvn only leave a mark in the
// returned folder: a test sees whether they would have been started.
func fakeTools(t *testing.T) (path, marks string) {
	t.Helper()
	bin, marks := t.TempDir(), t.TempDir()
	for _, name := range []string{"java", "mvn"} {
		script := "#!/bin/sh\necho \"$@\" > " + filepath.Join(marks, name) + "\nexit 0\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin + string(os.PathListSeparator) + os.Getenv("PATH"), marks
}

// runKclgo runs the built kclgo in this package's folder.
func runKclgo(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(kclgoBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code, werr := exitCode(err)
	if werr != nil {
		t.Fatalf("kclgo %v: %v", args, werr)
	}
	return code, o.String(), e.String()
}

// TestDaemonBadProperties: each fault is named in a clear message, the exit
// status is non-zero, and neither Java nor Maven was started.
func TestDaemonBadProperties(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("unix only")
	}
	cases := []struct {
		file string
		want []string
	}{
		{"testdata/props/no-such-file.properties", []string{"no-such-file.properties: no such file"}},
		{"testdata/props/missing-executable.properties", []string{"executableName is missing"}},
		{"testdata/props/no-such-path.properties", []string{"executableName:", "testdata/props/no-such-proc does not exist"}},
		{"testdata/props/not-executable.properties", []string{"not-executable.sh is not executable (chmod +x"}},
		{"testdata/props/directory.properties", []string{"testdata/props is a directory, not a program"}},
		{"testdata/props/missing-stream.properties", []string{"streamName is missing"}},
		{"testdata/props/missing-dynamodb-endpoint.properties", []string{"kinesisEndpoint points at this machine but dynamoDBEndpoint is unset"}},
		{"testdata/props/region-mismatch.properties", []string{"kinesisEndpoint is in region eu-west-1 but regionName is us-east-1"}},
		{"testdata/props/inline-comment.properties", []string{`initialPositionInStream = "TRIM_HORIZON   # start at the oldest": a properties file has no comments at the end of a line`}},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			path, marks := fakeTools(t)
			code, _, stderr := runKclgo(t, []string{"PATH=" + path, "KCLGO_CACHE=" + t.TempDir()}, "daemon", c.file)
			if code == 0 {
				t.Errorf("exit status 0, want non-zero")
			}
			if !strings.HasPrefix(stderr, "kclgo daemon: ") || strings.Count(stderr, "\n") != 1 {
				t.Errorf("want one line starting with 'kclgo daemon: ', got %q", stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("message %q lacks %q", stderr, w)
				}
			}
			for _, tool := range []string{"java", "mvn"} {
				if _, err := os.Stat(filepath.Join(marks, tool)); err == nil {
					t.Errorf("%s was started", tool)
				}
			}
		})
	}
}

// TestDaemonGoodProperties: a right file passes the checks and the daemon
// is started (a fake java here) with the properties file and the jars.
func TestDaemonGoodProperties(t *testing.T) {
	path, marks := fakeTools(t)
	cache := t.TempDir()
	jars := filepath.Join(cache, "jars", "kcl3")
	if err := os.MkdirAll(jars, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(jars, ".complete"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runKclgo(t, []string{"PATH=" + path, "KCLGO_CACHE=" + cache}, "daemon", "--check", "testdata/props/good.properties")
	if code != 0 || !strings.Contains(stderr, "looks right") {
		t.Fatalf("--check: status %d, %q", code, stderr)
	}
	code, _, stderr = runKclgo(t, []string{"PATH=" + path, "KCLGO_CACHE=" + cache}, "daemon", "testdata/props/good.properties")
	if code != 0 {
		t.Fatalf("status %d: %s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(marks, "java"))
	if err != nil {
		t.Fatal("java was not started")
	}
	abs, _ := filepath.Abs("testdata/props/good.properties")
	for _, w := range []string{"-Daws.cborEnabled=false", jars + "/*", "software.amazon.kinesis.multilang.MultiLangDaemon", "--properties-file " + abs, "--log-configuration " + filepath.Join(cache, "conf", "logback.xml")} {
		if !strings.Contains(string(b), w) {
			t.Errorf("java %s: lacks %q", b, w)
		}
	}
	if _, err := os.Stat(filepath.Join(marks, "mvn")); err == nil {
		t.Error("mvn was started although the jars were there")
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"local"}, {"fake"}, {"daemon"}, {"local", "--kcl", "4", "--", "x"}} {
		code, _, stderr := runKclgo(t, nil, args...)
		if code != 2 || stderr == "" {
			t.Errorf("kclgo %v: status %d, stderr %q; want 2 and a message", args, code, stderr)
		}
	}
	code, stdout, _ := runKclgo(t, nil, "--help")
	if code != 0 || !strings.Contains(stdout, "kclgo local") {
		t.Errorf("--help: status %d, %q", code, stdout)
	}
}
