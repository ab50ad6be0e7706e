package db_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// fzSearchSeeds are links whose searchable values hold what a naive search
// would treat as syntax: LIKE and GLOB wildcards, FTS5 operators, quotes,
// SQL, and letters whose case folds outside ASCII.
var fzSearchSeeds = []db.NewLink{
	{CustomerID: "CUST-42", CustomerEmail: "ada@example.com", WebsiteReference: "INV-2026-0042", Note: "100% off_sale"},
	{CustomerID: "C_1", CustomerEmail: "under_score@example.com", WebsiteReference: "A%B", Note: `back\slash and "quotes"`},
	{CustomerID: "'; DROP TABLE links; --", CustomerEmail: "o'brien@example.ie", WebsiteReference: "[abc]*?", Note: "a OR b NEAR(c d) NOT e AND f*"},
	{CustomerID: "ΣΊΣΥΦΟΣ", CustomerEmail: "straße@example.de", WebsiteReference: "İSTANBUL-1", Note: "Ünïcödé ǅemal ﬃ"},
	{CustomerID: "cust-7", CustomerEmail: "BIG@EXAMPLE.COM", WebsiteReference: "order-77", Note: "日本語のメモ 🙂"},
	// U+009F: SQLite reads the lone byte 0x9F of a term that is not UTF-8
	// as this character (found by the fuzzer: "A\x9fe" matched "sa\u009fe").
	{CustomerID: "cust-9f", CustomerEmail: "c1@example.com", WebsiteReference: "sa\u009fe"},
}

// fzSearchStore is a migrated store in a temp dir holding the seeds and a
// user to own the links; its clock ticks 1 ms per call, so links created
// later sort first.
func fzSearchStore(tb testing.TB) (*db.Store, func(db.NewLink) db.Link) {
	tb.Helper()
	ctx := context.Background()
	st := db.OpenTestStore(tb)
	u, err := st.CreateUser(ctx, db.NewUser{Email: "fuzz@example.com", Name: "Fuzz", Role: paylink.RoleFinance, PasswordHash: "x"}, db.AuditEntry{Action: "t"})
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	add := func(nl db.NewLink) db.Link {
		n++
		nl.IdempotencyKey = fmt.Sprintf("fz-idem-%06d", n)
		nl.Country, nl.AmountMinor, nl.AmountText, nl.Currency = "DE", 950, "9.50", "EUR"
		nl.SuccessURL, nl.SupportURL, nl.ExitURL, nl.ErrorURL = "https://x/s", "https://x/h", "https://x/e", "https://x/r"
		nl.CreatedBy, nl.AllowDuplicate = u.ID, true
		l, _, err := st.CreateLink(ctx, nl, db.AuditEntry{Action: "t"})
		if err != nil {
			tb.Fatalf("CreateLink(%+v): %v", nl, err)
		}
		return l
	}
	for _, s := range fzSearchSeeds {
		add(s)
	}
	return st, add
}

// fzFold maps a string onto one representative per case class, more
// generously than SQLite does (NOCASE folds ASCII only; FTS5's trigram
// tokenizer folds Unicode case): if SQLite sees two strings as equal
// ignoring case, so does fzFold.
func fzFold(s string) []rune {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		r = unicode.ToLower(r)
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		out = append(out, m)
	}
	return out
}

// fzHas reports whether value contains term, ignoring case as fzFold does,
// or byte for byte ignoring ASCII case: a term that is not UTF-8 (the
// handlers never pass one) may match the first bytes of a character.
func fzHas(value, term string) bool {
	if strings.Contains(fzLowerASCII(value), fzLowerASCII(term)) {
		return true
	}
	v, t := fzFold(value), fzFold(term)
	if len(t) == 0 {
		return true
	}
	for i := 0; i+len(t) <= len(v); i++ {
		if slices.Equal(v[i:i+len(t)], t) {
			return true
		}
	}
	return false
}

func fzLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// FuzzSearchLinks drives db.SearchLinks through its exported API only (its
// internals are free to change) with any term:
//
//   - it never fails: no term is SQL or FTS5 syntax, however it is quoted;
//   - sound: every link found holds the term, ignoring case, in one of its
//     searched values, so %, _, *, ?, [ and FTS5 operators match only
//     themselves (the seeds hold them literally, so a wildcard reading of
//     the term would surface a seed that does not hold it);
//   - complete: a link planted with the term as its whole website reference
//     (exact), as the start of its email (prefix, 3+ characters) or inside
//     its note or customer id (substring, 3+ characters) is found.
func FuzzSearchLinks(f *testing.F) {
	for _, s := range []string{
		"INV-2026-0042", "inv-2026", "%", "%%%", "_", "a_b", "100%", "off_", `\`, `back\`, "' OR 1=1 --", `"`, `"quotes"`,
		"*", "?", "[abc]", "NEAR(c", "a OR b", "AND", "NOT", "f*", "ab", "ΣΊΣΥΦΟΣ", "σίσυφος", "STRASSE", "straße",
		"istanbul", "İstanbul", "ﬃ", "ffi", "日本語", "🙂", "ada@", "\x00ada", "a\x00b\x00c", "\xff\xfe\xfd", "   ",
	} {
		for where := range uint8(4) {
			f.Add(s, where)
		}
	}
	ctx := context.Background()
	st, add := fzSearchStore(f)
	f.Fuzz(func(t *testing.T, term string, where uint8) {
		// SearchLinks drops NUL (SQLite strings end there) and bytes that
		// are not UTF-8 (SQLite reads a lone one as a character of its own).
		clean := strings.ToValidUTF8(strings.ReplaceAll(term, "\x00", ""), "")
		var planted db.Link
		var plantedIn string
		if clean != "" && utf8.ValidString(clean) {
			var nl db.NewLink
			switch where % 4 {
			case 0:
				nl, plantedIn = db.NewLink{WebsiteReference: clean}, "website reference (exact)"
			case 1:
				if utf8.RuneCountInString(clean) >= 3 {
					nl, plantedIn = db.NewLink{CustomerEmail: clean + "@fuzz.example"}, "email (prefix)"
				}
			case 2:
				if utf8.RuneCountInString(clean) >= 3 {
					nl, plantedIn = db.NewLink{Note: "«" + clean + "»"}, "note (substring)"
				}
			case 3:
				if utf8.RuneCountInString(clean) >= 3 {
					nl, plantedIn = db.NewLink{CustomerID: "ID/" + clean + "/ID"}, "customer id (substring)"
				}
			}
			if plantedIn != "" {
				planted = add(nl)
			}
		}
		page, err := st.SearchLinks(ctx, db.LinkQuery{Term: term, Limit: 500})
		if err != nil {
			t.Fatalf("SearchLinks(%q): %v", term, err)
		}
		found := false
		for _, l := range page.Links {
			found = found || l.ID == planted.ID
			hit := false
			for _, v := range []string{l.CustomerEmail, l.CustomerID, l.WebsiteReference, l.Note, l.IdempotencyKey,
				l.SMReference, l.SMSessionID, l.DepositReference} {
				if fzHas(v, clean) {
					hit = true
					break
				}
			}
			if !hit {
				t.Fatalf("SearchLinks(%q) found link %d, which does not hold the term: email %q, customer %q, reference %q, note %q",
					term, l.ID, l.CustomerEmail, l.CustomerID, l.WebsiteReference, l.Note)
			}
		}
		if plantedIn != "" && !found && page.Next == "" {
			t.Fatalf("SearchLinks(%q) missed link %d, which holds the term in its %s (%d links found)",
				term, planted.ID, plantedIn, len(page.Links))
		}
	})
}
