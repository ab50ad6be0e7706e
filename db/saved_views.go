package db

import (
	"context"
	"strconv"
)

// SavedView is a named search of the links list: its query string (term,
// filters, sort, tab), its owner, and whether an admin shared it.
type SavedView struct {
	ID        int64
	OwnerID   int64
	OwnerName string
	Name      string
	Query     string
	Shared    bool
}

// SavedViews are the views userID sees: their own and the shared ones,
// by name.
func (s *Store) SavedViews(ctx context.Context, userID int64) ([]SavedView, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT v.id, v.owner_id, COALESCE(u.name, ''), v.name, v.query, v.shared
		FROM saved_views v LEFT JOIN users u ON u.id = v.owner_id
		WHERE v.owner_id = ? OR v.shared = 1 ORDER BY v.name COLLATE NOCASE, v.id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SavedView
	for rows.Next() {
		var v SavedView
		if err := rows.Scan(&v.ID, &v.OwnerID, &v.OwnerName, &v.Name, &v.Query, &v.Shared); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// SavedViewByID returns one saved view, or ErrNotFound.
func (s *Store) SavedViewByID(ctx context.Context, id int64) (SavedView, error) {
	var v SavedView
	err := s.read.QueryRowContext(ctx, `SELECT v.id, v.owner_id, COALESCE(u.name, ''), v.name, v.query, v.shared
		FROM saved_views v LEFT JOIN users u ON u.id = v.owner_id WHERE v.id = ?`, id).
		Scan(&v.ID, &v.OwnerID, &v.OwnerName, &v.Name, &v.Query, &v.Shared)
	return v, mapErr(err)
}

// CreateSavedView saves a view for its owner, audited.
func (s *Store) CreateSavedView(ctx context.Context, v SavedView, a AuditEntry) (SavedView, error) {
	err := s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO saved_views (owner_id, name, query, shared, created_at) VALUES (?, ?, ?, 0, ?)`,
			v.OwnerID, v.Name, v.Query, ms(tx.now))
		if err != nil {
			return mapErr(err)
		}
		v.ID, _ = res.LastInsertId()
		a.Target = "saved_view:" + strconv.FormatInt(v.ID, 10)
		return insertAudit(ctx, tx, a)
	})
	return v, err
}

// ShareSavedView shows the view to everyone (shared) or to its owner only,
// audited; ErrNotFound when there is no such view.
func (s *Store) ShareSavedView(ctx context.Context, id int64, shared bool, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE saved_views SET shared = ? WHERE id = ?`, shared, id)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		a.Target = "saved_view:" + strconv.FormatInt(id, 10)
		return insertAudit(ctx, tx, a)
	})
}

// DeleteSavedView deletes ownerID's view, audited; ErrNotFound when they
// own no such view.
func (s *Store) DeleteSavedView(ctx context.Context, id, ownerID int64, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM saved_views WHERE id = ? AND owner_id = ?`, id, ownerID)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		a.Target = "saved_view:" + strconv.FormatInt(id, 10)
		return insertAudit(ctx, tx, a)
	})
}
