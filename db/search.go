package db

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paylinks/paylinks/paylink"
)

// Sort orders of the links list. Every order is newest first within its key
// and ends with the id, so keyset pages are stable under concurrent inserts.
const (
	SortCreated = "created" // created_at, newest first
	SortAmount  = "amount"  // amount_minor, largest first
	SortStatus  = "status"  // status name, then newest first
)

// Kinds of link_keys that a prefix search looks at, and that send a single
// exact hit straight to the link.
var (
	prefixKinds    = []string{"reference", "session", "deposit", "website", "email"}
	referenceKinds = []string{"reference", "session", "deposit", "website", "idempotency"}
)

// LinkQuery is a search with filters, one page of it.
type LinkQuery struct {
	// Term is what staff typed, trimmed. It is matched exactly against every
	// reference, the idempotency key, customer id and email; by prefix (3+
	// characters) against references, website references and emails; and by
	// substring (3+ characters, trigram FTS) against email, customer id,
	// website reference and note. Exact hits rank first, then prefix, then
	// substring.
	Term string
	// AmountTexts are the amount the term denotes, written as each currency
	// exponent writes it ("12.50", "1250", "12.500"); exact matches only.
	AmountTexts []string

	Statuses    []paylink.Status
	Currency    string
	CreatedFrom time.Time // inclusive
	CreatedTo   time.Time // exclusive
	ExpiresFrom time.Time
	ExpiresTo   time.Time
	CreatedBy   int64
	// ImportBatch keeps the links one bulk import made.
	ImportBatch int64
	// NeedsAttention keeps the links someone must act on: in error, or
	// flagged for review, paid after expiry or paid after cancel.
	NeedsAttention bool

	Sort   string
	After  string // cursor of the last row of the previous page
	Before string // cursor of the first row of the next page (going back)
	Limit  int
	// CountUpTo > 0 asks for SearchPage.Total, counted up to CountUpTo+1.
	CountUpTo int
	// DeferTotal lets a page that did not need the substring tier leave the
	// total uncounted (SearchPage.Total -1) rather than read that tier for
	// it alone; CountSearch counts it later. The list page does this so
	// that a typed reference lists its matches at once and its total
	// arrives just after.
	DeferTotal bool
	// WalkBudget > 0 bounds how long a page of a broad term may walk the
	// links (see searchPlan) before giving up with ErrSearchTooBroad.
	WalkBudget time.Duration
	// ListOnly reads just the columns a list of links shows (id, status,
	// amount, currency, customer id and email, website and StableMint
	// references, checkout URL, expiry, creation, last change); every other field of the
	// returned links is zero. A page of full rows costs about twice as much.
	ListOnly bool
	// exportOnly reads just the columns an export writes (exportCols):
	// StreamExport sets it.
	exportOnly bool
	// Expensive, when set, is called before the search does its costly
	// work: reading the substring tier, or walking the links for a broad
	// term (a tier over the cap). Its error stops the search and is
	// returned. It may be called more than once. The list page takes an
	// admission slot here (handlers/admission.go), so that a reference
	// found exactly or by prefix never waits for one.
	Expensive func(ctx context.Context) error
}

// expensive calls q.Expensive, if set.
func (q LinkQuery) expensive(ctx context.Context) error {
	if q.Expensive == nil {
		return nil
	}
	return q.Expensive(ctx)
}

// listCols are the columns a ListOnly page reads.
const listCols = `l.id, l.status, l.amount_minor, l.currency, l.customer_id, l.customer_email, l.website_reference,
	COALESCE(l.sm_reference, ''), COALESCE(l.checkout_url, ''), l.expires_at, l.created_at, l.updated_at`

// scanListLink reads listCols and the rank.
func scanListLink(r scanner, l *Link, rank *int) error {
	var expires sql.NullInt64
	var created, updated int64
	if err := r.Scan(&l.ID, &l.Status, &l.AmountMinor, &l.Currency, &l.CustomerID, &l.CustomerEmail, &l.WebsiteReference,
		&l.SMReference, &l.CheckoutURL, &expires, &created, &updated, rank); err != nil {
		return mapErr(err)
	}
	l.ExpiresAt, l.CreatedAt, l.UpdatedAt = nullMS(expires), fromMS(created), fromMS(updated)
	return nil
}

// ErrSearchTooBroad: the term matches too many links, spread too thinly
// through the chosen order, to list a page within LinkQuery.WalkBudget.
var ErrSearchTooBroad = errors.New("search too broad to list quickly")

