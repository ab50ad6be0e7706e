package db

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/paylink"
)

// walk returns every id of q in page order, following Next cursors, and the
// first page's total; it then walks back from the last page by Prev cursors
// and fails unless that gives the same pages.
func walk(t *testing.T, st *Store, q LinkQuery) ([]int64, int) {
	t.Helper()
	q.CountUpTo = 10000
	var out []int64
	var pages [][]int64
	total := -2
	var last SearchPage
	for range 1000 {
		p, err := st.SearchLinks(context.Background(), q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		deferredTotal(t, st, q, p)
		if total == -2 {
			total = p.Total
		}
		var page []int64
		for _, l := range p.Links {
			page = append(page, l.ID)
		}
		out = append(out, page...)
		pages = append(pages, page)
		last = p
		if p.Next == "" {
			break
		}
		q.After = p.Next
	}
	// Back from the last page.
	q.After = ""
	for i := len(pages) - 2; i >= 0; i-- {
		if last.Prev == "" {
			t.Fatalf("%+v: page %d has no Prev", q, i+1)
		}
		q.Before = last.Prev
		p, err := st.SearchLinks(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		var page []int64
		for _, l := range p.Links {
			page = append(page, l.ID)
		}
		if !slices.Equal(page, pages[i]) {
			t.Fatalf("%q sort %s: going back, page %d is %v, was %v", q.Term, q.Sort, i, page, pages[i])
		}
		last = p
	}
	return out, total
}

// deferredTotal checks q's page with DeferTotal against p, the same page
// counted: the same rows and cursors, and a total that is either the same
// or deferred (-1) and then counted the same by CountSearch.
func deferredTotal(t *testing.T, st *Store, q LinkQuery, p SearchPage) {
	t.Helper()
	dq := q
	dq.DeferTotal = true
	d, err := st.SearchLinks(context.Background(), dq)
	if err != nil {
		t.Fatalf("%+v: %v", dq, err)
	}
	ids := func(p SearchPage) (out []int64) {
		for _, l := range p.Links {
			out = append(out, l.ID)
		}
		return out
	}
	if !slices.Equal(ids(d), ids(p)) || d.Next != p.Next || d.Prev != p.Prev {
		t.Fatalf("%q: with the total deferred the page is %v, counted %v", q.Term, ids(d), ids(p))
	}
	if d.Total == p.Total {
		return
	}
	n, err := st.CountSearch(context.Background(), q, q.CountUpTo)
	if d.Total != -1 || err != nil || n != p.Total {
		t.Fatalf("%q: deferred total %d, CountSearch %d (%v), counted with the page %d", q.Term, d.Total, n, err, p.Total)
	}
}

// oracle ranks q's matches in one SQL statement (the plain FTS5 phrase
// for substrings, every tier in full) and returns the ids in page order
// with their ranks: the reference the tiered and walking paths must equal.
func oracle(t *testing.T, st *Store, q LinkQuery) (ids []int64, ranks []int) {
	t.Helper()
	var parts []string
	var args []any
	parts = append(parts, "SELECT link_id, 0 AS rank FROM link_keys WHERE key = ? AND kind <> 'amount'")
	args = append(args, q.Term)
	if len(q.AmountTexts) > 0 {
		parts = append(parts, "SELECT link_id, 0 FROM link_keys WHERE kind = 'amount' AND key IN ("+placeholders(len(q.AmountTexts))+")")
		for _, a := range q.AmountTexts {
			args = append(args, a)
		}
	}
	if len([]rune(q.Term)) >= 3 {
		parts = append(parts, "SELECT link_id, 1 FROM link_keys WHERE key >= ? AND key < ? AND kind IN ("+placeholders(len(prefixKinds))+")")
		args = append(args, q.Term, prefixUpper(q.Term))
		for _, k := range prefixKinds {
			args = append(args, k)
		}
		parts = append(parts, "SELECT rowid, 2 FROM links_fts WHERE links_fts MATCH ?")
		args = append(args, escapeFTS(q.Term))
	}
	where, fargs := q.filters()
	where = append(where, "1")
	col := sortColumn(q.Sort)
	rows, err := st.read.Query("WITH hits(link_id, rank) AS ("+strings.Join(parts, " UNION ALL ")+
		"), best AS (SELECT link_id, min(rank) AS rank FROM hits GROUP BY link_id) SELECT l.id, best.rank FROM links l JOIN best ON best.link_id = l.id WHERE "+
		strings.Join(where, " AND ")+" ORDER BY best.rank, "+col+" DESC, l.id DESC", append(args, fargs...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var r int
		if err := rows.Scan(&id, &r); err != nil {
			t.Fatal(err)
		}
		ids, ranks = append(ids, id), append(ranks, r)
	}
	return ids, ranks
}

// walkOrder is what the walking path lists for the oracle's matches: those
// of the tiers that fit under the cap (ranks below walkRank) first, as
// ranked, then every other match in sort order.
func walkOrder(t *testing.T, st *Store, q LinkQuery, walkRank int) []int64 {
	t.Helper()
	ids, ranks := oracle(t, st, q)
	var first, rest []int64
	for i, id := range ids {
		if ranks[i] < walkRank {
			first = append(first, id)
		} else {
			rest = append(rest, id)
		}
	}
	// rest in sort order: the oracle's order without the rank.
	q2 := q
	q2.Term = ""
	all, _ := oracleAll(t, st, q2)
	in := map[int64]bool{}
	for _, id := range rest {
		in[id] = true
	}
	var sorted []int64
	for _, id := range all {
		if in[id] {
			sorted = append(sorted, id)
		}
	}
	return append(first, sorted...)
}

// oracleAll is every filtered link in sort order.
func oracleAll(t *testing.T, st *Store, q LinkQuery) ([]int64, error) {
	t.Helper()
	where, fargs := q.filters()
	where = append(where, "1")
	rows, err := st.read.Query("SELECT l.id FROM links l WHERE "+strings.Join(where, " AND ")+" ORDER BY "+sortColumn(q.Sort)+" DESC, l.id DESC", fargs...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out, nil
}

// testUser is a finance user for this package's internal tests.
func testUser(t *testing.T, st *Store) int64 {
	t.Helper()
	u, err := st.CreateUser(context.Background(), NewUser{Email: fmt.Sprintf("u%d@example.com", time.Now().UnixNano()),
		Name: "U", Role: paylink.RoleFinance, PasswordHash: "x"}, AuditEntry{Action: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// testLink creates link number i (its keys and website reference W-i), as
// set changes it.
func testLink(t *testing.T, st *Store, user int64, i int, set func(*NewLink)) Link {
	t.Helper()
	nl := NewLink{IdempotencyKey: fmt.Sprintf("k%d", i), CustomerID: fmt.Sprintf("C-%d", i), CustomerEmail: "c@example.com",
		Country: "DE", AmountMinor: 100, AmountText: "1.00", Currency: "EUR", WebsiteReference: fmt.Sprintf("W-%d", i),
		SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r",
		CreatedBy: user, AllowDuplicate: true}
	if set != nil {
		set(&nl)
	}
	l, _, err := st.CreateLink(context.Background(), nl, AuditEntry{Action: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestTieredSearchMatchesSQLRanking checks both search paths against the
// oracle on random links and terms, page after page, with and without
// filters: the tiered path (substrings narrowed by rare trigrams and
// checked in SQL) gives exactly the oracle's rows, order and total; the
// walking path (tiers over the cap) gives the same rows, exact matches
// first, then in sort order, and the same total.
func TestTieredSearchMatchesSQLRanking(t *testing.T) {
	ctx := context.Background()
	st := OpenTestStore(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	words := []string{"Acme", "GmbH", "split", "payment", "refund", "50%_off", `say "hi"`, "Zürich", "naïve", "INV", "order"}
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	statuses := []paylink.Status{paylink.StatusOpen, paylink.StatusPaid, paylink.StatusExpired, paylink.StatusFailed}
	u := testUser(t, st)
	var links []Link
	var amountTexts []string
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 150 {
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
			CreatedBy: u, AllowDuplicate: true,
		}, AuditEntry{Action: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if s := statuses[rng.IntN(len(statuses))]; s != paylink.StatusOpen {
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
	for range 20 {
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
			q := LinkQuery{Term: term, Limit: 7, Sort: pick([]string{SortCreated, SortAmount, SortStatus}), ListOnly: filtered}
			if term == "12.50" {
				q.AmountTexts = []string{"12.50"}
			}
			if filtered {
				q.Statuses = []paylink.Status{paylink.StatusOpen, paylink.StatusPaid}
				q.Currency = "EUR"
				if rng.IntN(2) == 0 {
					// A filter the narrow search entries lack: the hits
					// are read from the links rows instead.
					q.CreatedBy = u
				}
			}
			want, _ := oracle(t, st, q)
			st.tierCap = 0
			// Both ways of the substring tier, and the one chosen.
			for _, path := range []int{substringNarrowed, substringPhrase, substringAuto} {
				st.substringPath = path
				fast, fastTotal := walk(t, st, q)
				if !slices.Equal(fast, want) || fastTotal != len(want) {
					t.Fatalf("term %q filtered=%v sort=%s path %d:\n tiered %d rows (total %d) %v\n oracle %d rows %v",
						term, filtered, q.Sort, path, len(fast), fastTotal, fast, len(want), want)
				}
			}
			fast, fastTotal := walk(t, st, q)
			// Tiers over a small cap: the page walks. Small pages put page
			// boundaries inside the exact matches too.
			for _, limit := range []int{1, 3} {
				st.tierCap = limit
				wq := q
				wq.Limit = 2 + 2*limit // 4 and 8: boundaries inside the exact matches too
				pl, err := st.plan(context.Background(), wq, true)
				if err != nil {
					t.Fatal(err)
				}
				walked, walkedTotal := walk(t, st, wq)
				st.tierCap = 0
				wantWalk := want
				if pl.walk {
					wantWalk = walkOrder(t, st, wq, pl.walkRank)
				}
				if !slices.Equal(walked, wantWalk) || walkedTotal != len(want) {
					t.Fatalf("term %q filtered=%v sort=%s cap %d (walking %v from rank %d):\n walked %d rows (total %d) %v\n   want %d rows (total %d) %v",
						term, filtered, q.Sort, limit, pl.walk, pl.walkRank, len(walked), walkedTotal, walked, len(wantWalk), len(want), wantWalk)
				}
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
	st := OpenTestStore(t)
	q, _, err := st.substringQuery(ctx, "INV-2026-0001", "")
	if err != nil || !strings.Contains(q, "instr(") {
		t.Fatalf("ASCII term: want the trigram-narrowed query, got %q (%v)", q, err)
	}
	if q, _, _ := st.substringQuery(ctx, "Zürich", ""); strings.Contains(q, "instr(") {
		t.Fatalf("non-ASCII term: want the phrase, got %q", q)
	}
	if q, _, _ := st.substringQuery(ctx, "abc", ""); strings.Contains(q, "instr(") {
		t.Fatalf("one trigram: want the phrase, got %q", q)
	}
	// Every trigram common: pretend so through the cache.
	st.trigrams.docs = map[string]trigramCount{}
	for _, tri := range trigrams("gmail") {
		st.trigrams.docs[tri] = trigramCount{rareTrigramDocs + 1, time.Now()}
	}
	if q, _, _ := st.substringQuery(ctx, "gmail", ""); strings.Contains(q, "instr(") {
		t.Fatalf("common trigrams: want the phrase, got %q", q)
	}
	// A surname in emails: every trigram in about 40,000 links. Checking
	// the candidates would read 40,000 entries; the phrase reads the
	// postings of 6 trigrams.
	for _, tri := range trigrams("lovelace") {
		st.trigrams.docs[tri] = trigramCount{40000, time.Now()}
	}
	if q, _, _ := st.substringQuery(ctx, "lovelace", ""); strings.Contains(q, "instr(") {
		t.Fatalf("trigrams all of one size: want the phrase, got %q", q)
	}
	// A reference: two rare trigrams among ones every link has.
	for _, tri := range trigrams("inv-2026-04999") {
		st.trigrams.docs[tri] = trigramCount{trigramCountCap + 1, time.Now()}
	}
	st.trigrams.docs["049"] = trigramCount{21000, time.Now()}
	st.trigrams.docs["499"], st.trigrams.docs["999"] = trigramCount{6000, time.Now()}, trigramCount{5600, time.Now()}
	if q, _, _ := st.substringQuery(ctx, "INV-2026-04999", ""); !strings.Contains(q, "instr(") {
		t.Fatalf("rare trigrams among common ones: want the narrowed query, got %q", q)
	}
}

// TestWalkingPagesCrossFromExactMatches pins the walking path's page
// boundaries: exact matches first across several pages, then the rest in
// sort order, forward and back, nothing skipped or repeated.
func TestWalkingPagesCrossFromExactMatches(t *testing.T) {
	ctx := context.Background()
	st := OpenTestStore(t)
	u := testUser(t, st)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 11 {
		st.Now = func() time.Time { return base.Add(time.Duration(i) * time.Hour) }
		id := "ACME"
		if i%4 != 0 {
			id = fmt.Sprintf("ACME-%d", i) // other matches, newer and older than the exact ones
		}
		testLink(t, st, u, i, func(l *NewLink) { l.CustomerID = id })
	}
	st.tierCap = 5 // the 3 exact matches fit; the 8 others do not
	q := LinkQuery{Term: "acme", Limit: 2}
	pl, err := st.plan(ctx, q, true)
	if err != nil || !pl.walk || pl.walkRank != 2 { // customer ids have no prefix tier
		t.Fatalf("want the walking path after the exact matches: %+v, %v", pl, err)
	}
	got, total := walk(t, st, q)
	want := walkOrder(t, st, q, 2)
	if !slices.Equal(got, want) || total != 11 {
		t.Fatalf("walked %v (total %d), want %v (11)", got, total, want)
	}
	// A walk over its budget gives up with ErrSearchTooBroad; the same
	// budget does not touch a search that needs no walk.
	q.WalkBudget, q.Limit = time.Nanosecond, 10 // past the 3 exact matches
	if _, err := st.SearchLinks(ctx, q); !errors.Is(err, ErrSearchTooBroad) {
		t.Fatalf("walk over budget: %v, want ErrSearchTooBroad", err)
	}
	st.tierCap = 0
	if p, err := st.SearchLinks(ctx, q); err != nil || len(p.Links) != 10 {
		t.Fatalf("tiered search with a budget: %d rows, %v", len(p.Links), err)
	}
}

// TestPagesCrossFromPrefixMatchesIntoTheWalk: the first pages of a term
// whose exact and prefix matches fill them are read without the substring
// tier; when that tier turns out to hold more than the cap, the pages after
// walk on from where those stopped, nothing skipped or repeated, forward
// and back, and the deferred total is counted the same.
func TestPagesCrossFromPrefixMatchesIntoTheWalk(t *testing.T) {
	ctx := context.Background()
	st := OpenTestStore(t)
	u := testUser(t, st)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 12 {
		st.Now = func() time.Time { return base.Add(time.Duration((i*5)%12) * time.Hour) }
		customer, website, note := fmt.Sprintf("C-%d", i), fmt.Sprintf("W-%d", i), ""
		switch {
		case i == 0:
			customer = "PRE-" // exact
		case i <= 3:
			website = fmt.Sprintf("PRE-%d", i) // prefix
		case i <= 9:
			note = fmt.Sprintf("replaces pre-%d", i) // substring only
		}
		testLink(t, st, u, i, func(l *NewLink) { l.CustomerID, l.WebsiteReference, l.Note = customer, website, note })
	}
	st.tierCap = 4 // the exact match and 3 prefix matches fit; the 6 substring matches do not
	q := LinkQuery{Term: "pre-", Limit: 2}
	partial, err := st.plan(ctx, q, false)
	if err != nil || !partial.partial || partial.walk {
		t.Fatalf("want a partial plan first: %+v, %v", partial, err)
	}
	full, err := st.plan(ctx, q, true)
	if err != nil || !full.walk || full.walkRank != 2 {
		t.Fatalf("want the walk from the substring tier: %+v, %v", full, err)
	}
	first, err := st.SearchLinks(ctx, LinkQuery{Term: "pre-", Limit: 2, CountUpTo: 100, DeferTotal: true})
	if err != nil || first.Total != -1 {
		t.Fatalf("first page: total %d (want it deferred), %v", first.Total, err)
	}
	got, total := walk(t, st, q)
	want := walkOrder(t, st, q, 2)
	if !slices.Equal(got, want) || total != 10 || len(want) != 10 {
		t.Fatalf("pages %v (total %d), want %v (10)", got, total, want)
	}
}

// TestListOnlyPagesCarryWhatTheListShows: a ListOnly page has the same
// links, in the same order, with every field the list shows equal to the
// full rows'.
func TestListOnlyPagesCarryWhatTheListShows(t *testing.T) {
	ctx := context.Background()
	st := OpenTestStore(t)
	u := testUser(t, st)
	for i := range 5 {
		l := testLink(t, st, u, i, func(l *NewLink) { l.CustomerID, l.AmountMinor = fmt.Sprintf("C%d", i), int64(100*(i+1)) })
		if i%2 == 0 {
			if err := st.CompleteLinkCreation(ctx, l.ID, fmt.Sprintf("SM-%d", i), "https://checkout.example/x", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, term := range []string{"", "example", "c@example.com"} {
		full, err := st.SearchLinks(ctx, LinkQuery{Term: term})
		if err != nil {
			t.Fatal(err)
		}
		list, err := st.SearchLinks(ctx, LinkQuery{Term: term, ListOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(full.Links) != 5 || len(list.Links) != 5 {
			t.Fatalf("%q: %d full rows, %d list rows", term, len(full.Links), len(list.Links))
		}
		for i, f := range full.Links {
			l := list.Links[i]
			if l.ID != f.ID || l.Status != f.Status || l.AmountMinor != f.AmountMinor || l.Currency != f.Currency ||
				l.CustomerID != f.CustomerID || l.CustomerEmail != f.CustomerEmail || l.WebsiteReference != f.WebsiteReference ||
				l.SMReference != f.SMReference || l.CheckoutURL != f.CheckoutURL || !l.ExpiresAt.Equal(f.ExpiresAt) || !l.CreatedAt.Equal(f.CreatedAt) {
				t.Fatalf("%q row %d: list %+v\nfull %+v", term, i, l, f)
			}
		}
	}
}

// TestNeedsAttentionReadsItsIndex: the Needs attention tab's page and count
// read links_attention (migration 0024), not every link: SQLite uses a
// partial index only when the query's condition implies the index's, so
// the filter's text and the index's must stay in step.
func TestNeedsAttentionReadsItsIndex(t *testing.T) {
	st := OpenTestStore(t)
	q := LinkQuery{NeedsAttention: true}
	where, args := q.filters()
	for _, sql := range []string{
		"SELECT l.id FROM links l WHERE " + strings.Join(where, " AND ") + " ORDER BY " + sortColumn(SortCreated) + " DESC, l.id DESC LIMIT 51",
		"SELECT count(*) FROM (SELECT 1 FROM links l WHERE " + strings.Join(where, " AND ") + " LIMIT 10001)",
	} {
		rows, err := st.read.Query("EXPLAIN QUERY PLAN "+sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, "; "), "links_attention") {
			t.Errorf("%s\nplan: %s; want it to read links_attention", sql, strings.Join(plan, "; "))
		}
	}
}
