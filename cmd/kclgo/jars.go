package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/kclgo/kclgo/scripts"
)

// errNoJava is returned when java (or mvn, to fetch the jars) is missing.
var errNoJava = errors.New("java missing")

// daemonKind describes one KCL major version's daemon.
type daemonKind struct {
	kcl       string // "3", "2" or "1"
	mainClass string
	flags     []string // JVM flags
}

// kindOf returns the daemon of a --kcl value.
func kindOf(kcl string) (daemonKind, error) {
	switch kcl {
	case "3":
		return daemonKind{kcl: "3", mainClass: "software.amazon.kinesis.multilang.MultiLangDaemon", flags: []string{"-Daws.cborEnabled=false"}}, nil
	case "2": // 2.7.2: its jar without a POM, dependencies named in scripts/pom.xml's kcl2 profile
		return daemonKind{kcl: "2", mainClass: "software.amazon.kinesis.multilang.MultiLangDaemon", flags: []string{"-Daws.cborEnabled=false"}}, nil
	case "1":
		return daemonKind{kcl: "1", mainClass: "com.amazonaws.services.kinesis.multilang.MultiLangDaemon", flags: []string{"-Dcom.amazonaws.sdk.disableCbor=true"}}, nil
	}
	return daemonKind{}, fmt.Errorf("--kcl %q: want 3, 2 or 1", kcl)
}

// version returns the daemon version pinned in scripts/pom.xml.
func (k daemonKind) version() string {
	m := regexp.MustCompile(`<kcl` + k.kcl + `\.version>([^<]+)<`).FindSubmatch(scripts.PomXML())
	if m == nil {
		return "?"
	}
	return string(m[1])
}

// cacheDir is where jars, emulators and runs live: $KCLGO_CACHE, or the
// user's cache directory. The layout is the one scripts/*.sh use, so a
// checkout's .cache can be shared (KCLGO_CACHE=<repo>/.cache).
func cacheDir() (string, error) {
	if d := os.Getenv("KCLGO_CACHE"); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (set KCLGO_CACHE): %w", err)
	}
	return filepath.Join(d, "kclgo"), nil
}

// jarsDir returns the folder of k's jars in the cache.
func jarsDir(cache string, k daemonKind) string {
	return filepath.Join(cache, "jars", "kcl"+k.kcl)
}

// fetchJars fetches k's jars into the cache unless they are there, through
// Maven (the embedded scripts/pom.xml, dependency:copy-dependencies).
func fetchJars(ctx context.Context, cache string, k daemonKind, progress io.Writer) (string, error) {
	dir := jarsDir(cache, k)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, nil
	}
	if _, err := exec.LookPath("java"); err != nil {
		return "", fmt.Errorf("%w: the daemon needs Java 8 or newer (apt-get install openjdk-17-jre-headless)", errNoJava)
	}
	mvn := os.Getenv("MVN")
	if mvn == "" {
		mvn = "mvn"
	}
	if _, err := exec.LookPath(mvn); err != nil {
		return "", fmt.Errorf("%w: mvn not found: Maven 3.6+ fetches the daemon's jars (apt-get install maven)", errNoJava)
	}
	conf, err := writeConf(cache)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(progress, "kclgo: fetching the KCL %s daemon's jars (%s) into %s with Maven\n", k.kcl, k.version(), dir)
	tmp := dir + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, mvn, "-B", "-q", "-f", filepath.Join(conf, "pom.xml"), "-P", "kcl"+k.kcl,
		"dependency:copy-dependencies", "-Djars.dir="+tmp)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("maven could not fetch the KCL %s jars: %w\n%s", k.kcl, err, tail(out.String(), 20))
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644); err != nil {
		return "", err
	}
	n, _ := filepath.Glob(filepath.Join(dir, "*.jar"))
	fmt.Fprintf(progress, "kclgo: %d jars in %s\n", len(n), dir)
	return dir, nil
}

// writeConf writes the embedded configuration files into cache/conf (when
// they differ) and returns that folder.
func writeConf(cache string) (string, error) {
	dir := filepath.Join(cache, "conf")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for name, b := range map[string][]byte{
		"pom.xml":            scripts.PomXML(),
		"logback.xml":        scripts.LogbackXML(),
		"logging.properties": scripts.LoggingProperties(),
		"emulators.js":       scripts.EmulatorsJS(),
	} {
		path := filepath.Join(dir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
			continue
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// javaArgs returns the daemon's command line for the properties file props
// (absolute), as scripts/kcl-jars.sh builds it.
func javaArgs(cache string, k daemonKind, props string) ([]string, error) {
	conf, err := writeConf(cache)
	if err != nil {
		return nil, err
	}
	args := []string{"java"}
	args = append(args, k.flags...)
	if k.kcl == "1" {
		args = append(args, "-Djava.util.logging.config.file="+filepath.Join(conf, "logging.properties"))
	}
	args = append(args, strings.Fields(os.Getenv("KCL_JAVA_OPTS"))...)
	args = append(args, "-cp", filepath.Join(jarsDir(cache, k), "*")+":"+filepath.Dir(props), k.mainClass)
	if k.kcl == "1" {
		return append(args, props), nil
	}
	return append(args, "--properties-file", props, "--log-configuration", filepath.Join(conf, "logback.xml")), nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// jarsCmd is kclgo jars.
func jarsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("jars", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: kclgo jars [--kcl 3|2|1]\n\nFetches the pinned daemon jars with Maven (unless present) and prints their folder.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	kcl := fs.String("kcl", "3", "daemon major version: 3 or 1")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	k, err := kindOf(*kcl)
	if err != nil {
		fmt.Fprintln(stderr, "kclgo jars:", err)
		return 2
	}
	cache, err := cacheDir()
	if err != nil {
		fmt.Fprintln(stderr, "kclgo jars:", err)
		return 1
	}
	dir, err := fetchJars(ctx, cache, k, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "kclgo jars:", err)
		return 1
	}
	fmt.Fprintln(stdout, dir)
	return 0
}
