package auth

import (
	"strings"
	"testing"
)

func TestCheckAccountRefusesHiddenCharacters(t *testing.T) {
	for _, c := range []struct {
		name, email, field, says string
	}{
		{"Zoë Åström-Nakamura 中村", "zoe@example.com", "", ""},
		{"Ada 👩‍💻 Lovelace", "ada@example.com", "", ""}, // an emoji sequence joined by U+200D
		{"می‌خواهم", "fa@example.com", "", ""},          // Persian needs U+200C
		{"Mallory\u202eEXE.txt", "m@example.com", "name", "right-to-left override"},
		{"Eve\u2066isolate\u2069", "e@example.com", "name", "invisible"},
		{"\x1b[31mRed\x1b[0m", "r@example.com", "name", "control"},
		{"C1\u009bcsi", "c@example.com", "name", "control"},
		{"Soft\u00adhyphen", "s@example.com", "name", "invisible"},
		{"Zero\u200bwidth", "z@example.com", "name", "invisible"},
		{"Line\nbreak", "l@example.com", "name", "single line"},
		{"Bom", "\ufeffbom@example.com", "email", "invisible"},
		{"Rlo", "evil\u202e@example.com", "email", "invisible"},
		{"Nul", "a\x00b@example.com", "email", "control"},
		{"Plain", "not-an-email", "email", "like name@example.com"},
	} {
		errs := CheckAccount(c.name, c.email)
		if c.field == "" {
			if len(errs) != 0 {
				t.Errorf("%q %q refused: %v", c.name, c.email, errs)
			}
			continue
		}
		if !strings.Contains(errs[c.field], c.says) {
			t.Errorf("%q %q: %v, want %s to say %q", c.name, c.email, errs, c.field, c.says)
		}
	}
}

func TestPrintableEscapesWhatATerminalWouldObey(t *testing.T) {
	for in, want := range map[string]string{
		"Zoë 中村":           "Zoë 中村",
		"\x1b[31mRed":      `\x1b[31mRed`,
		"Mallory\u202eexe": `Mallory\u202eexe`,
		"tab\there":        `tab\there`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}
