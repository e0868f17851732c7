package scripts

import "testing"

func TestVersionsAndFiles(t *testing.T) {
	for _, name := range []string{"moto", "kinesalite", "dynalite"} {
		if Version(name) == "" {
			t.Errorf("versions.env has no version of %s", name)
		}
	}
	if Version("nope") != "" {
		t.Error(`Version("nope") is not ""`)
	}
	for name, b := range map[string][]byte{"pom.xml": PomXML(), "logback.xml": LogbackXML(), "logging.properties": LoggingProperties(), "emulators.js": EmulatorsJS()} {
		if len(b) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
}
