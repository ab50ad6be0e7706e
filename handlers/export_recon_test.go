package handlers_test

import (
	"context"
	"encoding/csv"
	"maps"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// reconLinks makes a reconciliation mix through the store: several
// currencies (JPY and KWD among them), every finished status, custom
// fields (one formula-looking), emails sent, kept and failed. It returns
// the links by a name.
func reconLinks(t *testing.T, e *env, user int64) map[string]db.Link {
	t.Helper()
	ctx := context.Background()
	out := map[string]db.Link{}
	mk := func(name string, minor int64, cur string, custom map[string]string) db.Link {
		e.clock.Advance(time.Minute)
		l, _, err := e.store.CreateLink(ctx, db.NewLink{
			IdempotencyKey: "k-" + name, CustomerID: "REC-" + name, CustomerEmail: name + "@example.com", Country: "DE",
			AmountMinor: minor, AmountText: "x", Currency: cur, WebsiteReference: "REC-" + name, CustomFields: custom,
			SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r",
			CreatedBy: user, AllowDuplicate: true,
		}, db.AuditEntry{Action: "test"})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = l
		return l
	}
	move := func(name string, st paylink.Status) {
		e.clock.Advance(time.Minute)
		setStatus(t, e, out[name].ID, st)
	}
	mk("eur-paid", 1050, "EUR", map[string]string{"order": "O-1", "region": "EU"})
	mk("eur-settled", 99999, "EUR", map[string]string{"order": "O-2"})
	mk("eur-open", 1, "EUR", nil)
	mk("jpy-paid", 1250, "JPY", map[string]string{"po": "=SUM(A1:A9)"})
	mk("jpy-settled", 7, "JPY", nil)
	mk("kwd-paid", 1234, "KWD", map[string]string{"region": "GCC"})
	mk("kwd-failed", 5, "KWD", nil)
	mk("usd-cancelled", 2000, "USD", nil)
	mk("usd-expired", 300, "USD", nil)
	move("eur-paid", paylink.StatusPaid)
	move("eur-settled", paylink.StatusPaid)
	move("eur-settled", paylink.StatusSettled)
	move("eur-open", paylink.StatusOpen)
	move("jpy-paid", paylink.StatusPaid)
	move("jpy-settled", paylink.StatusSettled)
	move("kwd-paid", paylink.StatusPaid)
	move("kwd-failed", paylink.StatusFailed)
	move("usd-cancelled", paylink.StatusOpen)
	e.clock.Advance(time.Minute)
	if _, err := e.store.CancelLink(ctx, out["usd-cancelled"].ID, user, "Paid another way", db.AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	// Expired by the sweeper (a timeline entry at its time).
	if _, err := openRaw(t, e.store).Exec("UPDATE links SET status = 'open', expires_at = ? WHERE id = ?",
		e.clock.Now().UnixMilli(), out["usd-expired"].ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if n, err := e.store.ExpireLinks(ctx, e.clock.Now(), 10); err != nil || n != 1 {
		t.Fatalf("expired %d: %v", n, err)
	}
	// eur-paid: emailed twice (sent, kept), and once more in vain (failed).
	for _, finish := range []string{db.EmailSent, db.EmailKept, db.EmailFailed} {
		if _, _, err := e.store.QueueEmail(ctx, db.NewEmail{LinkID: out["eur-paid"].ID, FromAddr: "pay@example.com",
			ToAddr: "eur-paid@example.com", Subject: "s", Text: "t", HTML: "h", MessageIDDomain: "example.com", CreatedBy: user},
			db.AuditEntry{Action: "test"}); err != nil {
			t.Fatal(err)
		}
		m, err := e.store.ClaimEmail(ctx, time.Minute, 5)
		if err != nil {
			t.Fatal(err)
		}
		switch finish {
		case db.EmailSent:
			err = e.store.MarkEmailSent(ctx, m, "250 ok")
		case db.EmailKept:
			err = e.store.KeepEmail(ctx, m, []byte("raw"))
		default:
			err = e.store.FailEmail(ctx, m, "550 no")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for name, l := range out { // read back: paid, settled, cancelled times
		got, err := e.store.LinkByID(ctx, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = got
	}
	return out
}

// columns maps a header row's names to their indexes.
func columns(header []string) map[string]int {
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	return col
}

func TestExportCSVReconciliationColumnsRoundTrip(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	links := reconLinks(t, e, u.ID)
	seedLinks(t, e, u.ID, "OTHER") // no custom fields
	b := e.browser()
	b.login("fin@example.com")
	p := b.get("/links/export.csv")
	if p.status() != http.StatusOK {
		t.Fatalf("export: %d", p.status())
	}
	rows, err := csv.NewReader(strings.NewReader(p.body)).ReadAll() // every row as long as the header
	if err != nil {
		t.Fatalf("not RFC 4180: %v", err)
	}
	if len(rows) != len(links)+2 {
		t.Fatalf("%d rows for %d links", len(rows)-1, len(links)+1)
	}
	col := columns(rows[0])
	for _, h := range []string{"created_at", "paid_at", "settled_at", "failed_at", "expired_at", "cancelled_at", "cancel_reason",
		"paid_after_cancel", "created_by", "times_emailed", "custom.order", "custom.po", "custom.region"} {
		if _, ok := col[h]; !ok {
			t.Fatalf("no %s column in %v", h, rows[0])
		}
	}
	if got := slices.DeleteFunc(slices.Clone(rows[0]), func(h string) bool { return !strings.HasPrefix(h, "custom.") }); !slices.Equal(got,
		[]string{"custom.order", "custom.po", "custom.region"}) {
		t.Errorf("custom columns %v: one per name present, in name order", got)
	}
	byRef := map[string][]string{}
	for _, r := range rows[1:] {
		byRef[r[col["website_reference"]]] = r
	}
	at := func(r []string, name string) time.Time {
		t.Helper()
		v := r[col[name]]
		if v == "" {
			return time.Time{}
		}
		ts, err := time.Parse(time.RFC3339, v)
		if err != nil || !strings.HasSuffix(v, "Z") {
			t.Fatalf("%s %q is not ISO 8601 UTC: %v", name, v, err)
		}
		return ts
	}
	for name, l := range links {
		r := byRef["REC-"+name]
		if r == nil {
			t.Fatalf("%s missing", name)
		}
		for _, c := range []struct {
			col  string
			want time.Time
		}{{"created_at", l.CreatedAt}, {"paid_at", l.PaidAt}, {"settled_at", l.SettledAt}, {"cancelled_at", l.CancelledAt}} {
			if got := at(r, c.col); !got.Equal(c.want.Truncate(time.Second)) {
				t.Errorf("%s %s = %v, want %v", name, c.col, got, c.want)
			}
		}
		for _, h := range []string{"failed_at", "expired_at"} {
			st := strings.TrimSuffix(h, "_at")
			if got := at(r, h); (string(l.Status) == st) != !got.IsZero() {
				t.Errorf("%s (%s) has %s %v", name, l.Status, h, got)
			}
		}
		if got := r[col["created_by"]]; got == "" || got != l.CreatedByName {
			t.Errorf("%s created_by %q", name, got)
		}
		for _, k := range []string{"order", "po", "region"} {
			want := l.CustomFields[k]
			if strings.HasPrefix(want, "=") {
				want = "'" + want
			}
			if got := r[col["custom."+k]]; got != want {
				t.Errorf("%s custom.%s = %q, want %q", name, k, got, want)
			}
		}
	}
	if got := byRef["REC-jpy-paid"][col["custom.po"]]; got != "'=SUM(A1:A9)" {
		t.Errorf("a formula-looking custom value is not escaped: %q", got)
	}
	if r := byRef["REC-usd-cancelled"]; r[col["cancel_reason"]] != "Paid another way" || r[col["paid_after_cancel"]] != "no" || r[col["status"]] != "cancelled" {
		t.Errorf("cancelled row %v", r)
	}
	if got := byRef["REC-eur-paid"][col["times_emailed"]]; got != "2" {
		t.Errorf("eur-paid emailed %q times, want 2 (sent and kept; the failed one is not counted)", got)
	}
	if got := byRef["REC-eur-open"][col["times_emailed"]]; got != "0" {
		t.Errorf("eur-open emailed %q times", got)
	}
	if r := byRef["REC-usd-expired"]; at(r, "expired_at").IsZero() || !at(r, "failed_at").IsZero() {
		t.Errorf("expired row: expired_at %q failed_at %q", r[col["expired_at"]], r[col["failed_at"]])
	}
	if r := byRef["REC-kwd-failed"]; at(r, "failed_at").IsZero() || r[col["amount"]] != "0.005" {
		t.Errorf("failed row: failed_at %q amount %q", r[col["failed_at"]], r[col["amount"]])
	}

	// A search narrows the custom columns to the names its links have.
	p = b.get("/links/export.csv?q=REC-kwd")
	rows, err = csv.NewReader(strings.NewReader(p.body)).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("search export: %d rows, %v", len(rows), err)
	}
	if got := slices.DeleteFunc(slices.Clone(rows[0]), func(h string) bool { return !strings.HasPrefix(h, "custom.") }); !slices.Equal(got, []string{"custom.region"}) {
		t.Errorf("search export custom columns %v", got)
	}
}

// rawCell is a cell's stored value, unformatted.
func rawCell(t *testing.T, f *excelize.File, sheet string, col, row int) string {
	t.Helper()
	ref, _ := excelize.CoordinatesToCellName(col, row)
	v, err := f.GetCellValue(sheet, ref, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// numberCell reports whether a cell holds a number (a date is a number in
// a date format), not text.
func numberCell(t *testing.T, f *excelize.File, sheet string, col, row int) bool {
	t.Helper()
	ref, _ := excelize.CoordinatesToCellName(col, row)
	typ, err := f.GetCellType(sheet, ref)
	if err != nil {
		t.Fatal(err)
	}
	return typ == excelize.CellTypeUnset || typ == excelize.CellTypeNumber
}

// numFmt is the number format of a cell's style, built in or custom.
func numFmt(t *testing.T, f *excelize.File, sheet string, col, row int) (int, string) {
	t.Helper()
	ref, _ := excelize.CoordinatesToCellName(col, row)
	id, err := f.GetCellStyle(sheet, ref)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.GetStyle(id)
	if err != nil {
		t.Fatal(err)
	}
	custom := ""
	if st.CustomNumFmt != nil {
		custom = *st.CustomNumFmt
	}
	return st.NumFmt, custom
}

// minorUnits reads a number cell's value as exact minor units of cur.
func minorUnits(t *testing.T, v, cur string) int64 {
	t.Helper()
	exp, _ := stablemint.CurrencyExponent(cur)
	r, ok := new(big.Rat).SetString(v)
	if !ok {
		t.Fatalf("amount %q is not a number", v)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)))
	if !r.IsInt() {
		t.Fatalf("amount %q has more than %d decimals", v, exp)
	}
	return r.Num().Int64()
}

// TestExportXLSXSumsMatchTheDatabase: the Links sheet's amounts are
// numbers in their currency's format and sum, per currency, to what the
// database sums; times are date cells; the Totals sheet agrees with the
// database per currency and status.
func TestExportXLSXSumsMatchTheDatabase(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	links := reconLinks(t, e, u.ID)
	b := e.browser()
	b.login("fin@example.com")
	x := b.get("/links/export.xlsx")
	if x.status() != http.StatusOK {
		t.Fatalf("xlsx: %d", x.status())
	}
	f, err := excelize.OpenReader(strings.NewReader(x.body))
	if err != nil {
		t.Fatalf("not a workbook: %v", err)
	}
	if sheets := f.GetSheetList(); !slices.Equal(sheets, []string{"Links", "Totals"}) {
		t.Fatalf("sheets %v", sheets)
	}
	rows, err := f.GetRows("Links")
	if err != nil {
		t.Fatal(err)
	}
	col := columns(rows[0])
	amountCol, curCol := col["amount"]+1, col["currency"]+1
	formats := map[string]string{"EUR": "#,##0.00", "USD": "#,##0.00", "JPY": "#,##0", "KWD": "#,##0.000"}
	sums := map[string]int64{}
	for r := 2; r <= len(rows); r++ {
		cur := rawCell(t, f, "Links", curCol, r)
		if !numberCell(t, f, "Links", amountCol, r) {
			t.Fatalf("row %d (%s): the amount is not a number cell", r, cur)
		}
		if _, got := numFmt(t, f, "Links", amountCol, r); got != formats[cur] {
			t.Errorf("%s amount format %q, want %q", cur, got, formats[cur])
		}
		sums[cur] += minorUnits(t, rawCell(t, f, "Links", amountCol, r), cur)
		// Times are numbers in a date-time format.
		if v := rawCell(t, f, "Links", col["created_at"]+1, r); v == "" {
			t.Fatalf("row %d has no created_at", r)
		}
		for _, h := range []string{"created_at", "paid_at", "settled_at", "failed_at", "expired_at", "cancelled_at"} {
			v := rawCell(t, f, "Links", col[h]+1, r)
			if v == "" {
				continue
			}
			if _, err := strconv.ParseFloat(v, 64); err != nil || !numberCell(t, f, "Links", col[h]+1, r) {
				t.Fatalf("%s row %d = %q is not a date serial", h, r, v)
			}
			if _, got := numFmt(t, f, "Links", col[h]+1, r); got != "yyyy-mm-dd hh:mm:ss" {
				t.Errorf("%s row %d format %q", h, r, got)
			}
		}
	}
	raw := openRaw(t, e.store)
	dbRows, err := raw.Query("SELECT currency, sum(amount_minor) FROM links GROUP BY currency")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for dbRows.Next() {
		var cur string
		var sum int64
		if err := dbRows.Scan(&cur, &sum); err != nil {
			t.Fatal(err)
		}
		want[cur] = sum
	}
	dbRows.Close()
	if len(want) != 4 || !maps.Equal(sums, want) {
		t.Fatalf("the sheet sums %v, the database %v", sums, want)
	}

	// Date cells hold the link's instants (UTC) to the millisecond.
	for name, l := range links {
		var r int
		for i, row := range rows {
			if len(row) > col["website_reference"] && row[col["website_reference"]] == "REC-"+name {
				r = i + 1
			}
		}
		for h, want := range map[string]time.Time{"created_at": l.CreatedAt, "paid_at": l.PaidAt, "settled_at": l.SettledAt, "cancelled_at": l.CancelledAt} {
			v := rawCell(t, f, "Links", col[h]+1, r)
			if want.IsZero() {
				if v != "" {
					t.Errorf("%s %s = %q, want empty", name, h, v)
				}
				continue
			}
			serial, _ := strconv.ParseFloat(v, 64)
			got, err := excelize.ExcelDateToTime(serial, false)
			if d := got.Sub(want); err != nil || d > time.Millisecond || d < -time.Millisecond {
				t.Errorf("%s %s = %v, want %v", name, h, got, want)
			}
		}
		if n := rawCell(t, f, "Links", col["times_emailed"]+1, r); (name == "eur-paid") != (n == "2") {
			t.Errorf("%s times_emailed %q", name, n)
		}
	}

	// Totals: one row per currency and status, count and amount.
	trows, err := f.GetRows("Totals")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(trows[0], []string{"currency", "status", "count", "amount"}) {
		t.Fatalf("totals header %v", trows[0])
	}
	type key struct{ cur, status string }
	type tot struct{ n, minor int64 }
	got := map[key]tot{}
	for r := 2; r <= len(trows); r++ {
		cur := rawCell(t, f, "Totals", 1, r)
		n, err := strconv.ParseInt(rawCell(t, f, "Totals", 3, r), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if _, format := numFmt(t, f, "Totals", 4, r); format != formats[cur] {
			t.Errorf("totals %s format %q", cur, format)
		}
		got[key{cur, rawCell(t, f, "Totals", 2, r)}] = tot{n, minorUnits(t, rawCell(t, f, "Totals", 4, r), cur)}
	}
	dbRows, err = raw.Query("SELECT currency, status, count(*), sum(amount_minor) FROM links GROUP BY currency, status")
	if err != nil {
		t.Fatal(err)
	}
	defer dbRows.Close()
	wantTot := map[key]tot{}
	for dbRows.Next() {
		var k key
		var v tot
		if err := dbRows.Scan(&k.cur, &k.status, &v.n, &v.minor); err != nil {
			t.Fatal(err)
		}
		wantTot[k] = v
	}
	if !maps.Equal(got, wantTot) {
		t.Fatalf("totals sheet %v, database %v", got, wantTot)
	}
}
