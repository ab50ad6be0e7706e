package db

import (
	"context"
	"database/sql"
	"slices"
	"sync"
	"time"

	"github.com/paylinks/paylinks/paylink"
)

// User is a staff account.
type User struct {
	ID                 int64
	Email              string
	Name               string
	Role               paylink.Role
	PasswordHash       string
	MustChangePassword bool
	Disabled           bool
	FailedLogins       int
	LockedUntil        time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
	// TimeZone is the IANA name of the zone the user sees times in
	// ("UTC" until they choose one on their Account page).
	TimeZone string
}

// NewUser is what creating an account needs.
type NewUser struct {
	Email              string
	Name               string
	Role               paylink.Role
	PasswordHash       string
	MustChangePassword bool
}

const userCols = `id, email, name, role, password_hash, must_change_password, disabled,
	failed_logins, locked_until, created_at, updated_at, time_zone`

type scanner interface{ Scan(...any) error }

func scanUser(r scanner) (User, error) {
	var u User
	var locked sql.NullInt64
	var created, updated int64
	err := r.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.MustChangePassword,
		&u.Disabled, &u.FailedLogins, &locked, &created, &updated, &u.TimeZone)
	if err != nil {
		return User{}, mapErr(err)
	}
	u.LockedUntil = nullMS(locked)
	u.CreatedAt, u.UpdatedAt = fromMS(created), fromMS(updated)
	return u, nil
}

func insertUser(ctx context.Context, tx *Tx, nu NewUser) (User, error) {
	row := tx.QueryRowContext(ctx, `INSERT INTO users
		(email, name, role, password_hash, must_change_password, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING `+userCols,
		nu.Email, nu.Name, nu.Role, nu.PasswordHash, nu.MustChangePassword, ms(tx.now), ms(tx.now))
	return scanUser(row)
}

// CreateUser inserts an account and its audit entry in one transaction.
// A duplicate email (any case) is ErrConflict.
func (s *Store) CreateUser(ctx context.Context, nu NewUser, a AuditEntry) (User, error) {
	var u User
	err := s.withTx(ctx, func(tx *Tx) error {
		var err error
		if u, err = insertUser(ctx, tx, nu); err != nil {
			return err
		}
		a.Target = userTarget(u.ID)
		return insertAudit(ctx, tx, a)
	})
	return u, err
}

func userTarget(id int64) string { return "user:" + itoa(id) }

// UserByEmail finds an account by email, ignoring case.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	return scanUser(s.read.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE email = ?", email))
}

// UserByID finds an account by id.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	return scanUser(s.read.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
}

// ListUsers returns every account, by email: people, not the users API
// keys act through (ListAPIKeys has those).
//
// Every links list page reads them (its creator filter), so the answer is
// kept in memory for as long as users_version, counted by triggers on
// every change to users and api_keys (migration 0026), stays the same: one
// row read instead of every account. A change made anywhere (this
// process, the paylinks users command, a migration) is seen by the next
// call.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	// The count first: a change committed between the two reads leaves a
	// newer list under an older count, read again next time, never the
	// other way round.
	var version int64
	if err := s.read.QueryRowContext(ctx, "SELECT n FROM users_version WHERE id = 1").Scan(&version); err != nil {
		return nil, mapErr(err)
	}
	c := &s.userList
	c.mu.Lock()
	if c.ok && c.version == version {
		out := slices.Clone(c.users)
		c.mu.Unlock()
		return out, nil
	}
	c.mu.Unlock()
	rows, err := s.read.QueryContext(ctx, "SELECT "+userCols+" FROM users WHERE id NOT IN (SELECT user_id FROM api_keys) ORDER BY email")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.users, c.version, c.ok = slices.Clone(out), version, true
	c.mu.Unlock()
	return out, nil
}

// userList is ListUsers' answer and the users_version it was read at.
type userList struct {
	mu      sync.Mutex
	ok      bool
	version int64
	users   []User
}

// updateUser runs one UPDATE on a user, checks it found the row, and writes
// the audit entry in the same transaction.
func (s *Store) updateUser(ctx context.Context, id int64, a AuditEntry, query string, args ...any) error {
	return s.withTx(ctx, func(tx *Tx) error {
		return updateUserTx(ctx, tx, id, a, query, args...)
	})
}

func updateUserTx(ctx context.Context, tx *Tx, id int64, a AuditEntry, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, append(append(args, ms(tx.now)), id)...)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	a.Target = userTarget(id)
	return insertAudit(ctx, tx, a)
}

