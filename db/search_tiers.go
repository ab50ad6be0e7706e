package db

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A search finds its matches tier by tier with one indexed query each —
// exact keys, key prefixes, trigram substrings — and ranks them in Go; the
// page and the count then probe links by rowid for those ids only. A tier
// holding more than the cap (a term like "INV" on a million links) stops
// that: the tiers before it are listed first, as ranked, and then the page
// walks links in sort order for the rest (see searchPlan), which dense
// matches make quick.
const defaultTierCap = 10000

// rareTrigramDocs is how many links a trigram may appear in and still be
// worth narrowing by: the substring tier asks for the links holding up to
// three of the term's rarest trigrams and checks the whole term on those
// only: the rarest three trigrams of a reference leave a few hundred
// candidates, checked in well under a millisecond, where the FTS5 phrase
// walks every trigram's postings, unless the phrase reads less
// (phraseCheaper). A trigram's links are counted (up to trigramCountCap)
// once and cached. docs/performance.md has the measured cases.
const rareTrigramDocs = 50000

// trigramTTL is how long a trigram's document count is trusted. Counts only
// steer which trigrams are queried; results are always checked, so a stale
// count costs speed, never correctness.
const trigramTTL = time.Hour

// matchSet is a term's matches: link id to best (lowest) rank.
type matchSet struct {
	rank  map[int64]int
	order []int64 // ids in the order found, for a stable encoding
	// overflow is the rank of the tier that held more than the cap, when
	// one did; its matches are not in the set.
	overflow int
}

func (m *matchSet) add(id int64, rank int) {
	if r, ok := m.rank[id]; !ok {
		m.rank[id] = rank
		m.order = append(m.order, id)
	} else if rank < r {
		m.rank[id] = rank
	}
}

