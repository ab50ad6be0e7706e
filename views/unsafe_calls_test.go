package views

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// unsafeCalls bypass templ's escaping or URL and CSS sanitising.
var unsafeCalls = []string{"templ.Raw(", "templ.SafeURL(", "templ.SafeCSS", "JSUnsafeFuncCall", "SafeClass("}

// allowUnsafe lists each file allowed an unsafe call, with the reason. The
// generated *_templ.go of an allowed .templ file is allowed with it.
var allowUnsafe = map[string]string{}

// TestNoUnsafeTemplCalls fails the build (make test) on a call that skips
// templ's escaping outside an allow-listed file (security checklist XSS-3).
func TestNoUnsafeTemplCalls(t *testing.T) {
	root := ".."
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, "_test.go") || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".templ")) {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if _, ok := allowUnsafe[strings.TrimSuffix(rel, "_templ.go")+".templ"]; ok && strings.HasSuffix(rel, "_templ.go") {
			return nil
		}
		if _, ok := allowUnsafe[rel]; ok {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, call := range unsafeCalls {
				if strings.Contains(line, call) {
					found = append(found, rel+":"+strconv.Itoa(i+1)+": "+call)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(found)
	for _, f := range found {
		t.Errorf("%s bypasses templ's escaping; use a safe value or add the file to allowUnsafe with a reason", f)
	}
}
