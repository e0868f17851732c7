package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFake: kclgo fake counts from the transcript: the sample acknowledges
// every record and checkpoints; a program that is no processor fails with
// a message.
func TestFake(t *testing.T) {
	sample := buildSample(t)
	code, stdout, _ := runKclgo(t, nil, "fake", "-records", "250", "-batches", "4", "--", sample)
	if code != 0 || !strings.Contains(stdout, "records: sent 250, acknowledged 250;") || !strings.Contains(stdout, "stored checkpoint: SHARD_END") {
		t.Errorf("sample: status %d, %q", code, stdout)
	}
	code, stdout, _ = runKclgo(t, nil, "fake", "-records", "10", "--", "true")
	if code != 1 || !strings.Contains(stdout, "acknowledged 0") || !strings.Contains(stdout, "FAILED: kcltest: ") || !strings.Contains(stdout, "the child closed") {
		t.Errorf("true: status %d, %q", code, stdout)
	}
	if code, _, stderr := runKclgo(t, nil, "fake", "-end", "sideways", "--", sample); code != 2 || !strings.Contains(stderr, `--end "sideways"`) {
		t.Errorf("bad -end: status %d, %q", code, stderr)
	}
}

func TestRecordsToPut(t *testing.T) {
	got, err := recordsToPut(localConfig{put: "testdata/events.txt"})
	if err != nil || len(got) != 3 || string(got[2]) != `{"json": true}` {
		t.Errorf("events.txt: %q, %v", got, err)
	}
	got, err = recordsToPut(localConfig{records: 3})
	if err != nil || len(got) != 3 || string(got[0]) != "rec-0" {
		t.Errorf("generated: %q, %v", got, err)
	}
	for file, want := range map[string]string{"testdata/empty.txt": "no lines", "testdata/nope.txt": "--put: open testdata/nope.txt"} {
		if _, err := recordsToPut(localConfig{put: file}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", file, err, want)
		}
	}
}

// TestLocalBadChild: kclgo local names a processor it cannot start before
// it starts anything.
func TestLocalBadChild(t *testing.T) {
	path, marks := fakeTools(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--", "./testdata/props/no-such-proc"}, "testdata/props/no-such-proc does not exist"},
		{[]string{"--", "testdata/props/not-executable.sh"}, "not-executable.sh is not executable"},
		{[]string{"--", "testdata/props/proc.sh", "two words"}, `processor argument "two words"`},
		{[]string{"--put", "testdata/empty.txt", "--", "testdata/props/proc.sh"}, "no lines"},
	} {
		code, _, stderr := runKclgo(t, []string{"PATH=" + path, "KCLGO_CACHE=" + t.TempDir()}, append([]string{"local"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("local %v: status %d, %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	for _, tool := range []string{"java", "mvn"} {
		if _, err := os.Stat(filepath.Join(marks, tool)); err == nil {
			t.Errorf("%s was started", tool)
		}
	}
}
