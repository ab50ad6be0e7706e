package handlers

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/gob"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/paylinks/paylinks/db"
)

// rowKey keeps the loaded row in a session's Values for the request; it is
// never persisted.
type rowKey struct{}

// dbStore is a gorilla/sessions Store whose sessions live in SQLite. The
// cookie carries only the session id, signed (HMAC-SHA256) and encrypted
// (AES-256) by securecookie; everything else is in the row, so deleting the
// row ends the session wherever its cookie was copied.
type dbStore struct {
	db     Store
	codecs []securecookie.Codec
	opts   sessions.Options
}

// newDBStore builds the store. keyPairs are (hash key, block key) pairs,
// newest first; older pairs only decode, for rotation.
func newDBStore(st Store, opts sessions.Options, keyPairs ...[]byte) *dbStore {
	codecs := securecookie.CodecsFromPairs(keyPairs...)
	for _, c := range codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(opts.MaxAge)
		}
	}
	return &dbStore{db: st, codecs: codecs, opts: opts}
}

// Get returns the request's cached session.
func (s *dbStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the cookie. A missing, tampered, expired
// or revoked cookie yields a new, empty session and no error: the visitor is
// simply signed out.
func (s *dbStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := s.opts
	sess.Options = &opts
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	var id string
	if err := securecookie.DecodeMulti(name, c.Value, &id, s.codecs...); err != nil {
		return sess, nil
	}
	row, err := s.db.SessionByID(r.Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return sess, nil
	}
	if err != nil {
		return sess, err
	}
	if len(row.Data) > 0 {
		if err := gob.NewDecoder(bytes.NewReader(row.Data)).Decode(&sess.Values); err != nil {
			sess.Values = map[any]any{}
		}
	}
	sess.ID = row.ID
	sess.Values[rowKey{}] = row
	sess.IsNew = false
	return sess, nil
}

// Save persists Values (flashes) for an existing session, or deletes the
// session and its cookie when Options.MaxAge < 0. Sessions are created only
// by signing in (createSession), never here.
func (s *dbStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if err := s.db.DeleteSession(r.Context(), sess.ID, nil); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	if sess.ID == "" {
		return nil
	}
	vals := make(map[any]any, len(sess.Values))
	for k, v := range sess.Values {
		if _, skip := k.(rowKey); !skip {
			vals[k] = v
		}
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(vals); err != nil {
		return err
	}
	return s.db.SaveSessionData(r.Context(), sess.ID, buf.Bytes())
}

// cookie returns the Set-Cookie for session id.
func (s *dbStore) cookie(name, id string) (*http.Cookie, error) {
	v, err := securecookie.EncodeMulti(name, id, s.codecs...)
	if err != nil {
		return nil, err
	}
	return sessions.NewCookie(name, v, &s.opts), nil
}

// randomToken returns 256 random bits, base64url without padding.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionRow returns the row loaded for a session, if any.
func sessionRow(sess *sessions.Session) (db.Session, bool) {
	row, ok := sess.Values[rowKey{}].(db.Session)
	return row, ok
}

// expired reports whether a session passed its idle or absolute limit.
func expired(row db.Session, now time.Time, idle, absolute time.Duration) bool {
	return now.Sub(row.LastSeenAt) > idle || now.Sub(row.CreatedAt) > absolute
}
