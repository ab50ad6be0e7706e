package db

import (
	"context"
	"errors"
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
		run := s.withTx
		if strings.HasPrefix(string(body), foreignKeysOff) {
			run = s.withTxForeignKeysOff
		}
		err = run(ctx, func(tx *Tx) error {
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

// foreignKeysOff is the first line of a migration that rebuilds a table
// other tables refer to (SQLite's twelve-step procedure): it runs with
// foreign keys off, so dropping the old table neither fails nor cascades,
// and every foreign key is checked before it commits.
const foreignKeysOff = "-- migrate: foreign_keys off\n"

// withTxForeignKeysOff is withTx with foreign key enforcement off on the
// writer's connection for the transaction, which PRAGMA foreign_key_check
// must find clean before the commit. The pragma cannot change inside a
// transaction, so it is set on the writer's one connection around it, and
// set back on before the connection returns to the pool.
func (s *Store) withTxForeignKeysOff(ctx context.Context, fn func(*Tx) error) error {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON")
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer sqlTx.Rollback()
	tx := &Tx{Tx: sqlTx, now: s.Now().UTC()}
	if err := fn(tx); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	broken := rows.Next()
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	if broken {
		return errors.New("a foreign key no longer holds after the rebuild; nothing was changed")
	}
	return mapErr(sqlTx.Commit())
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
