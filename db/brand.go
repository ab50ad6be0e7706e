package db

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Logo is the merchant's logo as stored: bytes the handler checked, their
// content type and an etag (a hash of the bytes).
type Logo struct {
	ContentType string
	Data        []byte
	ETag        string
	UpdatedAt   time.Time
}

// LogoInfo describes the stored logo without its bytes (pages link to it).
type LogoInfo struct {
	ContentType string
	ETag        string
	Size        int
}

// LogoChange is what a settings save does to the logo: nothing (the zero
// value), remove it, or replace it with Set.
type LogoChange struct {
	Remove bool
	Set    *Logo // ContentType and Data; the etag is computed here
}

// LogoETag is the etag of logo bytes: the first 16 bytes of their SHA-256.
func LogoETag(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// BrandLogo reads the logo; ErrNotFound when there is none.
func (s *Store) BrandLogo(ctx context.Context) (Logo, error) {
	var l Logo
	var at int64
	err := s.read.QueryRowContext(ctx, "SELECT content_type, data, etag, updated_at FROM brand_logo WHERE id = 1").
		Scan(&l.ContentType, &l.Data, &l.ETag, &at)
	if err != nil {
		return Logo{}, mapErr(err)
	}
	l.UpdatedAt = time.UnixMilli(at).UTC()
	return l, nil
}

// BrandLogoInfo describes the logo without reading its bytes; ok is false
// when there is none.
func (s *Store) BrandLogoInfo(ctx context.Context) (info LogoInfo, ok bool, err error) {
	err = s.read.QueryRowContext(ctx, "SELECT content_type, etag, length(data) FROM brand_logo WHERE id = 1").
		Scan(&info.ContentType, &info.ETag, &info.Size)
	if err = mapErr(err); err == ErrNotFound {
		return LogoInfo{}, false, nil
	}
	return info, err == nil, err
}

// SaveSettingsAndLogo replaces the settings and applies the logo change in
// one transaction: the settings change is audited as SaveSettings does
// (action a.Action), and a logo set or removed gets an entry of its own
// (action "settings.logo") saying what, never the bytes.
func (s *Store) SaveSettingsAndLogo(ctx context.Context, st Settings, lc LogoChange, actor int64, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		if err := saveSettings(ctx, tx, st, actor, a); err != nil {
			return err
		}
		la := a
		la.Action, la.Target = "settings.logo", "brand_logo"
		switch {
		case lc.Set != nil:
			etag := LogoETag(lc.Set.Data)
			var actorArg any
			if actor != 0 {
				actorArg = actor
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO brand_logo (id, content_type, data, etag, updated_by, updated_at)
				VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET content_type = excluded.content_type, data = excluded.data,
				etag = excluded.etag, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
				lc.Set.ContentType, lc.Set.Data, etag, actorArg, ms(tx.now)); err != nil {
				return mapErr(err)
			}
			la.Details = fmt.Sprintf("set: %s, %d bytes, sha256 %s…", lc.Set.ContentType, len(lc.Set.Data), etag)
		case lc.Remove:
			res, err := tx.ExecContext(ctx, "DELETE FROM brand_logo WHERE id = 1")
			if err != nil {
				return mapErr(err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil // nothing to remove: nothing to audit
			}
			la.Details = "removed"
		default:
			return nil
		}
		return insertAudit(ctx, tx, la)
	})
}
