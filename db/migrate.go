package db

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// Migrate applies, in name order, every *.sql file of fsys not yet recorded
// in schema_migrations, each in its own transaction. It refuses a database
// that records a migration this binary does not have (a newer schema).
// Several processes may migrate one file at once: each migration is
// applied by whichever takes the write lock first, and skipped by the rest.
func (s *Store) Migrate(ctx context.Context, fsys fs.FS) (applied []string, err error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	done, err := s.appliedMigrations(ctx)
	if err != nil {
		return nil, err
	}
	for name := range done {
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("database schema is newer than this binary (it has migration %s); upgrade paylinks", name)
		}
	}
	for _, name := range names {
		if done[name] {
			continue
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return applied, err
		}
		skipped := false
		err = s.withTx(ctx, func(tx *Tx) error {
			// Another process (a second paylinks command on the same file)
			// may have applied it since we looked: check under the lock.
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE name = ?", name).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				skipped = true
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", name, ms(tx.now))
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", name, err)
		}
		if !skipped {
			applied = append(applied, name)
		}
	}
	return applied, nil
}

// PendingMigrations lists files of fsys not yet applied.
func (s *Store) PendingMigrations(ctx context.Context, fsys fs.FS) ([]string, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	done, err := s.appliedMigrations(ctx)
	if err != nil {
		return nil, err
	}
	var pending []string
	for _, n := range names {
		if !done[n] {
			pending = append(pending, n)
		}
	}
	slices.Sort(pending)
	return pending, nil
}

func (s *Store) appliedMigrations(ctx context.Context) (map[string]bool, error) {
	rows, err := s.write.QueryContext(ctx, "SELECT name FROM schema_migrations")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	done := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		done[strings.TrimSpace(n)] = true
	}
	return done, rows.Err()
}
