package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestAPIKeyHashFileIsMadeOnceAndKeptPrivate(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "paylinks.db")
	first, path, err := apiKeyHashFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 32 || path != filepath.Join(dir, "api-hash.key") {
		t.Fatalf("key of %d bytes at %s", len(first), path)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, err %v; want 0600", fi.Mode().Perm(), err)
	}
	again, _, err := apiKeyHashFile(dbPath)
	if err != nil || !bytes.Equal(again, first) {
		t.Fatalf("second start: %v, same key %v", err, bytes.Equal(again, first))
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := apiKeyHashFile(dbPath); err == nil {
		t.Error("a key file readable by others was accepted")
	}
}
