package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// colKind is how a column's value is written: CSV writes every kind as
// text, XLSX writes each as its own cell type.
type colKind int

const (
	colText   colKind = iota
	colTime           // a UTC instant; empty when unknown
	colAmount         // the link's amount in its currency
	colCount          // a whole number
)

// exportColumn is one column of the links exports, the same in CSV and
// XLSX. Exactly one of text, at and count is set, by kind (none for
// colAmount, which reads the link's amount and currency).
type exportColumn struct {
	name  string
	kind  colKind
	text  func(*db.ExportLink) string
	at    func(*db.ExportLink) time.Time
	count func(*db.ExportLink) int64
}

func textCol(name string, f func(*db.ExportLink) string) exportColumn {
	return exportColumn{name: name, kind: colText, text: f}
}

func timeCol(name string, f func(*db.ExportLink) time.Time) exportColumn {
	return exportColumn{name: name, kind: colTime, at: f}
}

// finishedIf is the link's failed or expired time when its status is st.
func finishedIf(st paylink.Status) func(*db.ExportLink) time.Time {
	return func(l *db.ExportLink) time.Time {
		if l.Status != st {
			return time.Time{}
		}
		return l.FinishedAt
	}
}

// baseColumns are the columns every export has, in order. The first 18
// are the export's columns before issue 18, unchanged, so a sheet that
// reads them by position keeps working; the reconciliation columns follow.
var baseColumns = []exportColumn{
	textCol("id", func(l *db.ExportLink) string { return strconv.FormatInt(l.ID, 10) }),
	textCol("status", func(l *db.ExportLink) string { return string(l.Status) }),
	{name: "amount", kind: colAmount},
	textCol("currency", func(l *db.ExportLink) string { return l.Currency }),
	textCol("customer_id", func(l *db.ExportLink) string { return l.CustomerID }),
	textCol("customer_email", func(l *db.ExportLink) string { return l.CustomerEmail }),
	textCol("country", func(l *db.ExportLink) string { return l.Country }),
	textCol("website_reference", func(l *db.ExportLink) string { return l.WebsiteReference }),
	textCol("stablemint_reference", func(l *db.ExportLink) string { return l.SMReference }),
	textCol("session_id", func(l *db.ExportLink) string { return l.SMSessionID }),
	textCol("deposit_reference", func(l *db.ExportLink) string { return l.DepositReference }),
	timeCol("created_at", func(l *db.ExportLink) time.Time { return l.CreatedAt }),
	timeCol("expires_at", func(l *db.ExportLink) time.Time { return l.ExpiresAt }),
	textCol("created_by", func(l *db.ExportLink) string { return l.CreatedByName }),
	textCol("note", func(l *db.ExportLink) string { return l.Note }),
	textCol("checkout_url", func(l *db.ExportLink) string { return l.CheckoutURL }),
	textCol("paid_after_expiry", func(l *db.ExportLink) string { return boolText(l.PaidAfterExpiry) }),
	textCol("needs_review", func(l *db.ExportLink) string { return boolText(l.NeedsReview) }),
	// Reconciliation (issue 18).
	timeCol("paid_at", func(l *db.ExportLink) time.Time { return l.PaidAt }),
	timeCol("settled_at", func(l *db.ExportLink) time.Time { return l.SettledAt }),
	timeCol("failed_at", finishedIf(paylink.StatusFailed)),
	timeCol("expired_at", finishedIf(paylink.StatusExpired)),
	timeCol("cancelled_at", func(l *db.ExportLink) time.Time { return l.CancelledAt }),
	textCol("cancel_reason", func(l *db.ExportLink) string { return l.CancelReason }),
	textCol("paid_after_cancel", func(l *db.ExportLink) string { return boolText(l.PaidAfterCancel) }),
	{name: "times_emailed", kind: colCount, count: func(l *db.ExportLink) int64 { return int64(l.Emailed) }},
}

// customOther is the column that holds, as a JSON object, the custom
// fields whose names did not get a column of their own (past
// db.MaxExportCustomFields names).
const customOther = "custom_other"

// linkExport is one export's columns: the base ones, one per custom-field
// name present in the selection ("custom.<name>"), custom_other when there
// were too many names, and the KYC ones for admins.
type linkExport struct {
	cols   []exportColumn
	named  map[string]bool // custom-field names with a column
	other  bool            // custom_other is present
	missed int             // links with a custom field no column holds (see note)
}

// newLinkExport lays out the columns. custom are the names found by the
// first pass (db.Store.ExportCustomFieldNames); more: there were others.
func newLinkExport(admin bool, custom []string, more bool) *linkExport {
	x := &linkExport{cols: append([]exportColumn(nil), baseColumns...), named: map[string]bool{}, other: more}
	for _, name := range custom {
		x.named[name] = true
		x.cols = append(x.cols, textCol("custom."+name, func(l *db.ExportLink) string { return l.CustomFields[name] }))
	}
	if more {
		x.cols = append(x.cols, textCol(customOther, x.otherFields))
	}
	if admin {
		for _, f := range kycFields {
			x.cols = append(x.cols, textCol("kyc_"+f.Key, func(l *db.ExportLink) string { return l.KYC[f.Key] }))
		}
	}
	return x
}

func (x *linkExport) header() []string {
	h := make([]string, len(x.cols))
	for i, c := range x.cols {
		h[i] = c.name
	}
	return h
}

// otherFields is custom_other's value: the link's fields without a column.
func (x *linkExport) otherFields(l *db.ExportLink) string {
	rest := map[string]string{}
	for k, v := range l.CustomFields {
		if !x.named[k] {
			rest[k] = v
		}
	}
	if len(rest) == 0 {
		return ""
	}
	b, _ := json.Marshal(rest) // a map of strings always marshals
	return string(b)
}

// check counts a link with a custom field that no column holds: one
// created with a new field name after the first pass read the names (the
// rows are read after it, not in the same snapshot). The export is logged
// with the count; it does not happen with custom_other present.
func (x *linkExport) check(l *db.ExportLink) {
	if x.other || len(l.CustomFields) == 0 {
		return
	}
	for k := range l.CustomFields {
		if !x.named[k] {
			x.missed++
			return
		}
	}
}

// csvRow appends one link's cells, in column order, to row.
func (x *linkExport) csvRow(row []string, l *db.ExportLink) []string {
	x.check(l)
	for _, c := range x.cols {
		switch c.kind {
		case colText:
			row = append(row, c.text(l))
		case colTime:
			row = append(row, timeOrEmpty(c.at(l)))
		case colAmount:
			amt, _ := stablemint.NewAmount(l.AmountMinor, l.Currency)
			row = append(row, amt.String())
		case colCount:
			row = append(row, strconv.FormatInt(c.count(l), 10))
		}
	}
	return row
}

// timeOrEmpty is t in ISO 8601 UTC to the second ("2026-12-05T14:03:00Z"),
// or "" for an unknown time.
func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func boolText(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// logMissed logs the links whose custom field had no column (see check).
func (x *linkExport) logMissed(ctx context.Context, log *slog.Logger) {
	if x.missed > 0 {
		logFrom(ctx, log).Warn("export: links with a custom field named after the export began; its column is missing", "links", x.missed)
	}
}
