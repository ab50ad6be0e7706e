package db

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/paylinks/paylinks/paylink"
)

// APIKey is one API key (docs/api.md). Its token is never stored: only
// SecretHash, a keyed hash of it, and Prefix, the start of it shown to
// admins.
type APIKey struct {
	ID         int64
	UserID     int64 // the key's own user: the actor of what it does
	Name       string
	Prefix     string
	SecretHash string
	Scopes     []string
	AllowedIPs []string // CIDRs; empty: any address
	ExpiresAt  time.Time
	RevokedAt  time.Time
	CreatedBy  string // the admin's name
	CreatedAt  time.Time
	LastUsedAt time.Time
	LastUsedIP string
}

// NewAPIKey is what an admin asks for; the caller made the token and its hash.
type NewAPIKey struct {
	Name       string
	Prefix     string
	SecretHash string
	Scopes     []string
	AllowedIPs []string
	ExpiresAt  time.Time
	CreatedBy  int64
}

const apiKeyCols = `k.id, k.user_id, k.name, k.prefix, k.secret_hash, k.scopes, k.allowed_ips, k.expires_at, k.revoked_at,
	COALESCE(c.name, ''), k.created_at, k.last_used_at, k.last_used_ip`

const apiKeyFrom = ` FROM api_keys k LEFT JOIN users c ON c.id = k.created_by`

func scanAPIKey(r scanner) (APIKey, error) {
	var k APIKey
	var scopes, ips string
	var expires, revoked, used sql.NullInt64
	var created int64
	if err := r.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &k.SecretHash, &scopes, &ips, &expires, &revoked,
		&k.CreatedBy, &created, &used, &k.LastUsedIP); err != nil {
		return APIKey{}, mapErr(err)
	}
	k.Scopes, k.AllowedIPs = strings.Fields(scopes), strings.Fields(ips)
	k.ExpiresAt, k.RevokedAt, k.LastUsedAt = nullMS(expires), nullMS(revoked), nullMS(used)
	k.CreatedAt = fromMS(created)
	return k, nil
}

// APIKeyUserName is the name a key's user carries: what timelines, the
// audit log and the links list show as the creator.
func APIKeyUserName(keyName string) string { return "API key " + keyName }

// CreateAPIKey stores a key and its own user (disabled, with no password:
// it can never sign in) in one transaction with the audit entry.
func (s *Store) CreateAPIKey(ctx context.Context, nk NewAPIKey, a AuditEntry) (APIKey, error) {
	var id int64
	err := s.withTx(ctx, func(tx *Tx) error {
		u, err := insertUser(ctx, tx, NewUser{
			Email: strings.ToLower(nk.Prefix) + "." + itoa(tx.now.UnixNano()) + "@api-keys.invalid",
			Name:  APIKeyUserName(nk.Name), Role: paylink.RoleFinance, PasswordHash: "!api-key: never signs in",
		})
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE users SET disabled = 1 WHERE id = ?", u.ID); err != nil {
			return err
		}
		var expires any
		if !nk.ExpiresAt.IsZero() {
			expires = ms(nk.ExpiresAt)
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO api_keys (user_id, name, prefix, secret_hash, scopes, allowed_ips,
			expires_at, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			u.ID, nk.Name, nk.Prefix, nk.SecretHash, strings.Join(nk.Scopes, " "), strings.Join(nk.AllowedIPs, " "),
			expires, nk.CreatedBy, ms(tx.now)).Scan(&id)
		if err != nil {
			return mapErr(err)
		}
		a.Target = "api_key:" + itoa(id)
		a.Details = "name " + nk.Name + "; prefix " + nk.Prefix + "; scopes " + strings.Join(nk.Scopes, " ")
		return insertAudit(ctx, tx, a)
	})
	if err != nil {
		return APIKey{}, err
	}
	return s.APIKeyByID(ctx, id)
}

// APIKeyByID loads one key.
func (s *Store) APIKeyByID(ctx context.Context, id int64) (APIKey, error) {
	return scanAPIKey(s.read.QueryRowContext(ctx, "SELECT "+apiKeyCols+apiKeyFrom+" WHERE k.id = ?", id))
}

const qAPIKeyByHash = "SELECT " + apiKeyCols + apiKeyFrom + " WHERE k.secret_hash = ?"

// APIKeyByHash finds the key whose token hashes to hash, revoked and
// expired ones included (the caller refuses those).
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (APIKey, error) {
	st, err := s.prepared(ctx, false, qAPIKeyByHash)
	if err != nil {
		return APIKey{}, err
	}
	return scanAPIKey(st.QueryRowContext(ctx, hash))
}

// ListAPIKeys returns every key, newest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+apiKeyCols+apiKeyFrom+" ORDER BY k.id DESC")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey ends a key for good; revoking it again changes nothing.
func (s *Store) RevokeAPIKey(ctx context.Context, id, actor int64, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
			ms(tx.now), actor, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			return mapErr(tx.QueryRowContext(ctx, "SELECT 1 FROM api_keys WHERE id = ?", id).Scan(&one))
		}
		a.Target = "api_key:" + itoa(id)
		return insertAudit(ctx, tx, a)
	})
}

