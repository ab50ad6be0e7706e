package views

import "time"

// AuditPage is the admin view of the audit log: filters in the URL, keyset
// pages, newest first.
type AuditPage struct {
	Layout   Layout
	Action   string // the form's target (this page)
	Filter   AuditFilter
	Actions  []string // known actions, offered while typing
	Outcomes []Option
	Rows     []AuditRow
	Searched bool // a filter is set
	ClearURL string
	// ExportURL downloads every row the filters select as CSV.
	ExportURL string
	// NextURL pages to older rows, PrevURL to newer; empty at either end.
	NextURL, PrevURL string
}

// AuditFilter is what the admin typed; Errors holds messages by field.
type AuditFilter struct {
	Actor   string // email or user id
	Action  string // exact, or a prefix ending in *
	Outcome string
	From    string // 2026-11-25
	To      string // inclusive
	Errors  FieldErrors
}

// AuditRow is one audit entry.
type AuditRow struct {
	ID        int64
	At        time.Time
	When      string // At as views.When shows it to the viewer
	Actor     string // email, or "system" for anonymous or system actions
	ActorID   int64
	Action    string
	Target    string
	Outcome   string
	IP        string
	RequestID string
	Details   string
	Hash      string // short form of the chain hash
}
