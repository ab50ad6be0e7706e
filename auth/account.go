package auth

import (
	"net/mail"
	"strconv"
	"strings"
	"unicode"
)

// CheckAccount checks a staff account's name and email and returns a
// message for each field that is wrong ("name", "email"), in staff's
// words; the pages and `paylinks users create` use it alike. Neither may
// hold a control character (C0 or C1: a terminal escape sequence printed by
// `paylinks users list`), a bidirectional override or isolate (U+202A to
// U+202E, U+2066 to U+2069: text that reads backwards), or an invisible
// format character (U+200B, U+FEFF, U+00AD, …): a name is shown to other
// staff and in the audit log, and must read as it is. Names keep the zero
// width joiner and non-joiner (U+200D, U+200C), which Persian and Indic
// names and emoji sequences need; emails keep neither.
func CheckAccount(name, email string) map[string]string {
	errs := map[string]string{}
	switch {
	case name == "":
		errs["name"] = "Enter a name."
	case len(name) > 100:
		errs["name"] = "Use at most 100 characters."
	case strings.ContainsAny(name, "\r\n"):
		errs["name"] = "Use a single line."
	case hasHiddenCharacters(strings.NewReplacer("\u200c", "", "\u200d", "").Replace(name)):
		errs["name"] = "Remove the control or invisible characters (such as a right-to-left override) from the name."
	}
	if msg := checkEmail(email); msg != "" {
		errs["email"] = msg
	}
	return errs
}

// checkEmail accepts a bare RFC 5322 address (no display name), at most 254
// characters, with no hidden characters.
func checkEmail(email string) string {
	if email == "" {
		return "Enter an email address."
	}
	if hasHiddenCharacters(email) {
		return "Remove the control or invisible characters from the email address."
	}
	if len(email) > 254 {
		return "Enter a valid email address."
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || !strings.Contains(email[strings.LastIndex(email, "@")+1:], ".") {
		return "Enter a valid email address, like name@example.com."
	}
	return ""
}

// hasHiddenCharacters reports a control character, a bidirectional
// control or an invisible format character (Unicode category Cf, which
// holds both).
func hasHiddenCharacters(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar
	})
}

// Printable writes s for a terminal: every character that is not graphic
// (controls, escapes, bidirectional and invisible format characters) as a
// Go escape, so a name stored before these rules cannot move the cursor,
// recolour the screen or reorder a line.
func Printable(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.Is(unicode.Cf, r) }) {
		return s
	}
	q := strings.Builder{}
	for _, r := range s {
		if unicode.IsGraphic(r) && !unicode.Is(unicode.Cf, r) {
			q.WriteRune(r)
			continue
		}
		q.WriteString(strings.Trim(strconv.QuoteRuneToASCII(r), "'"))
	}
	return q.String()
}
