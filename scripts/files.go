// Package scripts holds the files that the shell scripts in this folder and
// the kclgo command share, embedded so that a kclgo built with go install
// needs no checkout: the Maven project that fetches the daemon's jars, the
// daemon's log configurations, the launcher of the Node emulators and the
// emulators' versions.
package scripts

import (
	_ "embed"
	"strings"
)

var (
	//go:embed pom.xml
	pomXML string
	//go:embed logback.xml
	logbackXML string
	//go:embed logging.properties
	loggingProperties string
	//go:embed emulators.js
	emulatorsJS string
	//go:embed versions.env
	versionsEnv string
)

// PomXML returns pom.xml: its profiles kcl3 and kcl1 fetch the
// MultiLangDaemon and its runtime dependencies with
// dependency:copy-dependencies.
func PomXML() []byte { return []byte(pomXML) }

// LogbackXML returns logback.xml, the KCL 2.x/3.x daemon's log
// configuration.
func LogbackXML() []byte { return []byte(logbackXML) }

// LoggingProperties returns logging.properties, the KCL 1.x daemon's
// java.util.logging configuration.
func LoggingProperties() []byte { return []byte(loggingProperties) }

// EmulatorsJS returns emulators.js, which starts kinesalite or dynalite
// bound to 127.0.0.1.
func EmulatorsJS() []byte { return []byte(emulatorsJS) }

// Version returns the pinned version of an emulator from versions.env:
// "moto", "kinesalite" or "dynalite". It returns "" for another name.
func Version(name string) string {
	key := strings.ToUpper(name) + "_VERSION="
	for _, line := range strings.Split(versionsEnv, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key); ok {
			return v
		}
	}
	return ""
}
