package db

import (
	"context"
	"strings"
	"time"
)

// The links list keeps its rows up to date while it is open (the list's
// live updates, handlers/list_live.go): every few seconds it asks again
// for the rows on screen, by id, and how many links matching it were made
// since it was listed. Neither reads the search tiers: the rows are rowid
// probes, and the count tests only the links made since, one by one.

// maxLiveIDs bounds the ids one ListLinksByIDs call reads (a page).
const maxLiveIDs = 100

// newLinksScan bounds how many links made since a list was shown
// CountNewLinks looks at: the links after the list's newest id, oldest
// first. A list left open while more were made is told "100+ new".
const newLinksScan = 1000

// ListLinksByIDs returns the links with these ids (at most 100; the rest
// are ignored) with the columns a list shows (LinkQuery.ListOnly) and the
// held checkout host, in no particular order. Unknown ids are left out.
func (s *Store) ListLinksByIDs(ctx context.Context, ids []int64) ([]Link, error) {
	args := liveIDArgs(ids)
	if len(args) == 0 {
		return nil, nil
	}
	rows, err := s.read.QueryContext(ctx, "SELECT "+listCols+", 0, COALESCE(l.held_checkout_host, '') FROM links l WHERE l.id IN ("+
		placeholders(len(args))+")", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]Link, 0, len(args)) // a Link is large: no regrowth
	var rank int
	for rows.Next() {
		out = append(out, Link{})
		l := &out[len(out)-1]
		if err := scanListLink(&heldScanner{r: rows, host: &l.HeldCheckoutHost}, l, &rank); err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}

// LinkVersions returns when each of ids (at most maxLiveIDs) last changed
// (updated_at); ids with no link are left out. It reads two columns, so an
// open list asks it for all its rows and reads whole rows (ListLinksByIDs)
// only for those that changed.
func (s *Store) LinkVersions(ctx context.Context, ids []int64) (map[int64]time.Time, error) {
	args := liveIDArgs(ids)
	if len(args) == 0 {
		return nil, nil
	}
	rows, err := s.read.QueryContext(ctx, "SELECT id, updated_at FROM links WHERE id IN ("+placeholders(len(args))+")", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[int64]time.Time, len(args))
	for rows.Next() {
		var id, updated int64
		if err := rows.Scan(&id, &updated); err != nil {
			return nil, err
		}
		out[id] = time.UnixMilli(updated).UTC()
	}
	return out, rows.Err()
}

// heldScanner appends the held checkout host to a list scan.
type heldScanner struct {
	r    scanner
	host *string
}

func (w *heldScanner) Scan(dest ...any) error { return w.r.Scan(append(dest, w.host)...) }

// LastLinkID is the newest link's id (0 with none): a list remembers it to
// ask later how many links were made since (CountNewLinks).
func (s *Store) LastLinkID(ctx context.Context) (int64, error) {
	var id int64
	err := s.read.QueryRowContext(ctx, "SELECT COALESCE(max(id), 0) FROM links").Scan(&id)
	return id, err
}

// CountNewLinks counts the links made after the link since that q's
// filters and term select, up to upTo+1. It looks at no more than the
// 1,000 links made next (a rowid range), testing each against the filters
// and the term as a page that walks the links does (exact and prefix keys,
// the term inside the searched columns) but never through the trigram
// index: a non-ASCII term is looked for as typed, case and all.
func (s *Store) CountNewLinks(ctx context.Context, q LinkQuery, since int64, upTo int) (int, error) {
	q.Term = cleanTerm(q.Term)
	where, args := q.filters()
	if q.hasSearch() {
		cond, margs := q.termCondition(false)
		where = append(where, cond)
		args = append(args, margs...)
	}
	query := "SELECT count(*) FROM (SELECT 1 FROM (SELECT * FROM links WHERE id > ? ORDER BY id LIMIT ?) l"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " LIMIT ?)"
	var n int
	err := s.read.QueryRowContext(ctx, query, append(append([]any{since, newLinksScan}, args...), upTo+1)...).Scan(&n)
	return n, err
}

// liveIDArgs are the first maxLiveIDs of ids as query arguments.
func liveIDArgs(ids []int64) []any {
	ids = ids[:min(len(ids), maxLiveIDs)]
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}
