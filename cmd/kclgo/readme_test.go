package main

import (
	"os"
	"strings"
	"testing"
)

// readmeProperties is the README's properties file for the emulators: what
// kclgo local writes, for localstack.sh's default ports.
func readmeProperties() string {
	k, _ := kindOf("3")
	return localProperties(k, "/abs/path/to/myproc", "my-stream", "my-app", "http://127.0.0.1:4581", "http://127.0.0.1:4580")
}

// TestReadmeProperties: the README shows the properties kclgo local uses,
// as they are, and they pass kclgo daemon's checks (but for the path).
func TestReadmeProperties(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```properties\n"+readmeProperties()+"```\n") {
		t.Errorf("README.md lacks this properties block:\n%s", readmeProperties())
	}
	p := parseProperties("README", readmeProperties())
	err = p.check(".")
	if err == nil || len(err.(*propsError).Problems) != 1 || !strings.Contains(err.Error(), "/abs/path/to/myproc does not exist") {
		t.Errorf("want only the path reported, got %v", err)
	}
}