// SearchPage is one page of results.
type SearchPage struct {
	Links []Link
	// Next and Prev are cursors for the following and preceding pages; empty
	// when there is none.
	Next, Prev string
	// Total is the number of matches, up to LinkQuery.CountUpTo+1; -1
	// when not asked for, or deferred (LinkQuery.DeferTotal).
	Total int
}

// cursor is the keyset position of a row: its match rank, sort value and id.
type cursor struct {
	Rank int   `json:"r"`
	Val  any   `json:"v"`
	ID   int64 `json:"i"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c) // plain values always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

// ValidCursor reports whether s is a cursor a page gave (SearchPage.Next
// or Prev): the API refuses any other rather than list the first page.
func ValidCursor(s string) bool {
	_, ok := decodeCursor(s)
	return ok
}

func decodeCursor(s string) (cursor, bool) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil {
		return cursor{}, false
	}
	switch v := c.Val.(type) {
	case float64: // JSON numbers: sort values are integers (ms or minor units)
		c.Val = int64(v)
	case string:
	default:
		return cursor{}, false
	}
	return c, true
}

// sortColumn is the SQL of a sort key.
func sortColumn(sort string) string {
	switch sort {
	case SortAmount:
		return "l.amount_minor"
	case SortStatus:
		return "l.status"
	}
	return "l.created_at"
}

// hasSearch reports whether the term takes part.
func (q LinkQuery) hasSearch() bool { return q.Term != "" }

// escapeFTS quotes a term as one FTS5 phrase: every character literal.
func escapeFTS(term string) string {
	return `"` + strings.ReplaceAll(term, `"`, `""`) + `"`
}

// prefixUpper is the exclusive upper bound of keys starting with p: any
// continuation of p sorts below p followed by the highest code point.
func prefixUpper(p string) string { return p + "\U0010FFFF" }

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// filters returns the WHERE conditions of the filters.
func (q LinkQuery) filters() ([]string, []any) {
	var where []string
	var args []any
	if len(q.Statuses) > 0 {
		where = append(where, "l.status IN ("+placeholders(len(q.Statuses))+")")
		for _, s := range q.Statuses {
			args = append(args, s)
		}
	}
	if q.Currency != "" {
		where = append(where, "l.currency = ?")
		args = append(args, q.Currency)
	}
	if !q.CreatedFrom.IsZero() {
		where = append(where, "l.created_at >= ?")
		args = append(args, ms(q.CreatedFrom))
	}
	if !q.CreatedTo.IsZero() {
		where = append(where, "l.created_at < ?")
		args = append(args, ms(q.CreatedTo))
	}
	if !q.ExpiresFrom.IsZero() {
		where = append(where, "l.expires_at >= ?")
		args = append(args, ms(q.ExpiresFrom))
	}
	if !q.ExpiresTo.IsZero() {
		where = append(where, "l.expires_at < ?")
		args = append(args, ms(q.ExpiresTo))
	}
	if q.CreatedBy != 0 {
		where = append(where, "l.created_by = ?")
		args = append(args, q.CreatedBy)
	}
	if q.ImportBatch != 0 {
		where = append(where, "l.id IN (SELECT r.link_id FROM import_rows r WHERE r.batch_id = ? AND r.link_id IS NOT NULL)")
		args = append(args, q.ImportBatch)
	}
	if q.NeedsAttention {
		where = append(where, "(l.status = 'error' OR l.needs_review = 1 OR l.paid_after_expiry = 1 OR l.paid_after_cancel = 1)")
	}
	return where, args
}

// searchPlan is how a query's matches are read. With no term, every link
// (filtered) is a match. With a term whose tiers all fit under the cap,
// hits holds every match and its rank, and one query reads the page. When
// a tier holds more than that (a term like "INV-2026" on a million links),
// hits holds the tiers before it, listed first as ranked, and the page
// then walks links in sort order testing each against the term (walk, at
// rank walkRank, the overflowing tier's): dense matches make that quick.
//
// partial: hits lacks the substring tier (rank 2) still to be read. Such a
// plan serves any page that lies within ranks 0 and 1 (see SearchLinks),
// which every fuller plan lists the same way. The substring tier is the
// costliest, and a reference prefix typed by staff usually fills the page
// without it.
type searchPlan struct {
	hits     string // JSON object: link id -> rank; "" for none
	walk     bool
	walkRank int
	partial  bool
	m        matchSet // the tiers read so far (not for walk plans)
	// phrase, set for counts only (countPhrase), bounds a substring walk
	// to the links the term's FTS5 phrase finds.
	phrase string
}

