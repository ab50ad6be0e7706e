// Package static embeds paylinks' CSS, JavaScript and images. URLs carry a
// content hash, so they can be cached for a year and still change on deploy.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

// FS holds the assets, rooted so that "css/app.css" is a valid name.
//
//go:embed css js img
var FS embed.FS

// Prefix is where the assets are served.
const Prefix = "/static/"

// hashes maps an asset name to the first 12 hex digits of its SHA-256.
var hashes = func() map[string]string {
	m := map[string]string{}
	_ = fs.WalkDir(FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := FS.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m[path] = hex.EncodeToString(sum[:6])
		return nil
	})
	return m
}()

// URL returns the cache-busting URL of an asset, e.g.
// "/static/css/app.css?v=0123456789ab". An unknown name panics at the first
// render in tests rather than shipping a broken link.
func URL(name string) string {
	h, ok := hashes[name]
	if !ok {
		panic("static: no asset " + name)
	}
	return Prefix + name + "?v=" + h
}
