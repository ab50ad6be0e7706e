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

// IdemStale is PeekIdempotency's answer for a claim older than staleAfter:
// its process died, and ClaimIdempotency takes it over.
const IdemStale = "stale"

// ErrIdemTaken is CreateLink's refusal of a link whose IdemClaim another
// request holds already (it committed first); nothing was stored.
var ErrIdemTaken = errors.New("idempotency key already claimed")

// IdemClaim is an Idempotency-Key claim taken in the transaction of the
// change it guards, rather than in one of its own: CreateLink inserts it
// with the link's creating row, so an API create commits as often as the
// form's (handlers/api_middleware.go, apiIdempotency).
type IdemClaim struct {
	KeyID       int64
	Key         string
	Fingerprint string
}

// insertIdemClaim stores c as pending in tx, or is ErrIdemTaken when a
// record of its key exists.
func insertIdemClaim(ctx context.Context, tx *Tx, c IdemClaim) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO api_idempotency (api_key_id, idem_key, fingerprint, state, created_at, updated_at)
		VALUES (?, ?, ?, 'pending', ?, ?) ON CONFLICT (api_key_id, idem_key) DO NOTHING`, c.KeyID, c.Key, c.Fingerprint, ms(tx.now), ms(tx.now))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrIdemTaken
	}
	return nil
}

// idemState is what a stored record means for a request with fingerprint
// at now (IdemMismatch, IdemReplay, IdemStale or IdemBusy).
func idemState(fp, fingerprint, state string, updated int64, now time.Time, staleAfter time.Duration) string {
	switch {
	case fp != fingerprint:
		return IdemMismatch
	case state == "done":
		return IdemReplay
	case now.Sub(fromMS(updated)) > staleAfter:
		return IdemStale
	default:
		return IdemBusy
	}
}

const qIdemRecord = `SELECT fingerprint, state, status, content_type, location, body, updated_at
	FROM api_idempotency WHERE api_key_id = ? AND idem_key = ?`

// PeekIdempotency reads (keyID, idemKey)'s record without writing: "" when
// there is none, else IdemMismatch, IdemReplay (with the answer), IdemBusy
// or IdemStale. A request that finds none runs with an IdemClaim, which its
// change's own transaction stores.
func (s *Store) PeekIdempotency(ctx context.Context, keyID int64, idemKey, fingerprint string, staleAfter time.Duration) (string, IdemAnswer, error) {
	var fp, st, ctype, loc string
	var status int
	var body []byte
	var updated int64
	err := s.read.QueryRowContext(ctx, qIdemRecord, keyID, idemKey).Scan(&fp, &st, &status, &ctype, &loc, &body, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return "", IdemAnswer{}, nil
	}
	if err != nil {
		return "", IdemAnswer{}, err
	}
	state := idemState(fp, fingerprint, st, updated, s.Now(), staleAfter)
	if state == IdemReplay {
		return state, IdemAnswer{Status: status, ContentType: ctype, Location: loc, Body: body}, nil
	}
	return state, IdemAnswer{}, nil
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
		err := tx.QueryRowContext(ctx, qIdemRecord, keyID, idemKey).Scan(&fp, &st, &status, &ctype, &loc, &body, &updated)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			state = IdemClaimed
			return insertIdemClaim(ctx, tx, IdemClaim{KeyID: keyID, Key: idemKey, Fingerprint: fingerprint})
		case err != nil:
			return err
		}
		switch state = idemState(fp, fingerprint, st, updated, tx.now, staleAfter); state {
		case IdemReplay:
			ans = IdemAnswer{Status: status, ContentType: ctype, Location: loc, Body: body}
		case IdemStale:
			state = IdemClaimed
			_, err = tx.ExecContext(ctx, "UPDATE api_idempotency SET updated_at = ? WHERE api_key_id = ? AND idem_key = ?",
				ms(tx.now), keyID, idemKey)
			return err
		}
		return nil
	})
	return state, ans, err
}

// FinishIdempotency stores the answer of a claimed key: the claim's own row,
// or a new one when the claim was to be taken with a change that was never
// stored (the request was refused first). A record of another request, or
// one already answered, is left as it is.
func (s *Store) FinishIdempotency(ctx context.Context, c IdemClaim, ans IdemAnswer) error {
	return s.withTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_idempotency
			(api_key_id, idem_key, fingerprint, state, status, content_type, location, body, created_at, updated_at)
			VALUES (?, ?, ?, 'done', ?, ?, ?, ?, ?, ?)
			ON CONFLICT (api_key_id, idem_key) DO UPDATE SET state = 'done', status = excluded.status,
				content_type = excluded.content_type, location = excluded.location, body = excluded.body,
				updated_at = excluded.updated_at
			WHERE api_idempotency.state = 'pending' AND api_idempotency.fingerprint = excluded.fingerprint`,
			c.KeyID, c.Key, c.Fingerprint, ans.Status, ans.ContentType, ans.Location, ans.Body, ms(tx.now), ms(tx.now))
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
