package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// apiKeyHashFile loads the key that keys the stored hash of API keys'
// tokens (docs/security.md, API keys) from api-hash.key beside the
// database, making it (32 random bytes, hex, mode 0600) on first start. It
// lives outside the database so that a copy of the database alone cannot
// check a guessed token; losing it makes every API key useless, so back it
// up with session.keys (docs/operations.md).
func apiKeyHashFile(dbPath string) ([]byte, string, error) {
	path := filepath.Join(filepath.Dir(dbPath), "api-hash.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, path, fmt.Errorf("create API key hash file: %w", err)
		}
		if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
			f.Close()
			return nil, path, err
		}
		if err := errors.Join(f.Sync(), f.Close()); err != nil {
			return nil, path, err
		}
		return key, path, nil
	} else if err != nil {
		return nil, path, fmt.Errorf("read API key hash file: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, path, fmt.Errorf("API key hash file %s is readable by others (mode %o); chmod 600 it", path, fi.Mode().Perm())
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 32 {
		return nil, path, fmt.Errorf("API key hash file %s: want 64 hex digits", path)
	}
	return key, path, nil
}
