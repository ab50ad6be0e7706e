package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrBackupExists means the backup's target file is already there.
var ErrBackupExists = errors.New("backup target already exists")

// Backup writes a consistent copy of the database to path, safely while
// paylinks serves:
//
//  1. VACUUM INTO a new temporary file beside path (mode 0600). It reads one
//     snapshot on its own connection, so writers carry on meanwhile (WAL),
//     and the copy is compact, defragmented and a single file (rollback
//     journal mode: no -wal or -shm belongs to it).
//  2. PRAGMA integrity_check on the copy, read-only.
//  3. fsync the copy, link it to path (which fails if path exists, so a
//     file created meanwhile is never replaced), remove the temporary name,
//     and fsync the directory so the new name survives a crash.
//
// It refuses an existing path with ErrBackupExists, and leaves nothing
// behind on failure. The copy holds every transaction committed before it
// started; it is as secret as the database (password hashes, session ids).
func (s *Store) Backup(ctx context.Context, path string) (err error) {
	path, err = filepath.Abs(path)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%w: %s (choose a new name; backups are never overwritten)", ErrBackupExists, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(path)
	tmpFile, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmp := tmpFile.Name()
	tmpFile.Close()
	defer func() {
		if err != nil {
			os.Remove(tmp)
			os.Remove(tmp + "-journal")
		}
	}()

	// A connection of its own: the read pool is query_only, which VACUUM
	// INTO refuses, and the writer must stay free for requests.
	src, err := sql.Open("sqlite", "file:"+(&url.URL{Path: s.path}).EscapedPath()+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer src.Close()
	src.SetMaxOpenConns(1)
	if _, err := src.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return fmt.Errorf("backup: VACUUM INTO: %w", err)
	}
	if err := src.Close(); err != nil {
		return err
	}
	if err := checkIntegrity(ctx, tmp); err != nil {
		return fmt.Errorf("backup: the copy failed its integrity check, kept nothing: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s appeared while the backup ran", ErrBackupExists, path)
		}
		// Filesystems without hard links: rename, after one more look.
		if _, serr := os.Lstat(path); serr == nil {
			return fmt.Errorf("%w: %s appeared while the backup ran", ErrBackupExists, path)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	} else if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// checkIntegrity opens path read-only and runs PRAGMA integrity_check.
func checkIntegrity(ctx context.Context, path string) error {
	c, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer c.Close()
	rows, err := c.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// syncDir makes a new directory entry durable. Some platforms cannot sync
// a directory; that is not an error there.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		err = nil
	}
	return errors.Join(err, d.Close())
}