// plan finds the term's matches tier by tier (see matches); with
// substrings false it leaves the substring tier for later (partial).
func (s *Store) plan(ctx context.Context, q LinkQuery, substrings bool) (searchPlan, error) {
	if !q.hasSearch() {
		return searchPlan{}, nil
	}
	m, ok, err := s.matches(ctx, q)
	if err != nil {
		return searchPlan{}, err
	}
	if !ok {
		if err := q.expensive(ctx); err != nil {
			return searchPlan{}, err
		}
		return walkPlan(m), nil
	}
	p := searchPlan{hits: m.json(-1), m: m, partial: hasSubstringTier(q)}
	if substrings {
		return s.withSubstrings(ctx, q, p)
	}
	return p, nil
}

// withSubstrings completes a partial plan with the substring tier.
func (s *Store) withSubstrings(ctx context.Context, q LinkQuery, p searchPlan) (searchPlan, error) {
	if !p.partial {
		return p, nil
	}
	if err := q.expensive(ctx); err != nil {
		return searchPlan{}, err
	}
	m := matchSet{rank: maps.Clone(p.m.rank), order: slices.Clone(p.m.order)}
	ok, err := s.substring(ctx, q, &m)
	if err != nil {
		return searchPlan{}, err
	}
	if !ok {
		return walkPlan(m), nil
	}
	return searchPlan{hits: m.json(-1), m: m}, nil
}

// walkPlan is the plan of a term with a tier over the cap: the tiers
// before it (m) are listed first, then the walk.
func walkPlan(m matchSet) searchPlan {
	p := searchPlan{walk: true, walkRank: m.overflow}
	if len(m.order) > 0 {
		p.hits = m.json(-1)
	}
	return p
}

// segment is one run of the page order: a query of link rows with their
// rank, ending in a WHERE clause so callers append conditions with AND.
// Its rows' ranks lie between lo and hi; ranked: the rank varies within it
// and leads the order. walk: it tests links one by one in sort order.
type segment struct {
	query  string
	rank   string
	args   []any
	lo, hi int
	ranked bool
	walk   bool
	// outer, when set, reads the rows of a page whose query selects only
	// link ids and ranks (from the narrow search entries): fetch orders
	// and limits the query, and outer (%s for it, as p) reads those rows.
	outer string
}

// segments are the runs a page reads, in rank order. A count selects no
// columns.
func (q LinkQuery) segments(p searchPlan, count bool) []segment {
	sel, from := "SELECT 1", " FROM links l"
	join := !count && !q.ListOnly // the creator's name
	switch {
	case q.ListOnly && !count:
		sel = "SELECT " + listCols
	case q.exportOnly && !count:
		sel, from = "SELECT "+exportCols, linkFrom
	case !count:
		sel, from = "SELECT "+linkCols, linkFrom
	}
	where, fargs := q.filters()
	cond := func(extra ...string) string {
		all := append(append([]string{}, where...), extra...)
		if len(all) == 0 {
			return " WHERE 1"
		}
		return " WHERE " + strings.Join(all, " AND ")
	}
	if !q.hasSearch() {
		return []segment{{query: sel + ", 0" + from + cond(), rank: "0", args: fargs}}
	}
	var out []segment
	if p.hits != "" {
		// json_each drives: one probe per hit, whatever the table size, into
		// the narrow search entries (migration 0026) when they hold every
		// column the filters test. A page orders the hits there and reads
		// the full rows of its own (up to Limit+1) only.
		hq := " FROM json_each(?) h CROSS JOIN " + q.probedLinks() + " ON l.id = CAST(h.key AS INTEGER)" + cond()
		hi := 2
		if p.walk {
			hi = p.walkRank - 1
		}
		sg := segment{query: "SELECT 1, h.value" + hq, rank: "h.value", args: append([]any{p.hits}, fargs...), hi: hi, ranked: true}
		if !count {
			sg.query = "SELECT l.id AS id, h.value AS value" + hq
			sg.outer = sel + ", p.value FROM (%s) p CROSS JOIN links l ON l.id = p.id"
			if join {
				sg.outer += " LEFT JOIN users u ON u.id = l.created_by"
			}
		}
		out = append(out, sg)
	}
	if !p.walk {
		return out
	}
	match, margs := q.matchCondition()
	if p.walkRank == 2 {
		// Every exact and prefix match is among the hits: the walk looks
		// for the term inside the columns only, without link_keys.
		match, margs = q.substringCondition(true)
	}
	args := append(append([]any{}, fargs...), margs...)
	if p.hits != "" {
		match += " AND l.id NOT IN (SELECT CAST(key AS INTEGER) FROM json_each(?))"
		args = append(args, p.hits)
	}
	rank := strconv.Itoa(p.walkRank)
	if count && p.phrase != "" {
		// The phrase's links only (countPhrase), each probed by id.
		from = " FROM (SELECT rowid AS id FROM links_fts WHERE links_fts MATCH ?) f CROSS JOIN " + q.probedLinks() + " ON l.id = f.id"
		args = append([]any{p.phrase}, args...)
	}
	return append(out, segment{query: sel + ", " + rank + from + cond(match), rank: rank, args: args,
		lo: p.walkRank, hi: p.walkRank, walk: true})
}

