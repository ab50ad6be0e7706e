package db

import (
	"context"
	"errors"
	"time"
)

// ErrSetupClosed means first-run setup is over: an account exists, or the
// token is unknown, used or expired. Callers show one generic message.
var ErrSetupClosed = errors.New("setup link is invalid, used or expired")

// noAccount is true while no account can sign in: first-run setup is open.
// Disabled accounts do not count, so the disabled account `paylinks seed`
// attributes its fake links to does not close setup on a fresh database.
const noAccount = "NOT EXISTS (SELECT 1 FROM users WHERE disabled = 0)"

// SetupOpen reports whether first-run setup is open (see noAccount).
func (s *Store) SetupOpen(ctx context.Context) (bool, error) {
	var open bool
	err := s.read.QueryRowContext(ctx, "SELECT "+noAccount).Scan(&open)
	return open, err
}

// ReplaceSetupToken discards any earlier setup token and stores the hash of
// a new one, valid until expires. It refuses once an account can sign in.
func (s *Store) ReplaceSetupToken(ctx context.Context, tokenHash string, expires time.Time) error {
	return s.withTx(ctx, func(tx *Tx) error {
		var open bool
		if err := tx.QueryRowContext(ctx, "SELECT "+noAccount).Scan(&open); err != nil {
			return err
		}
		if !open {
			return ErrSetupClosed
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM setup_tokens"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES (?, ?, ?)",
			tokenHash, ms(tx.now), ms(expires))
		return err
	})
}

// SetupTokenValid reports whether tokenHash may still be used.
func (s *Store) SetupTokenValid(ctx context.Context, tokenHash string) bool {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM setup_tokens WHERE token_hash = ? AND expires_at > ?
		AND `+noAccount, tokenHash, ms(s.Now())).Scan(&n)
	return err == nil && n == 1
}

// CompleteSetup consumes the token and creates the first admin in one
// transaction, so the link works exactly once.
func (s *Store) CompleteSetup(ctx context.Context, tokenHash string, nu NewUser, a AuditEntry) (User, error) {
	var u User
	err := s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM setup_tokens WHERE token_hash = ? AND expires_at > ?
			AND `+noAccount, tokenHash, ms(tx.now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrSetupClosed
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM setup_tokens"); err != nil {
			return err
		}
		if u, err = insertUser(ctx, tx, nu); err != nil {
			return err
		}
		a.ActorID, a.ActorEmail, a.Target = u.ID, u.Email, userTarget(u.ID)
		return insertAudit(ctx, tx, a)
	})
	return u, err
}
