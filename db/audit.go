package db

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	ID         int64
	At         time.Time
	ActorID    int64 // 0 for anonymous or system actions
	ActorEmail string
	Action     string // e.g. "login", "user.create"
	Target     string // e.g. "user:12"
	Outcome    string // "ok", "failed", "denied", "locked"
	IP         string
	RequestID  string
	Details    string
	// Hash chains the entry to the one before it (db/audit_chain.go); set
	// when read, ignored when written.
	Hash string
}

// clean escapes CR and LF so one entry is always one line when exported.
func clean(s string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}

func insertAudit(ctx context.Context, tx *Tx, e AuditEntry) error {
	if e.Outcome == "" {
		e.Outcome = "ok"
	}
	return appendAudit(ctx, tx, chainRow{
		At: ms(tx.now), ActorID: sql.NullInt64{Int64: e.ActorID, Valid: e.ActorID != 0},
		ActorEmail: clean(e.ActorEmail), Action: clean(e.Action), Target: clean(e.Target), Outcome: clean(e.Outcome),
		IP: clean(e.IP), RequestID: clean(e.RequestID), Details: clean(e.Details),
	})
}

// Audit records an entry on its own, for events that change nothing else
// (a failed sign-in, a refused request).
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error { return insertAudit(ctx, tx, e) })
}

// ListAudit returns the newest entries first, at most limit.
func (s *Store) ListAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, at, COALESCE(actor_id, 0), actor_email, action,
		target, outcome, ip, request_id, details FROM audit_log ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.ActorID, &e.ActorEmail, &e.Action, &e.Target, &e.Outcome,
			&e.IP, &e.RequestID, &e.Details); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
