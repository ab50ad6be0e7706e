package db

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// AuditQuery filters the audit log for /admin/audit and its export.
// Entries come newest first (by id, the order they were written).
type AuditQuery struct {
	ActorID    int64  // the actor's user id
	ActorEmail string // the actor's email, whole, any case
	// Action is matched whole, or as a prefix when it ends in "*"
	// ("user.*" finds user.create, user.role, …).
	Action  string
	Outcome string
	From    time.Time // inclusive
	To      time.Time // exclusive

	After  int64 // only entries older than this id (the next page)
	Before int64 // only entries newer than this id (the previous page)
	Limit  int
}

// AuditPage is one page of entries, newest first.
type AuditPage struct {
	Entries []AuditEntry
	// Next is the id to pass as After for older entries, Prev the id to
	// pass as Before for newer ones; 0 when there are none.
	Next, Prev int64
}

// where builds the filter conditions; never empty.
func (q AuditQuery) where() (string, []any) {
	conds := []string{"1"}
	var args []any
	if q.ActorID != 0 {
		conds = append(conds, "actor_id = ?")
		args = append(args, q.ActorID)
	}
	if q.ActorEmail != "" {
		conds = append(conds, "actor_email = ? COLLATE NOCASE")
		args = append(args, q.ActorEmail)
	}
	if p, ok := strings.CutSuffix(q.Action, "*"); ok {
		if p != "" {
			conds = append(conds, "action >= ? AND action < ?")
			args = append(args, p, prefixUpper(p))
		}
	} else if q.Action != "" {
		conds = append(conds, "action = ?")
		args = append(args, q.Action)
	}
	if q.Outcome != "" {
		conds = append(conds, "outcome = ?")
		args = append(args, q.Outcome)
	}
	if !q.From.IsZero() {
		conds = append(conds, "at >= ?")
		args = append(args, ms(q.From))
	}
	if !q.To.IsZero() {
		conds = append(conds, "at < ?")
		args = append(args, ms(q.To))
	}
	return strings.Join(conds, " AND "), args
}

const auditCols = `id, at, COALESCE(actor_id, 0), actor_email, action, target, outcome, ip, request_id, details, COALESCE(hash, '')`

func scanAudit(s scanner) (AuditEntry, error) {
	var e AuditEntry
	var at int64
	err := s.Scan(&e.ID, &at, &e.ActorID, &e.ActorEmail, &e.Action, &e.Target, &e.Outcome, &e.IP, &e.RequestID, &e.Details, &e.Hash)
	e.At = fromMS(at)
	return e, err
}

// SearchAudit returns one page of the entries q selects, newest first.
func (s *Store) SearchAudit(ctx context.Context, q AuditQuery) (AuditPage, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	where, args := q.where()
	back := q.Before != 0
	sqlText := `SELECT ` + auditCols + ` FROM audit_log WHERE ` + where
	switch {
	case back:
		sqlText += ` AND id > ? ORDER BY id ASC LIMIT ?`
		args = append(args, q.Before, q.Limit+1)
	case q.After != 0:
		sqlText += ` AND id < ? ORDER BY id DESC LIMIT ?`
		args = append(args, q.After, q.Limit+1)
	default:
		sqlText += ` ORDER BY id DESC LIMIT ?`
		args = append(args, q.Limit+1)
	}
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return AuditPage{}, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return AuditPage{}, err
	}
	defer rows.Close()
	var page AuditPage
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return AuditPage{}, err
		}
		page.Entries = append(page.Entries, e)
	}
	if err := rows.Err(); err != nil {
		return AuditPage{}, err
	}
	more := len(page.Entries) > q.Limit
	if more {
		page.Entries = page.Entries[:q.Limit]
	}
	if back {
		for i, j := 0, len(page.Entries)-1; i < j; i, j = i+1, j-1 {
			page.Entries[i], page.Entries[j] = page.Entries[j], page.Entries[i]
		}
	}
	if len(page.Entries) == 0 {
		return page, nil
	}
	newest, oldest := page.Entries[0].ID, page.Entries[len(page.Entries)-1].ID
	// Whether there is anything beyond each end: known from the extra row
	// on the side we read towards, asked (one indexed probe) on the other.
	exists := func(cond string, id int64) (bool, error) {
		w, a := q.where()
		var ok bool
		err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM audit_log WHERE `+w+` AND `+cond+`)`, append(a, id)...).Scan(&ok)
		return ok, err
	}
	older, newer := more, more
	if back {
		older, err = exists("id < ?", oldest)
	} else {
		newer = false
		if q.After != 0 {
			newer, err = exists("id > ?", newest)
		}
	}
	if err != nil {
		return AuditPage{}, err
	}
	if older {
		page.Next = oldest
	}
	if newer {
		page.Prev = newest
	}
	return page, nil
}

// auditStreamPage is how many entries StreamAudit reads per statement.
const auditStreamPage = 1000

// StreamAudit calls fn for every entry q selects (ignoring its page),
// newest first. It reads in keyset pages of auditStreamPage by id, each its
// own short statement, and calls fn only between them: an export that a
// slow client takes minutes to download never holds a read snapshot open
// that long (which would keep the WAL from being truncated:
// db/checkpoint.go). The log is append-only and each page starts below the
// last id read, so the pages together are the entries that existed when
// the first was read, as one snapshot would give.
func (s *Store) StreamAudit(ctx context.Context, q AuditQuery, fn func(AuditEntry) error) error {
	where, args := q.where()
	page := make([]AuditEntry, 0, auditStreamPage)
	var below int64 // 0: from the newest
	for {
		cond, a := where, args
		if below != 0 {
			cond += " AND id < ?"
			a = append(append([]any{}, args...), below)
		}
		page = page[:0]
		if err := s.auditPage(ctx, `SELECT `+auditCols+` FROM audit_log WHERE `+cond+` ORDER BY id DESC LIMIT ?`,
			append(a, auditStreamPage), &page); err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < auditStreamPage {
			return nil
		}
		below = page[len(page)-1].ID
	}
}

// auditPage reads one page of entries into page, closing its rows before
// it returns.
func (s *Store) auditPage(ctx context.Context, query string, args []any, page *[]AuditEntry) error {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return err
		}
		*page = append(*page, e)
	}
	return rows.Err()
}

// AuditActions lists the distinct actions in the log, for the filter. It
// hops along the action index (one probe per distinct action), so it stays
// cheap however long the log grows.
func (s *Store) AuditActions(ctx context.Context) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `WITH RECURSIVE a(action) AS (
		SELECT min(action) FROM audit_log
		UNION ALL
		SELECT (SELECT min(action) FROM audit_log WHERE action > a.action) FROM a WHERE a.action IS NOT NULL
	) SELECT action FROM a WHERE action IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
