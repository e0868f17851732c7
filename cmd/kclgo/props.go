package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// errBadProperties is what every properties problem matches with errors.Is.
var errBadProperties = errors.New("bad properties")

// propsError lists every problem found in a properties file at once.
type propsError struct {
	Path     string
	Problems []string
}

func (e *propsError) Error() string {
	return fmt.Sprintf("%s: %s", e.Path, strings.Join(e.Problems, "; "))
}

func (e *propsError) Is(target error) bool { return target == errBadProperties }

// properties is a parsed Java properties file. Lookups ignore the case of
// keys, as the KCL 3.x daemon does for most of them.
type properties struct {
	path   string
	keys   []string          // in file order, as written
	values map[string]string // by lower-case key
}

// get returns the value of key, trimmed.
func (p *properties) get(key string) string {
	return strings.TrimSpace(p.values[strings.ToLower(key)])
}

// readProperties reads and parses a properties file.
func readProperties(path string) (*properties, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &propsError{Path: path, Problems: []string{"no such file"}}
		}
		return nil, fmt.Errorf("properties: %w", err)
	}
	return parseProperties(path, string(b)), nil
}

// parseProperties parses the java.util.Properties line format: "key = value",
// "key: value" or "key value"; "#" and "!" start comments; a line ending in
// an odd number of backslashes continues on the next line.
func parseProperties(path, text string) *properties {
	p := &properties{path: path, values: map[string]string{}}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimLeft(lines[i], " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		for continues(line) && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + strings.TrimLeft(lines[i], " \t\f")
		}
		key, value := splitProperty(line)
		p.keys = append(p.keys, key)
		p.values[strings.ToLower(key)] = value
	}
	return p
}

func continues(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitProperty splits a logical line at the first unescaped '=', ':' or
// white space, and unescapes both halves.
func splitProperty(line string) (key, value string) {
	end := len(line)
	for i := 0; i < len(line); i++ {
		if line[i] == '\\' {
			i++
			continue
		}
		if strings.IndexByte("=: \t\f", line[i]) >= 0 {
			end = i
			break
		}
	}
	key, rest := line[:end], strings.TrimLeft(line[end:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	return unescape(key), unescape(rest)
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// check returns every problem that would make the daemon fail late: a
// *propsError, or nil. dir is the directory the daemon starts in (relative
// executable paths are resolved against it).
func (p *properties) check(dir string) error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	for _, key := range p.keys {
		if v := p.values[strings.ToLower(key)]; strings.Contains(v, " #") || strings.Contains(v, "\t#") {
			add("%s = %q: a properties file has no comments at the end of a line, so the value is all of that; put the comment on a line of its own", key, v)
		}
	}
	if exe := p.get("executableName"); exe == "" {
		add("executableName is missing: set it to the path of your processor binary (the daemon starts one per shard)")
	} else if err := checkExecutable(strings.Fields(exe)[0], dir); err != nil {
		add("executableName: %v", err)
	}
	if p.get("streamName") == "" && p.get("streamArn") == "" {
		add("streamName is missing: name the Kinesis stream to consume")
	}
	if p.get("applicationName") == "" {
		add("applicationName is missing: it names the lease table in DynamoDB")
	}
	region := p.get("regionName")
	var local []string
	for _, key := range []string{"kinesisEndpoint", "dynamoDBEndpoint", "cloudWatchEndpoint"} {
		v := p.get(key)
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("%s = %q is not a URL: want http://host:port or https://host", key, v)
			continue
		}
		if isLoopback(u.Hostname()) {
			local = append(local, key)
		}
		if r := awsRegion(u.Hostname()); r != "" && region != "" && r != region {
			add("%s is in region %s but regionName is %s", key, r, region)
		}
	}
	if len(local) > 0 {
		for _, key := range []string{"kinesisEndpoint", "dynamoDBEndpoint"} {
			if p.get(key) == "" {
				add("%s points at this machine but %s is unset: the daemon would use the real AWS one", local[0], key)
			}
		}
		if p.get("metricsLevel") == "" || !strings.EqualFold(p.get("metricsLevel"), "NONE") {
			if p.get("cloudWatchEndpoint") == "" {
				add("%s points at this machine but metrics go to real CloudWatch: set metricsLevel = NONE", local[0])
			}
		}
	}
	if len(problems) > 0 {
		return &propsError{Path: p.path, Problems: problems}
	}
	return nil
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

// awsRegion returns the region in an AWS endpoint host name such as
// kinesis.eu-west-1.amazonaws.com, or "".
func awsRegion(host string) string {
	parts := strings.Split(host, ".")
	for i := 1; i+1 < len(parts); i++ {
		if parts[i+1] == "amazonaws" && strings.Count(parts[i], "-") >= 2 {
			return parts[i]
		}
	}
	return ""
}

// checkExecutable reports why path would not start as a program: it does
// not exist, is a directory, or is not executable. A name without a slash is
// looked up in PATH, as the daemon's ProcessBuilder does.
func checkExecutable(path, dir string) error {
	if !strings.Contains(path, "/") {
		if _, err := exec.LookPath(path); err != nil {
			return fmt.Errorf("%q is not a path and no such program is in PATH", path)
		}
		return nil
	}
	full := path
	if !filepath.IsAbs(full) {
		full = filepath.Join(dir, path)
	}
	st, err := os.Stat(full)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s does not exist", full)
	case err != nil:
		return err
	case st.IsDir():
		return fmt.Errorf("%s is a directory, not a program", full)
	case st.Mode()&0o111 == 0:
		return fmt.Errorf("%s is not executable (chmod +x %s)", full, full)
	}
	return nil
}