// matchCondition tests one link row against the term, as the tiers do:
// an exact or prefix key in link_keys, or the term inside a searched
// column (ASCII terms checked on the row itself; others through FTS5).
func (q LinkQuery) matchCondition() (string, []any) { return q.termCondition(true) }

// termCondition is matchCondition; without fts a non-ASCII term is looked
// for inside the columns as typed (instr), not through the trigram index.
func (q LinkQuery) termCondition(fts bool) (string, []any) {
	keys := []string{"(k.key = ? AND k.kind <> 'amount')"}
	args := []any{q.Term}
	if len(q.AmountTexts) > 0 {
		keys = append(keys, "(k.kind = 'amount' AND k.key IN ("+placeholders(len(q.AmountTexts))+"))")
		for _, a := range q.AmountTexts {
			args = append(args, a)
		}
	}
	long := len([]rune(q.Term)) >= 3
	if long {
		keys = append(keys, "(k.key >= ? AND k.key < ? AND k.kind IN ("+placeholders(len(prefixKinds))+"))")
		args = append(args, q.Term, prefixUpper(q.Term))
		for _, k := range prefixKinds {
			args = append(args, k)
		}
	}
	cond := "(EXISTS (SELECT 1 FROM link_keys k WHERE k.link_id = l.id AND (" + strings.Join(keys, " OR ") + "))"
	if long {
		sub, sargs := q.substringCondition(fts)
		cond += " OR " + sub
		args = append(args, sargs...)
	}
	return cond + ")", args
}

// substringCondition tests one link row for the term (3+ characters)
// inside a searched column, as the substring tier does: ASCII terms on the
// row itself, case-insensitively; others through FTS5, or, without fts,
// as typed (instr).
func (q LinkQuery) substringCondition(fts bool) (string, []any) {
	switch {
	case isASCII(q.Term):
		f := strings.ToLower(q.Term)
		return `(instr(lower(l.customer_email), ?) OR instr(lower(l.customer_id), ?) OR
			instr(lower(l.website_reference), ?) OR instr(lower(COALESCE(l.note, '')), ?))`, []any{f, f, f, f}
	case !fts:
		return `(instr(l.customer_email, ?) OR instr(l.customer_id, ?) OR
			instr(l.website_reference, ?) OR instr(COALESCE(l.note, ''), ?))`, []any{q.Term, q.Term, q.Term, q.Term}
	}
	return "l.id IN (SELECT rowid FROM links_fts WHERE links_fts MATCH ?)", []any{escapeFTS(q.Term)}
}

// narrowFilters reports whether the narrow search entries (migration
// 0026: id, created_at, amount_minor, status, currency and the searched
// text) hold every column the filters test.
func (q LinkQuery) narrowFilters() bool {
	return q.ExpiresFrom.IsZero() && q.ExpiresTo.IsZero() && q.CreatedBy == 0 && !q.NeedsAttention
}

// probedLinks is the links table as a search probes it by id: through
// the narrow search entries when they hold every column the filters test.
func (q LinkQuery) probedLinks() string {
	if q.narrowFilters() {
		return "links l INDEXED BY links_search_text"
	}
	return "links l"
}

