package db

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/migrations"
)

func openMigrated(t *testing.T) *Store {
	t.Helper()
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background(), migrations.FS); err != nil {
		t.Fatal(err)
	}
	return st
}

// walk returns every id of q in page order, following Next cursors, and the
// first page's total.
func walk(t *testing.T, st *Store, q LinkQuery) ([]int64, int) {
	t.Helper()
	q.CountUpTo = 10000
	var out []int64
	total := -2
	for range 1000 {
		p, err := st.SearchLinks(context.Background(), q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		if total == -2 {
			total = p.Total
		}
		for _, l := range p.Links {
			out = append(out, l.ID)
		}
		if p.Next == "" {
			return out, total
		}
		q.After = p.Next
	}
	t.Fatalf("%+v: more than 1000 pages", q)
	return nil, 0
}

// TestTieredSearchMatchesSQLRanking checks the fast path — matches found
// tier by tier, substrings narrowed by rare trigrams and checked in SQL —
// against the single-statement ranking with the FTS5 phrase (the fallback
// for huge tiers), on random links and terms: same rows, same order, same
// totals, page after page, with and without filters.
func TestTieredSearchMatchesSQLRanking(t *testing.T) {
	ctx := context.Background()
	st := openMigrated(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	words := []string{"Acme", "GmbH", "split", "payment", "refund", "50%_off", `say "hi"`, "Zürich", "naïve", "INV", "order"}
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	statuses := []string{StatusOpen, StatusPaid, StatusExpired, StatusFailed}
	u, err := st.CreateUser(ctx, NewUser{Email: "u@example.com", Name: "U", Role: RoleFinance, PasswordHash: "x"}, AuditEntry{Action: "t"})
	if err != nil {
		t.Fatal(err)
	}
	var links []Link
	var amountTexts []string
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 300 {
		st.Now = func() time.Time { return base.Add(time.Duration(rng.IntN(1000)) * time.Hour) }
		amount := int64(rng.IntN(5)+1) * 1250
		note := ""
		if rng.IntN(3) == 0 {
			note = pick(words) + " " + pick(words) + fmt.Sprintf(" INV-2026-%05d", rng.IntN(400))
		}
		l, _, err := st.CreateLink(ctx, NewLink{
			IdempotencyKey: fmt.Sprintf("idem-%d", i), CustomerID: fmt.Sprintf("CUST-%d", rng.IntN(60)),
			CustomerEmail: fmt.Sprintf("%s.%s%d@example.com", strings.ToLower(pick(words[:5])), pick([]string{"perlman", "torvalds", "Lovelace"}), rng.IntN(30)),
			Country:       "DE", AmountMinor: amount, AmountText: fmt.Sprintf("%d.%02d", amount/100, amount%100), Currency: pick([]string{"EUR", "USD"}),
			WebsiteReference: fmt.Sprintf("%s-2026-%05d", pick([]string{"INV", "inv", "Ord"}), rng.IntN(400)), Note: note,
			SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r",
			CreatedBy: u.ID, AllowDuplicate: true,
		}, AuditEntry{Action: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if s := pick(statuses); s != StatusOpen {
			if _, err := st.write.ExecContext(ctx, "UPDATE links SET status = ? WHERE id = ?", s, l.ID); err != nil {
				t.Fatal(err)
			}
		}
		links = append(links, l)
		amountTexts = append(amountTexts, fmt.Sprintf("%d.%02d", amount/100, amount%100))
	}
	// Terms: pieces of real values in random case, whole values, amounts,
	// and strings found nowhere.
	var terms []string
	for range 150 {
		k := rng.IntN(len(links))
		l := links[k]
		v := pick([]string{l.WebsiteReference, l.CustomerEmail, l.CustomerID, l.IdempotencyKey, l.Note + " ", amountTexts[k]})
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		r := []rune(v)
		i := rng.IntN(len(r))
		j := i + 1 + rng.IntN(len(r)-i)
		term := string(r[i:j])
		if rng.IntN(2) == 0 {
			term = string(r) // whole value
		}
		if rng.IntN(3) == 0 {
			term = strings.ToUpper(term)
		}
		terms = append(terms, term)
	}
	terms = append(terms, "zzzz-nothing", "2026-0", "@example.com", "50%_", `"hi"`, "ürich", "NAÏVE", "12.50")
	for _, term := range terms {
		for _, filtered := range []bool{false, true} {
			q := LinkQuery{Term: term, Limit: 7, Sort: pick([]string{SortCreated, SortAmount, SortStatus})}
			if term == "12.50" {
				q.AmountTexts = []string{"12.50"}
			}
			if filtered {
				q.Statuses = []string{StatusOpen, StatusPaid}
				q.Currency = "EUR"
			}
			st.tierCap = 0
			fast, fastTotal := walk(t, st, q)
			st.tierCap = 1 // every tier overflows: the SQL ranking
			slow, slowTotal := walk(t, st, q)
			st.tierCap = 0
			if !slices.Equal(fast, slow) || fastTotal != slowTotal {
				t.Fatalf("term %q filtered=%v sort=%s:\n tiered %d rows (total %d) %v\n    SQL %d rows (total %d) %v",
					term, filtered, q.Sort, len(fast), fastTotal, fast, len(slow), slowTotal, slow)
			}
			if fastTotal != len(fast) {
				t.Fatalf("term %q: total %d, walked %d rows", term, fastTotal, len(fast))
			}
		}
	}
}

// TestSubstringNarrowsByRareTrigrams checks the query plan choice: an ASCII
// term with rare trigrams is narrowed by them; a non-ASCII term, or one
// whose trigrams are all common, keeps the FTS5 phrase.
func TestSubstringNarrowsByRareTrigrams(t *testing.T) {
	ctx := context.Background()
	st := openMigrated(t)
	q, _, err := st.substringQuery(ctx, "INV-2026-0001")
	if err != nil || !strings.Contains(q, "instr(") {
		t.Fatalf("ASCII term: want the trigram-narrowed query, got %q (%v)", q, err)
	}
	if q, _, _ := st.substringQuery(ctx, "Zürich"); strings.Contains(q, "instr(") {
		t.Fatalf("non-ASCII term: want the phrase, got %q", q)
	}
	if q, _, _ := st.substringQuery(ctx, "abc"); strings.Contains(q, "instr(") {
		t.Fatalf("one trigram: want the phrase, got %q", q)
	}
	// Every trigram common: pretend so through the cache.
	st.trigrams.docs = map[string]trigramCount{}
	for _, tri := range trigrams("gmail") {
		st.trigrams.docs[tri] = trigramCount{rareTrigramDocs + 1, time.Now()}
	}
	if q, _, _ := st.substringQuery(ctx, "gmail"); strings.Contains(q, "instr(") {
		t.Fatalf("common trigrams: want the phrase, got %q", q)
	}
}
