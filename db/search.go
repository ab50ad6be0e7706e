package db

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
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

	Statuses    []string
	Currency    string
	CreatedFrom time.Time // inclusive
	CreatedTo   time.Time // exclusive
	ExpiresFrom time.Time
	ExpiresTo   time.Time
	CreatedBy   int64

	Sort   string
	After  string // cursor of the last row of the previous page
	Before string // cursor of the first row of the next page (going back)
	Limit  int
	// CountUpTo > 0 asks for SearchPage.Total, counted up to CountUpTo+1.
	CountUpTo int
}

// SearchPage is one page of results.
type SearchPage struct {
	Links []Link
	// Next and Prev are cursors for the following and preceding pages; empty
	// when there is none.
	Next, Prev string
	// Total is the number of matches, up to LinkQuery.CountUpTo+1; -1
	// when not asked for.
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

// hitsCTE builds the ranked matches of the term: (link_id, rank).
func (q LinkQuery) hitsCTE() (string, []any) {
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
	return "WITH hits(link_id, rank) AS (" + strings.Join(parts, " UNION ALL ") +
		"), best AS (SELECT link_id, min(rank) AS rank FROM hits GROUP BY link_id) ", args
}

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
	return where, args
}

// from is the FROM and WHERE shared by the page and the count, and the SQL
// of a row's match rank; it always ends in a WHERE clause, so callers append
// conditions with AND. With a term, hits is either the matches already
// found tier by tier (a JSON object of link id to rank) or "" to find them in
// SQL (the fallback for terms matching more than the tier cap).
// A count selects no columns.
func (q LinkQuery) from(hits string, count bool) (query, rank string, args []any) {
	var sb strings.Builder
	sel, from := "SELECT 1", " FROM links l"
	if !count {
		sel, from = "SELECT "+linkCols, linkFrom
	}
	switch {
	case !q.hasSearch():
		rank = "0"
		sb.WriteString(sel + ", 0" + from)
	case hits != "":
		// json_each drives: one rowid probe per hit, whatever the table size.
		rank = "h.value"
		sb.WriteString(sel + ", h.value FROM json_each(?) h CROSS JOIN links l ON l.id = CAST(h.key AS INTEGER)")
		if !count {
			sb.WriteString(" LEFT JOIN users u ON u.id = l.created_by")
		}
		args = append(args, hits)
	default:
		rank = "best.rank"
		cte, a := q.hitsCTE()
		sb.WriteString(cte)
		args = append(args, a...)
		sb.WriteString(sel + ", best.rank" + from + " JOIN best ON best.link_id = l.id")
	}
	where, a := q.filters()
	args = append(args, a...)
	if len(where) == 0 {
		where = []string{"1"}
	}
	sb.WriteString(" WHERE " + strings.Join(where, " AND "))
	return sb.String(), rank, args
}

// hasFilters reports whether any filter narrows the matches.
func (q LinkQuery) hasFilters() bool {
	return len(q.Statuses) > 0 || q.Currency != "" || q.CreatedBy != 0 || !q.CreatedFrom.IsZero() ||
		!q.CreatedTo.IsZero() || !q.ExpiresFrom.IsZero() || !q.ExpiresTo.IsZero()
}

// SearchLinks returns one page of links matching q, ranked exact, prefix,
// substring, then in q.Sort order, and the total when q.CountUpTo asks for
// it. Only bound parameters reach SQL; no LIKE is used, so % and _ in the
// term are ordinary characters.
func (s *Store) SearchLinks(ctx context.Context, q LinkQuery) (SearchPage, error) {
	q.Term = strings.ReplaceAll(q.Term, "\x00", "") // SQLite strings end at NUL
	hits, err := s.resolveHits(ctx, q)
	if err != nil {
		return SearchPage{}, err
	}
	return s.searchPage(ctx, q, hits)
}

// resolveHits finds the term's matches tier by tier (see matches); "" when
// there is no term or a tier holds more than the cap, and SQL must rank.
func (s *Store) resolveHits(ctx context.Context, q LinkQuery) (string, error) {
	if !q.hasSearch() {
		return "", nil
	}
	m, ok, err := s.matches(ctx, q)
	if err != nil || !ok {
		return "", err
	}
	if len(m.rank) == 0 {
		return "{}", nil
	}
	b := make([]byte, 0, 16*len(m.rank))
	b = append(b, '{')
	for i, id := range m.order {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = strconv.AppendInt(b, id, 10)
		b = append(b, '"', ':')
		b = strconv.AppendInt(b, int64(m.rank[id]), 10)
	}
	return string(append(b, '}')), nil
}

