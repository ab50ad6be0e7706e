package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
)

// ErrCodeUsed means a one-time code was already spent: a TOTP step at or
// before the last one accepted, or a used (or unknown) recovery code.
var ErrCodeUsed = errors.New("code already used")

// TOTP is a user's authenticator. Enabled is false while the enrolment
// waits for its confirmation code.
type TOTP struct {
	UserID       int64
	Secret       string // base32
	Enabled      bool
	EnabledAt    time.Time
	LastStep     int64
	CreatedAt    time.Time
	RecoveryLeft int // unused recovery codes
}

// TOTPByUser loads a user's authenticator, confirmed or not; ErrNotFound
// when there is none.
func (s *Store) TOTPByUser(ctx context.Context, userID int64) (TOTP, error) {
	var t TOTP
	var enabled sql.NullInt64
	var created int64
	err := s.read.QueryRowContext(ctx, `SELECT user_id, secret, enabled_at, last_step, created_at,
		(SELECT count(*) FROM totp_recovery_codes r WHERE r.user_id = t.user_id AND r.used_at IS NULL)
		FROM user_totp t WHERE user_id = ?`, userID).
		Scan(&t.UserID, &t.Secret, &enabled, &t.LastStep, &created, &t.RecoveryLeft)
	if err != nil {
		return TOTP{}, mapErr(err)
	}
	t.Enabled, t.EnabledAt, t.CreatedAt = enabled.Valid, nullMS(enabled), fromMS(created)
	return t, nil
}

// UsersWithTOTP returns the ids of users whose two-factor sign-in is on.
func (s *Store) UsersWithTOTP(ctx context.Context) (map[int64]bool, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT user_id FROM user_totp WHERE enabled_at IS NOT NULL")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// StartTOTPEnrolment stores a new, unconfirmed secret for the user,
// replacing an unconfirmed one. A user whose two-factor sign-in is already
// on gets ErrConflict: it must be disabled first.
func (s *Store) StartTOTPEnrolment(ctx context.Context, userID int64, secret string, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO user_totp (user_id, secret, created_at) VALUES (?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0
			WHERE user_totp.enabled_at IS NULL`, userID, secret, ms(tx.now))
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrConflict
		}
		a.Target = userTarget(userID)
		return insertAudit(ctx, tx, a)
	})
}

// EnableTOTP switches two-factor sign-in on after the confirmation code
// from step matched secret, which must still be the pending one (a restart
// in another tab replaced it: ErrNotFound). The confirming step counts as
// used. codeHashes replace any earlier recovery codes.
func (s *Store) EnableTOTP(ctx context.Context, userID int64, secret string, step int64, codeHashes []string, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE user_totp SET enabled_at = ?, last_step = ?
			WHERE user_id = ? AND secret = ? AND enabled_at IS NULL`, ms(tx.now), step, userID, secret)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if err := replaceRecoveryCodes(ctx, tx, userID, codeHashes); err != nil {
			return err
		}
		a.Target = userTarget(userID)
		return insertAudit(ctx, tx, a)
	})
}

func replaceRecoveryCodes(ctx context.Context, tx *Tx, userID int64, codeHashes []string) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM totp_recovery_codes WHERE user_id = ?", userID); err != nil {
		return err
	}
	for _, h := range codeHashes {
		if _, err := tx.ExecContext(ctx, "INSERT INTO totp_recovery_codes (user_id, code_hash) VALUES (?, ?)", userID, h); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// ReplaceRecoveryCodes sets a new batch of recovery codes for a user whose
// two-factor sign-in is on (ErrNotFound otherwise); the old ones stop
// working.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID int64, codeHashes []string, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM user_totp WHERE user_id = ? AND enabled_at IS NOT NULL", userID).Scan(&one); err != nil {
			return mapErr(err)
		}
		if err := replaceRecoveryCodes(ctx, tx, userID, codeHashes); err != nil {
			return err
		}
		a.Target = userTarget(userID)
		return insertAudit(ctx, tx, a)
	})
}

// UseTOTPStep records that a code from step was accepted. It succeeds only
// for a step after the last accepted one, atomically, so a code works once
// even when two requests race; otherwise ErrCodeUsed.
func (s *Store) UseTOTPStep(ctx context.Context, userID, step int64) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE user_totp SET last_step = ?
			WHERE user_id = ? AND enabled_at IS NOT NULL AND last_step < ?`, step, userID, step)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrCodeUsed
		}
		return nil
	})
}

// UseRecoveryCode spends one recovery code of a user whose two-factor
// sign-in is on and reports how many remain; an unknown or used code is
// ErrCodeUsed.
func (s *Store) UseRecoveryCode(ctx context.Context, userID int64, codeHash string) (left int, err error) {
	err = s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE totp_recovery_codes SET used_at = ?
			WHERE user_id = ? AND code_hash = ? AND used_at IS NULL
			AND EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = ? AND t.enabled_at IS NOT NULL)`,
			ms(tx.now), userID, codeHash, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrCodeUsed
		}
		return tx.QueryRowContext(ctx, "SELECT count(*) FROM totp_recovery_codes WHERE user_id = ? AND used_at IS NULL", userID).Scan(&left)
	})
	return left, err
}

func deleteTOTP(ctx context.Context, tx *Tx, userID int64) (bool, error) {
	res, err := tx.ExecContext(ctx, "DELETE FROM user_totp WHERE user_id = ?", userID)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	for _, q := range []string{"DELETE FROM totp_recovery_codes WHERE user_id = ?", "DELETE FROM pending_logins WHERE user_id = ?"} {
		if _, err := tx.ExecContext(ctx, q, userID); err != nil {
			return false, err
		}
	}
	return n > 0, nil
}