// hasFilters reports whether any filter narrows the matches.
func (q LinkQuery) hasFilters() bool {
	return len(q.Statuses) > 0 || q.Currency != "" || q.CreatedBy != 0 || !q.CreatedFrom.IsZero() ||
		!q.CreatedTo.IsZero() || !q.ExpiresFrom.IsZero() || !q.ExpiresTo.IsZero() || q.NeedsAttention || q.ImportBatch != 0
}

// SearchLinks returns one page of links matching q, ranked exact, prefix,
// substring, then in q.Sort order, and the total when q.CountUpTo asks for
// it. Only bound parameters reach SQL; no LIKE is used, so % and _ in the
// term are ordinary characters.
//
// A page that lies wholly within the exact and prefix matches is read
// without the substring tier: the page after a cursor in those ranks that
// they fill, or any page before such a cursor. Otherwise, or to count the
// total, the substring tier is read too, unless q.DeferTotal lets the count
// wait for CountSearch.
func (s *Store) SearchLinks(ctx context.Context, q LinkQuery) (SearchPage, error) {
	q.Term = cleanTerm(q.Term)
	if q.Limit <= 0 {
		q.Limit = defaultPageSize
	}
	p, err := s.plan(ctx, q, false)
	if err != nil {
		return SearchPage{}, err
	}
	// Without filters the partial plan's hits are its rows: when they
	// cannot fill the page (and the row after it) going forward, the
	// substring tier is needed anyway.
	short := q.Before == "" && !q.hasFilters() && len(p.m.order) <= q.Limit
	if p.partial && (!cursorAbove(q, 2) || short) {
		if p, err = s.withSubstrings(ctx, q, p); err != nil {
			return SearchPage{}, err
		}
	}
	page, err := s.searchPage(ctx, q, p)
	if errors.Is(err, errNeedSubstrings) {
		if p, err = s.withSubstrings(ctx, q, p); err != nil {
			return SearchPage{}, err
		}
		page, err = s.searchPage(ctx, q, p)
	}
	return page, err
}

// cleanTerm drops what SQLite would not read as the term's characters: NUL
// (its strings end there) and bytes that are not UTF-8 (it reads a lone
// 0x9F as U+009F, so "A\x9fe" would find "a\u009fe"). The list page
// sends only valid UTF-8; other callers get the same search.
func cleanTerm(term string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(term, "\x00", ""), "")
}

// errNeedSubstrings: a partial plan ran out of matches before the page
// (and the row after it) was found; the substring tier may continue it.
var errNeedSubstrings = errors.New("the page needs the substring tier")

// cursorAbove reports whether the page starts from a cursor (or the top)
// in a rank above rank: a page forward from there, or back, may need no
// match of rank or below.
func cursorAbove(q LinkQuery, rank int) bool {
	c := q.After
	if c == "" {
		c = q.Before
	}
	if c == "" {
		return true
	}
	pos, ok := decodeCursor(c)
	return ok && pos.Rank < rank
}

// CountSearch counts q's matches (its term and filters) up to upTo+1, as
// SearchPage.Total would: for the total a page deferred (LinkQuery.DeferTotal).
func (s *Store) CountSearch(ctx context.Context, q LinkQuery, upTo int) (int, error) {
	q.Term = cleanTerm(q.Term)
	p, err := s.plan(ctx, q, true)
	if err != nil {
		return 0, err
	}
	return s.count(ctx, q, p, upTo)
}

// countPhrase is the FTS5 phrase that bounds a filtered count's substring
// walk, or "". A substring tier over the cap makes a walk; a page's walk
// stops once the page is full, but a count under a filter (a status tab of
// a surname search: "torvalds" in 20,000 links, 6,000 of them paid) walks
// until the cap or the end of the filtered links, testing every row: all
// the paid links. When the term's rarest trigram is in at most
// trigramCountCap links, the phrase's matches are at most that many, so
// the count probes those (into the narrow search entries) instead.
func (s *Store) countPhrase(ctx context.Context, q LinkQuery, p searchPlan) (string, error) {
	if !p.walk || p.walkRank != 2 || !q.hasFilters() || !isASCII(q.Term) {
		return "", nil
	}
	tris := trigrams(strings.ToLower(q.Term))
	if len(tris) == 0 || len(tris) > maxProbedTrigrams {
		return "", nil
	}
	for _, t := range tris {
		n, err := s.trigramDocs(ctx, t)
		if err != nil {
			return "", err
		}
		if n <= trigramCountCap {
			return escapeFTS(q.Term), nil
		}
	}
	return "", nil
}