// TouchAPIKey records when and from where a key was last used.
func (s *Store) TouchAPIKey(ctx context.Context, id int64, at time.Time, ip string) error {
	return s.withTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE api_keys SET last_used_at = ?, last_used_ip = ? WHERE id = ?", ms(at), clean(ip), id)
		return err
	})
}

// Idempotency states.
const (
	IdemClaimed  = "claimed"  // the caller runs the operation and then finishes or releases the claim
	IdemReplay   = "replay"   // the answer is stored: send it again
	IdemMismatch = "mismatch" // the key was used with another request
	IdemBusy     = "busy"     // a request with the key is still running
)

// IdemAnswer is a stored answer.
type IdemAnswer struct {
	Status      int
	ContentType string
	Location    string
	Body        []byte
}

// ClaimIdempotency claims (keyID, idemKey) for a request with this
// fingerprint, in one write transaction, before the operation runs: the
// first request claims it; a later one with the same fingerprint gets the
// stored answer, or IdemBusy while the first still runs; a different
// fingerprint gets IdemMismatch. A claim older than staleAfter (its process
// died) is taken over.
func (s *Store) ClaimIdempotency(ctx context.Context, keyID int64, idemKey, fingerprint string, staleAfter time.Duration) (string, IdemAnswer, error) {
	state, ans := "", IdemAnswer{}
	err := s.withTx(ctx, func(tx *Tx) error {
		var fp, st, ctype, loc string
		var status int
		var body []byte
		var updated int64
		err := tx.QueryRowContext(ctx, `SELECT fingerprint, state, status, content_type, location, body, updated_at
			FROM api_idempotency WHERE api_key_id = ? AND idem_key = ?`, keyID, idemKey).
			Scan(&fp, &st, &status, &ctype, &loc, &body, &updated)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			state = IdemClaimed
			_, err = tx.ExecContext(ctx, `INSERT INTO api_idempotency (api_key_id, idem_key, fingerprint, state, created_at, updated_at)
				VALUES (?, ?, ?, 'pending', ?, ?)`, keyID, idemKey, fingerprint, ms(tx.now), ms(tx.now))
			return err
		case err != nil:
			return err
		case fp != fingerprint:
			state = IdemMismatch
		case st == "done":
			state, ans = IdemReplay, IdemAnswer{Status: status, ContentType: ctype, Location: loc, Body: body}
		case tx.now.Sub(fromMS(updated)) > staleAfter:
			state = IdemClaimed
			_, err = tx.ExecContext(ctx, "UPDATE api_idempotency SET updated_at = ? WHERE api_key_id = ? AND idem_key = ?",
				ms(tx.now), keyID, idemKey)
			return err
		default:
			state = IdemBusy
		}
		return nil
	})
	return state, ans, err
}

// FinishIdempotency stores the answer of a claimed key.
func (s *Store) FinishIdempotency(ctx context.Context, keyID int64, idemKey string, ans IdemAnswer) error {
	return s.withTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE api_idempotency SET state = 'done', status = ?, content_type = ?, location = ?,
			body = ?, updated_at = ? WHERE api_key_id = ? AND idem_key = ?`,
			ans.Status, ans.ContentType, ans.Location, ans.Body, ms(tx.now), keyID, idemKey)
		return err
	})
}

// ReleaseIdempotency forgets a claimed key whose request failed in a way
// worth retrying (a 5xx): the same key may be sent again.
func (s *Store) ReleaseIdempotency(ctx context.Context, keyID int64, idemKey string) error {
	return s.withTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM api_idempotency WHERE api_key_id = ? AND idem_key = ? AND state = 'pending'", keyID, idemKey)
		return err
	})
}

// PruneIdempotency deletes idempotency records created before before.
func (s *Store) PruneIdempotency(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM api_idempotency WHERE created_at < ?", ms(before))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

const qLinkBySMReference = "SELECT " + linkCols + linkFrom + " WHERE l.sm_reference = ?"

// LinkBySMReference finds the link with StableMint's session reference ref.
func (s *Store) LinkBySMReference(ctx context.Context, ref string) (Link, error) {
	st, err := s.prepared(ctx, false, qLinkBySMReference)
	if err != nil {
		return Link{}, err
	}
	return scanLink(st.QueryRowContext(ctx, ref))
}

// LinksByWebsiteReference lists the links carrying website reference ref
// exactly, newest first, at most limit.
func (s *Store) LinksByWebsiteReference(ctx context.Context, ref string, limit int) ([]Link, error) {
	return queryLinks(ctx, s.read, "SELECT "+linkCols+linkFrom+
		" WHERE l.website_reference = ? COLLATE NOCASE AND l.website_reference = ? ORDER BY l.id DESC LIMIT ?", ref, ref, limit)
}