func (s *Store) searchPage(ctx context.Context, q LinkQuery, hits string) (SearchPage, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	query, rank, args := q.from(hits, false)
	col := sortColumn(q.Sort)
	backward := false
	var pos cursor
	var havePos bool
	if q.After != "" {
		pos, havePos = decodeCursor(q.After)
	} else if q.Before != "" {
		pos, havePos = decodeCursor(q.Before)
		backward = havePos
	}
	// Keyset condition and order: by match rank (searches only), then the
	// sort key, then the id; all descending but the rank.
	cond, order := "", ""
	if q.hasSearch() {
		if havePos {
			if backward {
				cond = fmt.Sprintf("(%[1]s < ? OR (%[1]s = ? AND (%[2]s, l.id) > (?, ?)))", rank, col)
			} else {
				cond = fmt.Sprintf("(%[1]s > ? OR (%[1]s = ? AND (%[2]s, l.id) < (?, ?)))", rank, col)
			}
			args = append(args, pos.Rank, pos.Rank, pos.Val, pos.ID)
		}
		order = fmt.Sprintf(" ORDER BY %s ASC, %s DESC, l.id DESC", rank, col)
		if backward {
			order = fmt.Sprintf(" ORDER BY %s DESC, %s ASC, l.id ASC", rank, col)
		}
	} else {
		if havePos {
			op := "<"
			if backward {
				op = ">"
			}
			cond = fmt.Sprintf("(%s, l.id) %s (?, ?)", col, op)
			args = append(args, pos.Val, pos.ID)
		}
		order = fmt.Sprintf(" ORDER BY %s DESC, l.id DESC", col)
		if backward {
			order = fmt.Sprintf(" ORDER BY %s ASC, l.id ASC", col)
		}
	}
	full := query
	if cond != "" {
		full += " AND " + cond
	}
	full += order + " LIMIT ?"
	args = append(args, q.Limit+1)

	rows, err := s.read.QueryContext(ctx, full, args...)
	if err != nil {
		return SearchPage{}, err
	}
	defer rows.Close()
	type row struct {
		link Link
		rank int
	}
	var got []row
	for rows.Next() {
		var r row
		if err := scanLinkWithRank(rows, &r.link, &r.rank); err != nil {
			return SearchPage{}, err
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		return SearchPage{}, err
	}
	more := len(got) > q.Limit
	if more {
		got = got[:q.Limit]
	}
	if backward { // fetched in reverse: put back in display order
		for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
			got[i], got[j] = got[j], got[i]
		}
	}
	p := SearchPage{Total: -1}
	if q.CountUpTo > 0 {
		if p.Total, err = s.count(ctx, q, hits, q.CountUpTo); err != nil {
			return SearchPage{}, err
		}
	}
	for _, r := range got {
		p.Links = append(p.Links, r.link)
	}
	if len(got) == 0 {
		return p, nil
	}
	cur := func(r row) string {
		return encodeCursor(cursor{Rank: r.rank, Val: sortValue(r.link, q.Sort), ID: r.link.ID})
	}
	if backward {
		p.Next = cur(got[len(got)-1])
		if more {
			p.Prev = cur(got[0])
		}
	} else {
		if more {
			p.Next = cur(got[len(got)-1])
		}
		if havePos {
			p.Prev = cur(got[0])
		}
	}
	return p, nil
}

func sortValue(l Link, sort string) any {
	switch sort {
	case SortAmount:
		return l.AmountMinor
	case SortStatus:
		return l.Status
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

// CountLinksMatching counts matches up to limit+1, so a page can say "10,000+"
// without counting a million rows.
func (s *Store) CountLinksMatching(ctx context.Context, q LinkQuery, limit int) (int, error) {
	q.Term = strings.ReplaceAll(q.Term, "\x00", "")
	hits, err := s.resolveHits(ctx, q)
	if err != nil {
		return 0, err
	}
	return s.count(ctx, q, hits, limit)
}

// count counts q's matches up to limit+1. Matches found tier by tier and
// no filter: the hits are the answer, no query needed.
func (s *Store) count(ctx context.Context, q LinkQuery, hits string, limit int) (int, error) {
	if hits == "{}" {
		return 0, nil
	}
	if hits != "" && !q.hasFilters() {
		return min(strings.Count(hits, ":"), limit+1), nil
	}
	query, _, args := q.from(hits, true)
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM ("+query+" LIMIT ?)", append(args, limit+1)...).Scan(&n)
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
	rows, err := s.read.QueryContext(ctx, "SELECT DISTINCT link_id FROM link_keys WHERE key = ? AND kind IN ("+
		placeholders(len(referenceKinds))+") LIMIT 2", args...)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return 0, false, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil || len(ids) != 1 {
		return 0, false, err
	}
	return ids[0], true, nil
}

// StreamLinks calls fn for every link matching q, in page order, reading in
// keyset batches so memory stays flat whatever the count; fn's error stops it.
func (s *Store) StreamLinks(ctx context.Context, q LinkQuery, fn func(Link) error) error {
	q.Term = strings.ReplaceAll(q.Term, "\x00", "")
	q.Limit, q.Before, q.CountUpTo = 1000, "", 0
	hits, err := s.resolveHits(ctx, q) // once: the matches, then page by page
	if err != nil {
		return err
	}
	for {
		p, err := s.searchPage(ctx, q, hits)
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
