// Package mail builds and sends paylinks' customer emails: header checks,
// RFC 5322 address parsing, the multipart/alternative message, the
// placeholder templates and an SMTP sender on github.com/wneessen/go-mail.
// It has no web or database imports: values in, values out; callers persist.
package mail

import (
	"encoding/base64"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Header value limits (own picks; RFC 5322 lines stay below 998 octets).
const (
	MaxSubjectLength = 200
	MaxNameLength    = 100
	MaxAddressLength = 254 // RFC 5321 path limit
)

// Errors of CheckHeader and ParseAddress. Callers show their own words.
var (
	ErrLineBreak   = errors.New("contains a line break")
	ErrControlChar = errors.New("contains a control character")
	ErrInvalidUTF8 = errors.New("is not valid UTF-8")
	ErrTooLong     = errors.New("is too long")
	ErrAddress     = errors.New("is not a valid email address")
)

// CheckHeader accepts a value for one header line (a name or a subject):
// no CR or LF anywhere (header injection), no other control character,
// valid UTF-8, at most max runes.
func CheckHeader(v string, max int) error {
	if strings.ContainsAny(v, "\r\n") || strings.ContainsRune(v, '\u2028') || strings.ContainsRune(v, '\u2029') || strings.ContainsRune(v, '\u0085') {
		return ErrLineBreak
	}
	if !utf8.ValidString(v) {
		return ErrInvalidUTF8
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return ErrControlChar
		}
	}
	if utf8.RuneCountInString(v) > max {
		return ErrTooLong
	}
	return nil
}

// Address is a mailbox: an optional display name and an addr-spec.
type Address struct {
	Name  string
	Email string
}

// String is the RFC 5322 form, the name encoded per RFC 2047 when needed.
func (a Address) String() string {
	return a.netAddress().String()
}

// Display is the address for people to read on a page: the name as typed
// (never RFC 2047-encoded: that is for the wire only) and the address in
// angle brackets, or the address alone when there is no name. A name that
// could be read as part of the address (it holds @, <, > or a comma) is put
// in double quotes.
func (a Address) Display() string {
	if a.Name == "" {
		return a.Email
	}
	name := a.Name
	if strings.ContainsAny(name, "@<>,") {
		name = `"` + name + `"`
	}
	return name + " <" + a.Email + ">"
}

// headerName is the display name as written into a header. net/mail's Q
// encoding of a name that is not ASCII leaves a backslash or a double quote
// raw inside the encoded word, and readers (net/mail among them) then cannot
// parse the address at all ("먍\" did not survive; found by fuzzing). In
// such names the two become their look-alikes ＼ and ”, which are encoded.
func headerName(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return nameLookalikes.Replace(name)
		}
	}
	return name
}

var nameLookalikes = strings.NewReplacer(`\`, "＼", `"`, "”")

// Domain is the part after the @.
func (a Address) Domain() string {
	_, d, _ := strings.Cut(a.Email, "@")
	return d
}

// Check validates both parts of an address for use in a header.
func (a Address) Check() error {
	if err := CheckHeader(a.Name, MaxNameLength); err != nil {
		return fmt.Errorf("name %w", err)
	}
	if _, err := ParseAddress(a.Email); err != nil {
		return err
	}
	return nil
}

// ParseAddress accepts exactly one bare addr-spec (RFC 5322 §3.4.1), like
// ada@example.com: no display name, no group, no line break, no control
// character, no space, at most 254 octets, a local part and a domain name
// (no address literal). It returns the address unchanged.
func ParseAddress(s string) (string, error) {
	if strings.ContainsAny(s, "\r\n") {
		return "", ErrLineBreak
	}
	if err := CheckHeader(s, MaxAddressLength); err != nil {
		return "", err
	}
	if len(s) > MaxAddressLength {
		return "", ErrTooLong
	}
	if s == "" || strings.ContainsAny(s, "<>,; \t") {
		return "", ErrAddress
	}
	a, err := netmail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", ErrAddress
	}
	local, domain, ok := strings.Cut(a.Address, "@")
	if !ok || local == "" || domain == "" || strings.HasPrefix(domain, "[") {
		return "", ErrAddress
	}
	return a.Address, nil
}

// ParseMailbox reads a configured sender such as "Acme Billing
// <billing@acme.example>" or "billing@acme.example".
func ParseMailbox(s string) (Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return Address{}, ErrLineBreak
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return Address{}, ErrAddress
	}
	out := Address{Name: a.Name, Email: a.Address}
	if err := out.Check(); err != nil {
		return Address{}, err
	}
	return out, nil
}

func (a Address) netAddress() *netmail.Address {
	// A name holding "=?" needs nothing more: net/mail writes it as a
	// quoted-string, where RFC 2047 forbids decoding encoded words.
	return &netmail.Address{Name: headerName(a.Name), Address: a.Email}
}

// literalText keeps a staff-typed subject literal: text that holds "=?"
// could be read by mail clients as an RFC 2047 encoded word (a subject
// typed as "=?utf-8?q?Zo=C3=AB?=" would show as "Zoë"). Such text is sent
// as encoded words of its own, base64 in UTF-8, which every reader decodes
// back to exactly what was typed; other text is left for the usual
// encoding (none for ASCII, RFC 2047 for the rest).
func literalText(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	// An encoded word is at most 75 characters: "=?UTF-8?B?" and "?=" take
	// 12, leaving 63 for base64, that is 45 bytes of text, cut between
	// characters.
	const chunk = 45
	var b strings.Builder
	for len(s) > 0 {
		n := min(chunk, len(s))
		for n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(s[:n])) + "?=")
		s = s[n:]
	}
	return b.String()
}