// SetUserRole changes a role and ends the user's sessions.
func (s *Store) SetUserRole(ctx context.Context, id int64, role paylink.Role, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		if err := updateUserTx(ctx, tx, id, a, "UPDATE users SET role = ?, updated_at = ? WHERE id = ?", role); err != nil {
			return err
		}
		return deleteUserSessions(ctx, tx, id, "")
	})
}

// SetUserDisabled disables or enables an account. Disabling ends every
// session of the user; enabling also clears sign-in throttling.
func (s *Store) SetUserDisabled(ctx context.Context, id int64, disabled bool, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		q := "UPDATE users SET disabled = ?, failed_logins = 0, locked_until = NULL, updated_at = ? WHERE id = ?"
		if err := updateUserTx(ctx, tx, id, a, q, disabled); err != nil {
			return err
		}
		if disabled {
			return deleteUserSessions(ctx, tx, id, "")
		}
		return nil
	})
}

// SetPassword stores a new hash, clears throttling, and ends every session of
// the user except keepSession (the one that made the change, if any).
func (s *Store) SetPassword(ctx context.Context, id int64, hash string, mustChange bool, keepSession string, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		q := `UPDATE users SET password_hash = ?, must_change_password = ?, failed_logins = 0,
			locked_until = NULL, updated_at = ? WHERE id = ?`
		if err := updateUserTx(ctx, tx, id, a, q, hash, mustChange); err != nil {
			return err
		}
		return deleteUserSessions(ctx, tx, id, keepSession)
	})
}

// UnlockUser clears sign-in throttling.
func (s *Store) UnlockUser(ctx context.Context, id int64, a AuditEntry) error {
	return s.updateUser(ctx, id, a, "UPDATE users SET failed_logins = 0, locked_until = NULL, updated_at = ? WHERE id = ?")
}

// RehashPassword replaces a hash made with outdated parameters; the password
// itself is unchanged, so sessions stay.
func (s *Store) RehashPassword(ctx context.Context, id int64, oldHash, newHash string) error {
	return s.withTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?", newHash, id, oldHash)
		return err
	})
}

// RecordLoginFailure counts a failed sign-in and sets the time before which
// the next attempt is refused, from lockFor(failures so far). The audit entry
// is written in the same transaction.
func (s *Store) RecordLoginFailure(ctx context.Context, id int64, lockFor func(failures int) time.Duration, a AuditEntry) (failures int, lockedUntil time.Time, err error) {
	err = s.withTx(ctx, func(tx *Tx) error {
		if err := tx.QueryRowContext(ctx, `UPDATE users SET failed_logins = failed_logins + 1,
			last_failed_login_at = ? WHERE id = ? RETURNING failed_logins`, ms(tx.now), id).Scan(&failures); err != nil {
			return mapErr(err)
		}
		if d := lockFor(failures); d > 0 {
			lockedUntil = tx.now.Add(d)
			if _, err := tx.ExecContext(ctx, "UPDATE users SET locked_until = ? WHERE id = ?", ms(lockedUntil), id); err != nil {
				return err
			}
			a.Outcome = "locked"
			a.Details = "failures=" + itoa(int64(failures)) + " locked_until=" + lockedUntil.Format(time.RFC3339)
		}
		a.Target = userTarget(id)
		return insertAudit(ctx, tx, a)
	})
	return failures, lockedUntil, err
}

// RecordLoginSuccess clears throttling and audits the sign-in.
func (s *Store) RecordLoginSuccess(ctx context.Context, id int64, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", id); err != nil {
			return err
		}
		a.Target = userTarget(id)
		return insertAudit(ctx, tx, a)
	})
}

// SetTimeZone stores the IANA time zone a user sees times in (the caller
// checked it names a zone) and audits the change.
func (s *Store) SetTimeZone(ctx context.Context, userID int64, zone string, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		var old string
		if err := tx.QueryRowContext(ctx, "SELECT time_zone FROM users WHERE id = ?", userID).Scan(&old); err != nil {
			return mapErr(err)
		}
		if old == zone {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE users SET time_zone = ?, updated_at = ? WHERE id = ?", zone, ms(tx.now), userID); err != nil {
			return err
		}
		a.Target, a.Details = "user:"+itoa(userID), "time zone from "+old+" to "+zone
		return insertAudit(ctx, tx, a)
	})
}
