package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// myproc is a processor as a user writes it in a module of their own: it
// embeds kcl.NopProcessor and checkpoints after each batch, unless
// MYPROC_NO_CHECKPOINT is set.
const myproc = `package main

import (
	"context"
	"os"

	"github.com/kclgo/kclgo/kcl"
)

type proc struct{ kcl.NopProcessor }

func (proc) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	if os.Getenv("MYPROC_NO_CHECKPOINT") != "" {
		return nil
	}
	return in.Checkpointer.Checkpoint(ctx)
}

func main() {
	if err := kcl.Run(context.Background(), proc{}); err != nil {
		os.Exit(1)
	}
}
`

// buildOutsideModule writes myproc into a new module in a temporary folder
// outside the repository, whose go.mod requires kclgo with a replace to this
// checkout, and builds it there (offline: the checkout's go.sum and the
// module cache have all it needs).
func buildOutsideModule(t *testing.T) (dir string) {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if strings.HasPrefix(dir, repo) {
		t.Fatalf("temporary folder %s is inside the repository", dir)
	}
	gomod := "module example.com/myproc\n\ngo 1.26.0\n\nrequire github.com/kclgo/kclgo v0.0.0\n\nreplace github.com/kclgo/kclgo => " + repo + "\n"
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum, "main.go": []byte(myproc)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-mod=mod", "-o", "myproc", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in %s: %v\n%s", dir, err, out)
	}
	return dir
}

// cacheForTests is $KCLGO_CACHE, or the checkout's .cache as the scripts use.
func cacheForTests() string {
	if c := os.Getenv("KCLGO_CACHE"); c != "" {
		return c
	}
	c, _ := filepath.Abs("../../.cache")
	return c
}

// TestLocalOutsideModule is the end-to-end proof of kclgo local: a
// processor built in its own module runs under the real KCL 3 daemon on the
// local emulators. One that checkpoints: exit 0 and every record counted
// delivered and checkpointed. One that never checkpoints: exit 1, every
// record delivered, none checkpointed, and each shard named.
func TestLocalOutsideModule(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the real daemon takes half a minute or more")
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java not installed (scripts/setup.sh installs it)")
	}
	dir := buildOutsideModule(t)
	cases := []struct {
		name    string
		env     []string
		code    int
		counts  string
		stderrs []string
	}{
		{"checkpoints", nil, 0, "records: put 300, delivered 300, checkpointed 300\n", []string{"every record was delivered and checkpointed"}},
		{"never-checkpoints", []string{"MYPROC_NO_CHECKPOINT=1"}, 1, "records: put 300, delivered 300, checkpointed 0\n",
			[]string{"asking the daemon for a graceful shutdown", "FAILED: shardId-00000000000"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(kclgoBin, "local", "--shards", "2", "--records", "300", "--settle", "3s", "--timeout", "3m", "--", "./myproc")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), append(c.env, "KCLGO_CACHE="+cacheForTests())...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			code, err := exitCode(cmd.Run())
			if err != nil {
				t.Fatal(err)
			}
			if code != c.code {
				t.Errorf("exit status %d, want %d", code, c.code)
			}
			if !strings.HasSuffix(stdout.String(), c.counts) {
				t.Errorf("stdout does not end with %q:\n%s", c.counts, stdout.String())
			}
			shards := regexp.MustCompile(`(?m)^shardId-\d+: delivered (\d+), checkpointed (\d+), checkpoint \S+$`).FindAllStringSubmatch(stdout.String(), -1)
			if len(shards) != 2 {
				t.Errorf("want a line per shard (2), got %d:\n%s", len(shards), stdout.String())
			}
			for _, w := range c.stderrs {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			if t.Failed() {
				t.Logf("stderr:\n%s", stderr.String())
			}
		})
	}
}
