// Package migrations holds paylinks' numbered, forward-only SQL migrations.
// Files are applied in name order by db.Migrate; never edit one after it has
// been merged, add a new file instead.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