// DisableTOTP turns the user's own two-factor sign-in off (or drops an
// unconfirmed enrolment): secret, recovery codes and half-finished sign-ins
// go. ErrNotFound when there was nothing to remove.
func (s *Store) DisableTOTP(ctx context.Context, userID int64, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		found, err := deleteTOTP(ctx, tx, userID)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		a.Target = userTarget(userID)
		return insertAudit(ctx, tx, a)
	})
}

// ResetTOTP is an admin's reset of another user's two-factor sign-in: as
// DisableTOTP, and every session of the user ends. It is audited even when
// the user had no authenticator (the sessions still end).
func (s *Store) ResetTOTP(ctx context.Context, userID int64, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		found, err := deleteTOTP(ctx, tx, userID)
		if err != nil {
			return err
		}
		if err := deleteUserSessions(ctx, tx, userID, ""); err != nil {
			return err
		}
		if !found {
			a.Details = "no authenticator was set up; sessions ended"
		}
		a.Target = userTarget(userID)
		return insertAudit(ctx, tx, a)
	})
}

// PendingLogin is a browser that gave a correct password and still owes
// the second factor. It is not a session: it reaches no signed-in page.
type PendingLogin struct {
	TokenHash string
	UserID    int64
	Next      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreatePendingLogin stores a half-finished sign-in valid for ttl from the
// transaction time, drops expired ones, and writes the audit entry.
func (s *Store) CreatePendingLogin(ctx context.Context, p PendingLogin, ttl time.Duration, a AuditEntry) (PendingLogin, error) {
	err := s.withTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM pending_logins WHERE expires_at <= ?", ms(tx.now)); err != nil {
			return err
		}
		p.CreatedAt, p.ExpiresAt = tx.now, tx.now.Add(ttl)
		if _, err := tx.ExecContext(ctx, `INSERT INTO pending_logins (token_hash, user_id, next, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?)`, p.TokenHash, p.UserID, p.Next, ms(p.CreatedAt), ms(p.ExpiresAt)); err != nil {
			return mapErr(err)
		}
		a.Target = userTarget(p.UserID)
		return insertAudit(ctx, tx, a)
	})
	return p, err
}

func scanPending(r scanner) (PendingLogin, error) {
	var p PendingLogin
	var created, expires int64
	if err := r.Scan(&p.TokenHash, &p.UserID, &p.Next, &created, &expires); err != nil {
		return PendingLogin{}, mapErr(err)
	}
	p.CreatedAt, p.ExpiresAt = fromMS(created), fromMS(expires)
	return p, nil
}

// PendingLoginByToken finds an unexpired half-finished sign-in.
func (s *Store) PendingLoginByToken(ctx context.Context, tokenHash string, now time.Time) (PendingLogin, error) {
	return scanPending(s.read.QueryRowContext(ctx, `SELECT token_hash, user_id, next, created_at, expires_at
		FROM pending_logins WHERE token_hash = ? AND expires_at > ?`, tokenHash, ms(now)))
}

// ConsumePendingLogin deletes and returns an unexpired half-finished
// sign-in, so it completes once; ErrNotFound when gone or expired.
func (s *Store) ConsumePendingLogin(ctx context.Context, tokenHash string) (PendingLogin, error) {
	var p PendingLogin
	err := s.withTx(ctx, func(tx *Tx) error {
		var err error
		p, err = scanPending(tx.QueryRowContext(ctx, `DELETE FROM pending_logins WHERE token_hash = ? AND expires_at > ?
			RETURNING token_hash, user_id, next, created_at, expires_at`, tokenHash, ms(tx.now)))
		return err
	})
	return p, err
}

// DeletePendingLogin forgets a half-finished sign-in (the visitor started
// over or cancelled).
func (s *Store) DeletePendingLogin(ctx context.Context, tokenHash string) error {
	return s.withTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM pending_logins WHERE token_hash = ?", tokenHash)
		return err
	})
}

// securitySettingsKey holds the sign-in policy in the settings table, apart
// from the link defaults so the two forms never overwrite each other.
const securitySettingsKey = "security"

type securitySettings struct {
	Require2FA bool `json:"require2fa"`
}

// TwoFactorStatus reports, in one read, whether the user's two-factor
// sign-in is on and whether an admin requires it for everyone.
func (s *Store) TwoFactorStatus(ctx context.Context, userID int64) (enabled, required bool, err error) {
	err = s.read.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM user_totp WHERE user_id = ? AND enabled_at IS NOT NULL),
		COALESCE((SELECT json_extract(value, '$.require2fa') FROM settings WHERE key = ?), 0)`,
		userID, securitySettingsKey).Scan(&enabled, &required)
	return enabled, required, err
}

// TwoFactorRequired reports the admin setting "require two-factor sign-in
// for everyone" (false when never saved).
func (s *Store) TwoFactorRequired(ctx context.Context) (bool, error) {
	var raw string
	err := s.read.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", securitySettingsKey).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var st securitySettings
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return false, err
	}
	return st.Require2FA, nil
}

// SetTwoFactorRequired saves the setting and audits the change.
func (s *Store) SetTwoFactorRequired(ctx context.Context, required bool, actor int64, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		b, err := json.Marshal(securitySettings{Require2FA: required})
		if err != nil {
			return err
		}
		var old string
		_ = tx.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", securitySettingsKey).Scan(&old)
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_by, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			securitySettingsKey, string(b), actor, ms(tx.now)); err != nil {
			return err
		}
		a.Target = "settings:" + securitySettingsKey
		if old == "" {
			old = "{}"
		}
		a.Details = "from " + old + " to " + string(b)
		return insertAudit(ctx, tx, a)
	})
}