// json encodes the matches of rank up to maxRank (-1: all) as a JSON
// object of id to rank, for json_each.
func (m *matchSet) json(maxRank int) string {
	b := make([]byte, 0, 16*len(m.order)+2)
	b = append(b, '{')
	first := true
	for _, id := range m.order {
		r := m.rank[id]
		if maxRank >= 0 && r > maxRank {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = strconv.AppendInt(b, id, 10)
		b = append(b, '"', ':')
		b = strconv.AppendInt(b, int64(r), 10)
	}
	return string(append(b, '}'))
}

// tierLimit is the most links a tier may hold before the page walks.
func (s *Store) tierLimit() int {
	if s.tierCap > 0 {
		return s.tierCap
	}
	return defaultTierCap
}

// matches finds q.Term's matches: exact keys and amounts (rank 0) and key
// prefixes from 3 characters (rank 1). ok is false when a tier holds more
// than the cap; the tiers after it are not read. The substring tier
// (rank 2) is addSubstring's: a page within ranks 0 and 1 does not need it.
func (s *Store) matches(ctx context.Context, q LinkQuery) (m matchSet, ok bool, err error) {
	m.rank = map[int64]int{}
	ok = true
	tier := s.tier(ctx, &m, &ok)
	if err := tier(0, "SELECT DISTINCT link_id FROM link_keys WHERE key = ? AND kind <> 'amount'", q.Term); err != nil {
		return m, false, err
	}
	if len(q.AmountTexts) > 0 && ok {
		args := make([]any, len(q.AmountTexts))
		for i, a := range q.AmountTexts {
			args[i] = a
		}
		if err := tier(0, "SELECT DISTINCT link_id FROM link_keys WHERE kind = 'amount' AND key IN ("+placeholders(len(args))+")", args...); err != nil {
			return m, false, err
		}
	}
	if hasSubstringTier(q) {
		args := []any{q.Term, prefixUpper(q.Term)}
		for _, k := range prefixKinds {
			args = append(args, k)
		}
		if err := tier(1, "SELECT DISTINCT link_id FROM link_keys WHERE key >= ? AND key < ? AND kind IN ("+placeholders(len(prefixKinds))+")", args...); err != nil {
			return m, false, err
		}
	}
	return m, ok, nil
}

// hasSubstringTier reports whether the term is long enough for prefix and
// substring matches (3 characters: trigrams).
func hasSubstringTier(q LinkQuery) bool { return len([]rune(q.Term)) >= 3 }

// substring adds the substring tier (rank 2) to m. Links already found rank
// higher: the tier skips them before reading their rows.
func (s *Store) substring(ctx context.Context, q LinkQuery, m *matchSet) (ok bool, err error) {
	query, args, err := s.substringQuery(ctx, q.Term, m.json(-1))
	if err != nil {
		return false, err
	}
	ok = true
	if err := s.tier(ctx, m, &ok)(2, "SELECT DISTINCT * FROM ("+query+")", args...); err != nil {
		return false, err
	}
	return ok, nil
}

// tier returns a function that adds one tier's ids to m at a rank, or, if
// the tier holds more than the cap, clears *ok instead (and does nothing
// once *ok is false).
func (s *Store) tier(ctx context.Context, m *matchSet, ok *bool) func(rank int, query string, args ...any) error {
	limit := s.tierLimit()
	return func(rank int, query string, args ...any) error {
		if !*ok {
			return nil
		}
		ids, err := s.ids(ctx, query+" LIMIT ?", append(args, limit+1)...)
		if err != nil {
			return err
		}
		if len(ids) > limit {
			*ok = false
			m.overflow = rank
			return nil
		}
		for _, id := range ids {
			m.add(id, rank)
		}
		return nil
	}
}

// ids runs a query of one integer column.
func (s *Store) ids(ctx context.Context, query string, args ...any) ([]int64, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// substringQuery is the SQL of the substring tier for a term of 3+
// characters. The plain FTS5 phrase walks the postings of every trigram in
// the term, and a reference like INV-2026-0001234 is made mostly of
// trigrams that a million links share: 50+ ms. For an ASCII term with a
// rare trigram it asks the index for the links holding its rarest
// trigrams instead (a millisecond or two), and keeps those whose
// columns contain the whole term, case-insensitively, as the phrase would.
// Non-ASCII terms keep the phrase: lower() in SQLite folds ASCII only.
func (s *Store) substringQuery(ctx context.Context, term, known string) (string, []any, error) {
	if known == "" {
		known = "{}"
	}
	const notKnown = " AND f.rowid NOT IN (SELECT CAST(key AS INTEGER) FROM json_each(?))"
	phrase := "SELECT f.rowid FROM links_fts f WHERE links_fts MATCH ?" + notKnown
	folded := strings.ToLower(term)
	tris := trigrams(folded)
	if len(tris) > maxProbedTrigrams { // a long term: an even spread is enough to find rare ones
		spread := make([]string, 0, maxProbedTrigrams)
		for i := range maxProbedTrigrams {
			spread = append(spread, tris[i*len(tris)/maxProbedTrigrams])
		}
		tris = spread
	}
	if !isASCII(term) || len(tris) < 2 {
		return phrase, []any{escapeFTS(term), known}, nil
	}
	sc := make([]scored, 0, len(tris))
	for _, t := range tris {
		n, err := s.trigramDocs(ctx, t)
		if err != nil {
			return "", nil, err
		}
		sc = append(sc, scored{t, strings.Index(folded, t), n})
	}
	slices.SortStableFunc(sc, func(a, b scored) int { return a.docs - b.docs })
	if sc[0].docs > rareTrigramDocs {
		return phrase, []any{escapeFTS(term), known}, nil
	}
	// Up to three rare trigrams, apart from each other where possible:
	// overlapping ones (n14, an1) say little more than one of them.
	var chosen []scored
	for _, apart := range []bool{true, false} {
		for _, c := range sc {
			if len(chosen) == 3 || c.docs > rareTrigramDocs {
				break
			}
			ok := !slices.Contains(chosen, c)
			for _, o := range chosen {
				if apart && c.pos > o.pos-3 && c.pos < o.pos+3 {
					ok = false
				}
			}
			if ok {
				chosen = append(chosen, c)
			}
		}
	}
	if len(chosen) == 0 || s.substringPath == substringPhrase ||
		(s.substringPath == substringAuto && phraseCheaper(sc[0].docs, sc, len(trigrams(folded)))) {
		return phrase, []any{escapeFTS(term), known}, nil
	}
	parts := make([]string, len(chosen))
	for i, c := range chosen {
		parts[i] = escapeFTS(c.tri)
	}
	match := strings.Join(parts, " AND ")
	// Candidates are checked against the links' narrow search entries
	// (migration 0026), never the wide rows.
	return `SELECT l.id FROM links_fts f CROSS JOIN links l INDEXED BY links_search_text ON l.id = f.rowid
		WHERE links_fts MATCH ?` + notKnown + ` AND (
		instr(lower(l.customer_email), ?) OR instr(lower(l.customer_id), ?) OR
		instr(lower(l.website_reference), ?) OR instr(lower(l.note), ?))`,
		[]any{match, known, folded, folded, folded, folded}, nil
}

// The substring tier's two ways (Store.substringPath; tests force one).
const (
	substringAuto     = iota // by phraseCheaper
	substringNarrowed        // rare trigrams, candidates checked one by one
	substringPhrase          // the FTS5 phrase
)

// checkCost is what checking one candidate link costs (an index probe and
// the term looked for in four columns), counted in trigram postings that
// the FTS5 phrase reads in the same time. Measured at 1,000,000 links
// (docs/performance.md): checking 10,000 candidates took 20 to 100 ms, the
// phrase over 130,000 postings 3 to 17 ms.
const checkCost = 50

// phraseCheaper reports whether the FTS5 phrase reads fewer postings than
// checking the candidates would cost. The phrase reads every trigram's
// postings: about the sum of their counts (of probed, those looked up,
// scaled to all n of the term's trigrams; counts stop at trigramCountCap+1,
// four times rareTrigramDocs, so a trigram every link has still counts
// four times any candidate set).
// The candidates are at most the rarest trigram's links (rarest). A
// reference like INV-2026-04999 has rare trigrams of a few thousand links
// and a dozen shared by all: narrowed. A surname in emails ("lovelace",
// 50,000 links) has only trigrams of that size: the phrase, a few ms,
// where checking its candidates would read 10,000 entries or more.
func phraseCheaper(rarest int, probed []scored, n int) bool {
	sum := 0
	for _, p := range probed {
		sum += p.docs
	}
	if len(probed) > 0 && n > len(probed) {
		sum = sum * n / len(probed)
	}
	return sum < rarest*checkCost
}

// scored is one of a term's trigrams: where it is in the term and how
// many links hold it (up to trigramCountCap+1).
type scored struct {
	tri       string
	pos, docs int
}

// maxProbedTrigrams bounds the trigrams of one term whose counts are looked
// up: a 200-character term has about 200, and an uncached count is not
// free (docs/performance.md).
const maxProbedTrigrams = 16

// trigrams returns the distinct three-byte windows of an ASCII string.
func trigrams(s string) []string {
	var out []string
	for i := 0; i+3 <= len(s); i++ {
		if t := s[i : i+3]; !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// trigramCountCap is how far a trigram's links are counted: far enough
// past rareTrigramDocs to tell a trigram of 50,000 links (a surname in
// emails: its phrase is cheap) from one that every link has ("202": its
// phrase is not; see phraseCheaper). Counting to it takes about 12 ms of
// CPU at 1,000,000 links, once an hour per trigram.
const trigramCountCap = 200000

// trigramStats caches how many links hold each trigram, counted up to
// trigramCountCap+1 (a bounded probe, cheap enough for common trigrams too).
type trigramStats struct {
	mu   sync.Mutex
	docs map[string]trigramCount
}

type trigramCount struct {
	docs int
	at   time.Time
}

// maxTrigramStats bounds the cache; it is cleared when full. Real data has
// a few thousand distinct trigrams; this only guards against odd input.
const maxTrigramStats = 50000

func (s *Store) trigramDocs(ctx context.Context, tri string) (int, error) {
	st := &s.trigrams
	now := time.Now()
	st.mu.Lock()
	c, ok := st.docs[tri]
	st.mu.Unlock()
	if ok && now.Sub(c.at) < trigramTTL {
		return c.docs, nil
	}
	var n int
	if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM links_fts WHERE links_fts MATCH ? LIMIT ?)",
		escapeFTS(tri), trigramCountCap+1).Scan(&n); err != nil {
		return 0, err
	}
	st.mu.Lock()
	if st.docs == nil || len(st.docs) >= maxTrigramStats {
		st.docs = map[string]trigramCount{}
	}
	st.docs[tri] = trigramCount{n, now}
	st.mu.Unlock()
	return n, nil
}
