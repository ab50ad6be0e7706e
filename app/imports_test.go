package app_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/paylinks/paylinks/"

// importRules are the layers of docs/architecture.md as import rules: for
// each project package, the project packages it may import (non-test
// code). A package not listed here fails the test until its place in the
// layers is decided and written down.
var importRules = map[string][]string{
	// The domain's words and the leaves: nothing of the project.
	"paylink": {}, "stablemint": {}, "sandbox": {}, "mail": {}, "mail/smtptest": {}, "views": {},
	"migrations": {}, "static": {}, "jobs": {}, "auth": {}, "internal/testkit": {}, "internal/filelock": {},
	// Storage speaks the domain's words and nothing else.
	"db": {"paylink"},
	// Services: storage, the provider, mail, each other; never the web.
	"links":   {"db", "jobs", "paylink", "stablemint"},
	"metrics": {"links", "stablemint"},
	// Bulk import: reading a spreadsheet and checking its rows with the
	// links service's rules; pure (no storage, no provider calls).
	"importer": {"links", "stablemint"},
	"ingest":   {"db", "paylink", "stablemint"},
	"outbox":   {"db", "internal/filelock", "jobs", "mail", "metrics", "paylink"},
	"outbound": {"api", "db", "internal/filelock", "jobs", "paylink", "stablemint"},
	// The API contract: generated types, the spec, a link's JSON form.
	"api": {"db", "paylink", "stablemint"},
	// The web layer: services, storage, views; never the root.
	"handlers": {"api", "auth", "db", "importer", "ingest", "links", "mail", "metrics", "outbound", "outbox", "paylink", "stablemint", "static", "views"},
	// The composition root may use every layer.
	"app": {"auth", "db", "handlers", "ingest", "jobs", "links", "mail", "metrics", "outbound", "outbox", "paylink", "stablemint"},
	// Commands.
	"cmd/paylinks":       {"*"},
	"cmd/paylinks-bench": {},
	"cmd/paylinks-load":  {"db", "paylink", "sandbox", "stablemint"},
}

// TestImportRules fails when a package imports across the layers: nothing
// imports handlers but app and cmd, views never imports db, stablemint and
// sandbox never import each other (they implement the contract separately),
// services never import the web layer, and tests' helpers stay in tests.
func TestImportRules(t *testing.T) {
	// Packages on stdout; warnings (a symlinked node_modules, say) on stderr.
	var stderr strings.Builder
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}", module+"...")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	seen := 0
	for line := range strings.Lines(string(out)) {
		pkg, imports, _ := strings.Cut(strings.TrimSpace(line), ":")
		pkg = strings.TrimPrefix(pkg, module)
		allowed, ok := importRules[pkg]
		if !ok {
			t.Errorf("package %s has no place in the import rules (add it to importRules and docs/architecture.md)", pkg)
			continue
		}
		seen++
		for _, imp := range strings.Fields(imports) {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours || slices.Contains(allowed, "*") {
				continue
			}
			if !slices.Contains(allowed, dep) {
				t.Errorf("%s imports %s, which the layers forbid (docs/architecture.md)", pkg, dep)
			}
		}
	}
	if seen < len(importRules)-2 {
		t.Fatalf("go list saw %d of the %d packages in the rules", seen, len(importRules))
	}
}