// defaultPageSize is LinkQuery.Limit's default.
const defaultPageSize = 50

// rankedRows are links and their match ranks, side by side (a Link is
// large: a page is read into these once, not copied row by row).
type rankedRows struct {
	links []Link
	ranks []int
}

// fetch appends up to limit rows of one segment from pos (nil: its start),
// forward or backward in page order, to got.
func (s *Store) fetch(ctx context.Context, q LinkQuery, sg segment, pos *cursor, backward bool, limit int, got *rankedRows) error {
	col := sortColumn(q.Sort)
	args := append([]any{}, sg.args...)
	full := sg.query
	rankDir, dir, op := "ASC", "DESC", "<"
	if backward {
		rankDir, dir, op = "DESC", "ASC", ">"
	}
	if pos != nil {
		if sg.ranked {
			rop := ">"
			if backward {
				rop = "<"
			}
			full += fmt.Sprintf(" AND (%[1]s %[3]s ? OR (%[1]s = ? AND (%[2]s, l.id) %[4]s (?, ?)))", sg.rank, col, rop, op)
			args = append(args, pos.Rank, pos.Rank, pos.Val, pos.ID)
		} else {
			full += fmt.Sprintf(" AND (%s, l.id) %s (?, ?)", col, op)
			args = append(args, pos.Val, pos.ID)
		}
	}
	if sg.ranked {
		full += fmt.Sprintf(" ORDER BY %s %s, %s %s, l.id %s", sg.rank, rankDir, col, dir, dir)
	} else {
		full += fmt.Sprintf(" ORDER BY %s %s, l.id %s", col, dir, dir)
	}
	full += " LIMIT ?"
	args = append(args, limit)
	if sg.outer != "" {
		full = fmt.Sprintf(sg.outer, full) + fmt.Sprintf(" ORDER BY p.value %s, %s %s, l.id %s", rankDir, col, dir, dir)
	}
	rows, err := s.read.QueryContext(ctx, full, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	scan := scanLinkWithRank
	switch {
	case q.ListOnly:
		scan = scanListLink
	case q.exportOnly:
		scan = scanExportLink
	}
	for rows.Next() {
		got.links = append(got.links, Link{})
		got.ranks = append(got.ranks, 0)
		n := len(got.links) - 1
		if err := scan(rows, &got.links[n], &got.ranks[n]); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *Store) searchPage(ctx context.Context, q LinkQuery, plan searchPlan) (SearchPage, error) {
	if q.Limit <= 0 {
		q.Limit = defaultPageSize
	}
	backward := false
	var pos cursor
	var havePos bool
	if q.After != "" {
		pos, havePos = decodeCursor(q.After)
	} else if q.Before != "" {
		pos, havePos = decodeCursor(q.Before)
		backward = havePos
	}
	// Read the segments in page order (reversed going back) from the
	// cursor's segment on, until the page and one more row are found.
	segs := q.segments(plan, false)
	if backward {
		slices.Reverse(segs)
	}
	got := rankedRows{links: make([]Link, 0, q.Limit+1), ranks: make([]int, 0, q.Limit+1)}
	for _, sg := range segs {
		var from *cursor
		if havePos {
			if (!backward && pos.Rank > sg.hi) || (backward && pos.Rank < sg.lo) {
				continue // wholly before the cursor
			}
			if pos.Rank >= sg.lo && pos.Rank <= sg.hi {
				from = &pos
			}
		}
		fctx, cancel := ctx, context.CancelFunc(func() {})
		if sg.walk && q.WalkBudget > 0 {
			fctx, cancel = context.WithTimeout(ctx, q.WalkBudget)
		}
		err := s.fetch(fctx, q, sg, from, backward, q.Limit+1-len(got.links), &got)
		budgetSpent := fctx.Err() != nil && ctx.Err() == nil
		cancel()
		if budgetSpent {
			return SearchPage{}, ErrSearchTooBroad
		}
		if err != nil {
			return SearchPage{}, err
		}
		if len(got.links) > q.Limit {
			break
		}
	}
	more := len(got.links) > q.Limit
	if plan.partial && !backward && !more {
		return SearchPage{}, errNeedSubstrings
	}
	if more {
		got.links, got.ranks = got.links[:q.Limit], got.ranks[:q.Limit]
	}
	if backward { // fetched in reverse: put back in display order
		slices.Reverse(got.links)
		slices.Reverse(got.ranks)
	}
	p := SearchPage{Total: -1}
	if q.CountUpTo > 0 && !(plan.partial && q.DeferTotal) {
		full, err := s.withSubstrings(ctx, q, plan)
		if err != nil {
			return SearchPage{}, err
		}
		if p.Total, err = s.count(ctx, q, full, q.CountUpTo); err != nil {
			return SearchPage{}, err
		}
	}
	n := len(got.links)
	if n == 0 {
		return p, nil
	}
	p.Links = got.links
	cur := func(i int) string {
		l := got.links[i]
		return encodeCursor(cursor{Rank: got.ranks[i], Val: sortValue(l, q.Sort), ID: l.ID})
	}
	if backward {
		p.Next = cur(n - 1)
		if more {
			p.Prev = cur(0)
		}
	} else {
		if more {
			p.Next = cur(n - 1)
		}
		if havePos {
			p.Prev = cur(0)
		}
	}
	return p, nil
}

func sortValue(l Link, sort string) any {
	switch sort {
	case SortAmount:
		return l.AmountMinor
	case SortStatus:
		return string(l.Status)
	}
	return ms(l.CreatedAt)
}

func scanLinkWithRank(r scanner, l *Link, rank *int) error {
	var w rankScanner
	w.r, w.rank = r, rank
	got, err := scanLink(&w)
	*l = got
	return err
}

// rankScanner appends the rank column to a link scan.
type rankScanner struct {
	r    scanner
	rank *int
}

func (w *rankScanner) Scan(dest ...any) error { return w.r.Scan(append(dest, w.rank)...) }

// count counts q's matches up to limit+1. Without filters the plan often
// knows: the hits are every match, or a tier already held more than the cap.
func (s *Store) count(ctx context.Context, q LinkQuery, p searchPlan, limit int) (int, error) {
	if !q.hasFilters() && q.hasSearch() {
		if !p.walk {
			return min(strings.Count(p.hits, ":"), limit+1), nil
		}
		if tierCap := s.tierLimit(); limit <= tierCap {
			return limit + 1, nil // one tier alone holds more than the cap
		}
	}
	phrase, err := s.countPhrase(ctx, q, p)
	if err != nil {
		return 0, err
	}
	p.phrase = phrase
	var parts []string
	var args []any
	for _, sg := range q.segments(p, true) {
		parts = append(parts, sg.query)
		args = append(args, sg.args...)
	}
	var n int
	err = s.read.QueryRowContext(ctx, "SELECT count(*) FROM ("+strings.Join(parts, " UNION ALL ")+" LIMIT ?)", append(args, limit+1)...).Scan(&n)
	return n, err
}

// SingleReferenceHit returns the link whose reference (StableMint's, the
// session id, the deposit reference, the website reference or the
// idempotency key) equals term, when exactly one link has it.
func (s *Store) SingleReferenceHit(ctx context.Context, term string) (int64, bool, error) {
	args := []any{term}
	for _, k := range referenceKinds {
		args = append(args, k)
	}
	ids, err := s.ids(ctx, "SELECT DISTINCT link_id FROM link_keys WHERE key = ? AND kind IN ("+
		placeholders(len(referenceKinds))+") LIMIT 2", args...)
	if err != nil || len(ids) != 1 {
		return 0, false, err
	}
	return ids[0], true, nil
}

// StreamLinks calls fn for every link matching q, in page order, reading in
// keyset batches so memory stays flat whatever the count; fn's error stops it.
func (s *Store) StreamLinks(ctx context.Context, q LinkQuery, fn func(Link) error) error {
	q.Term = cleanTerm(q.Term)
	q.Limit, q.Before, q.CountUpTo = 1000, "", 0
	plan, err := s.plan(ctx, q, true) // once: the matches, then page by page
	if err != nil {
		return err
	}
	for {
		p, err := s.searchPage(ctx, q, plan)
		if err != nil {
			return err
		}
		for _, l := range p.Links {
			if err := fn(l); err != nil {
				return err
			}
		}
		if p.Next == "" {
			return nil
		}
		q.After = p.Next
	}
}

// CursorAt is the keyset cursor just after l in the given sort, for
// starting a page at any depth (benchmarks, deep links).
func CursorAt(l Link, sort string) string {
	return encodeCursor(cursor{Val: sortValue(l, sort), ID: l.ID})
}
