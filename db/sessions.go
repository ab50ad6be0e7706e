package db

import (
	"context"
	"time"
)

// Session is a signed-in browser. The cookie carries only ID.
type Session struct {
	ID         string
	UserID     int64
	CSRFToken  string
	Data       []byte // encoded session values (flash messages)
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// CreateSession stores a new session; CreatedAt and LastSeenAt are set to
// the transaction time. The audit entry (the sign-in) rides in the same
// transaction, with the failure counter reset.
func (s *Store) CreateSession(ctx context.Context, se Session, a AuditEntry) (Session, error) {
	err := s.withTx(ctx, func(tx *Tx) error {
		se.CreatedAt, se.LastSeenAt = tx.now, tx.now
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions
			(id, user_id, csrf_token, data, ip, user_agent, created_at, last_seen_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, se.ID, se.UserID, se.CSRFToken, se.Data, se.IP, se.UserAgent,
			ms(tx.now), ms(tx.now)); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", se.UserID); err != nil {
			return err
		}
		a.Target = userTarget(se.UserID)
		return insertAudit(ctx, tx, a)
	})
	return se, err
}

// SessionByID loads a session.
func (s *Store) SessionByID(ctx context.Context, id string) (Session, error) {
	var se Session
	var created, seen int64
	err := s.read.QueryRowContext(ctx, `SELECT id, user_id, csrf_token, data, ip, user_agent, created_at, last_seen_at
		FROM sessions WHERE id = ?`, id).Scan(&se.ID, &se.UserID, &se.CSRFToken, &se.Data, &se.IP, &se.UserAgent, &created, &seen)
	if err != nil {
		return Session{}, mapErr(err)
	}
	se.CreatedAt, se.LastSeenAt = fromMS(created), fromMS(seen)
	return se, nil
}

// SaveSessionData replaces a session's stored values.
func (s *Store) SaveSessionData(ctx context.Context, id string, data []byte) error {
	return s.withTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE sessions SET data = ? WHERE id = ?", data, id)
		return err
	})
}

// TouchSession records activity for the idle timeout.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	return s.withTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?", ms(at), id, ms(at))
		return err
	})
}

// DeleteSession ends one session, auditing it when a is non-nil.
func (s *Store) DeleteSession(ctx context.Context, id string, a *AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", id); err != nil {
			return err
		}
		if a == nil {
			return nil
		}
		return insertAudit(ctx, tx, *a)
	})
}

// DeleteExpiredSessions removes sessions idle since before idleBefore or
// created before createdBefore, and reports how many went.
func (s *Store) DeleteExpiredSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	var n int64
	err := s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?", ms(idleBefore), ms(createdBefore))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// CountUserSessions counts a user's live sessions.
func (s *Store) CountUserSessions(ctx context.Context, userID int64) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM sessions WHERE user_id = ?", userID).Scan(&n)
	return n, err
}

// EndUserSessions ends every session of a user (an admin action).
func (s *Store) EndUserSessions(ctx context.Context, userID int64, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		if err := deleteUserSessions(ctx, tx, userID, ""); err != nil {
			return err
		}
		a.Target = userTarget(userID)
		return insertAudit(ctx, tx, a)
	})
}

func deleteUserSessions(ctx context.Context, tx *Tx, userID int64, except string) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ? AND id <> ?", userID, except)
	return err
}

// ListUserSessions returns a user's sessions, most recently active first.
func (s *Store) ListUserSessions(ctx context.Context, userID int64) ([]Session, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, user_id, csrf_token, ip, user_agent, created_at, last_seen_at
		FROM sessions WHERE user_id = ? ORDER BY last_seen_at DESC, created_at DESC`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var se Session
		var created, seen int64
		if err := rows.Scan(&se.ID, &se.UserID, &se.CSRFToken, &se.IP, &se.UserAgent, &created, &seen); err != nil {
			return nil, err
		}
		se.CreatedAt, se.LastSeenAt = fromMS(created), fromMS(seen)
		out = append(out, se)
	}
	return out, rows.Err()
}

// EndUserSession ends one session of userID (a user signing out another
// of their browsers); ErrNotFound when it is not theirs or already gone.
func (s *Store) EndUserSession(ctx context.Context, userID int64, id string, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE id = ? AND user_id = ?", id, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		a.Target = userTarget(userID)
		return insertAudit(ctx, tx, a)
	})
}

// EndOtherSessions ends every session of userID but keep, and reports how
// many ended.
func (s *Store) EndOtherSessions(ctx context.Context, userID int64, keep string, a AuditEntry) (int64, error) {
	var n int64
	err := s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ? AND id <> ?", userID, keep)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		a.Target = userTarget(userID)
		a.Details = "ended=" + itoa(n)
		return insertAudit(ctx, tx, a)
	})
	return n, err
}
