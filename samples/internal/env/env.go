// Package env reads the samples' settings from the environment.
package env

import (
	"os"
	"strconv"
)

// Int returns the integer in the environment variable name, or def when it
// is unset or not an integer.
func Int(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
