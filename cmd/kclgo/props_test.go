package main

import (
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	text := "# comment\n! also\n\n  executableName = /bin/proc -x\nstreamName:s1\napplicationName   app\n" +
		"regionName = us-\\\n   east-1\nkey\\ with\\=odd = v\\tw\nempty =\r\nAWSCREDENTIALSPROVIDER=X\n"
	p := parseProperties("x", text)
	for key, want := range map[string]string{
		"executableName": "/bin/proc -x", "streamName": "s1", "applicationName": "app", "regionName": "us-east-1",
		"key with=odd": "v\tw", "empty": "", "AWSCredentialsProvider": "X",
	} {
		if got := p.get(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if len(p.keys) != 7 {
		t.Errorf("keys %q", p.keys)
	}
}

func TestAWSRegion(t *testing.T) {
	for host, want := range map[string]string{
		"kinesis.eu-west-1.amazonaws.com": "eu-west-1", "dynamodb.us-gov-west-1.amazonaws.com": "us-gov-west-1",
		"127.0.0.1": "", "localhost": "", "kinesis.amazonaws.com": "",
	} {
		if got := awsRegion(host); got != want {
			t.Errorf("awsRegion(%q) = %q, want %q", host, got, want)
		}
	}
}

// FuzzParseProperties: the parser never panics, every key it reports can be
// looked up, and the checks never panic either.
func FuzzParseProperties(f *testing.F) {
	for _, s := range []string{"a=b", "a\\\n", "\\", "x = y \\\\\n z", "executableName = \nkinesisEndpoint = http://[::1", "a:b\r\n#c\n!d", "k\\u0041=v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p := parseProperties("fuzz", text)
		for _, k := range p.keys {
			if _, ok := p.values[strings.ToLower(k)]; !ok {
				t.Fatalf("key %q reported but not stored", k)
			}
		}
		_ = p.check(t.TempDir())
	})
}
