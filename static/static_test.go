package static

import (
	"strings"
	"testing"
)

// A mistyped //go:embed fails silently; this catches it.
func TestAssetsEmbedded(t *testing.T) {
	for _, name := range []string{"css/app.css", "js/app.js", "img/favicon.svg"} {
		b, err := FS.ReadFile(name)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		if len(b) == 0 {
			t.Fatalf("%s is empty", name)
		}
		if u := URL(name); !strings.HasPrefix(u, Prefix+name+"?v=") || len(u) != len(Prefix+name+"?v=")+12 {
			t.Errorf("URL(%q) = %q, want a 12-digit content hash", name, u)
		}
	}
}
