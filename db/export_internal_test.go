package db

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/paylinks/paylinks/paylink"
)

// TestExportCustomFieldNamesAreThoseOfTheStreamedLinks: the first pass
// names exactly the custom fields of the links StreamExport then streams,
// and StreamExport streams what StreamLinks does, for a plain list,
// filters, a tiered search and a walking one.
func TestExportCustomFieldNamesAreThoseOfTheStreamedLinks(t *testing.T) {
	ctx := context.Background()
	st := OpenTestStore(t)
	u := testUser(t, st)
	fields := []map[string]string{nil, {"order": "1"}, {"region": "EU"}, {"order": "2", "po": "=1+1"}, nil, {"zeta": "z"}}
	for i := range 14 {
		testLink(t, st, u, i, func(l *NewLink) {
			if i%3 == 0 {
				l.CustomerID = "ACME"
			} else if i%3 == 1 {
				l.CustomerID = fmt.Sprintf("ACME-%d", i)
			}
			if i%4 == 0 {
				l.Currency, l.AmountMinor, l.AmountText = "JPY", 100, "100"
			}
			l.CustomFields = fields[i%len(fields)]
		})
	}
	if _, err := st.write.ExecContext(ctx, "UPDATE links SET status = 'open' WHERE id % 2 = 0"); err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int64{exportNamesChunk, 3} { // one statement, and several
		testExportNames(t, st, chunk)
	}
}

// testExportNames checks ExportCustomFieldNames against the streamed
// links, reading chunk link ids per statement.
func testExportNames(t *testing.T, st *Store, chunk int64) {
	ctx := context.Background()
	old := exportNamesChunk
	exportNamesChunk = chunk
	defer func() { exportNamesChunk = old }()
	for _, tc := range []struct {
		name string
		q    LinkQuery
		cap  int
	}{
		{"all", LinkQuery{}, 0},
		{"filters", LinkQuery{Statuses: []paylink.Status{paylink.StatusOpen}, Currency: "EUR"}, 0},
		{"term", LinkQuery{Term: "acme"}, 0},
		{"term and status", LinkQuery{Term: "acme", Statuses: []paylink.Status{paylink.StatusCreating}}, 0},
		{"walking term", LinkQuery{Term: "acme"}, 3},
		{"walking term, amount order", LinkQuery{Term: "acme", Sort: SortAmount, Currency: "JPY"}, 3},
		{"nothing", LinkQuery{Term: "no-such-link"}, 0},
	} {
		t.Run(fmt.Sprintf("%s, %d ids a statement", tc.name, chunk), func(t *testing.T) {
			st.tierCap = tc.cap
			defer func() { st.tierCap = 0 }()
			if tc.cap > 0 {
				if p, err := st.plan(ctx, tc.q, true); err != nil || !p.walk {
					t.Fatalf("want a walking plan: %+v %v", p, err)
				}
			}
			var want []int64
			if err := st.StreamLinks(ctx, tc.q, func(l Link) error { want = append(want, l.ID); return nil }); err != nil {
				t.Fatal(err)
			}
			var got []int64
			keys := map[string]bool{}
			if err := st.StreamExport(ctx, tc.q, func(l ExportLink) error {
				got = append(got, l.ID)
				for k := range l.CustomFields {
					keys[k] = true
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("StreamExport %v, StreamLinks %v", got, want)
			}
			names, more, err := st.ExportCustomFieldNames(ctx, tc.q, 10)
			if err != nil {
				t.Fatal(err)
			}
			if w := slices.Sorted(maps.Keys(keys)); !slices.Equal(names, w) || more {
				t.Fatalf("names %v (more %v), the streamed links have %v", names, more, w)
			}
		})
	}
	names, more, err := st.ExportCustomFieldNames(ctx, LinkQuery{}, 2)
	if err != nil || !slices.Equal(names, []string{"order", "po"}) || !more {
		t.Fatalf("capped at 2: %v %v %v", names, more, err)
	}
}

// TestStreamExportExtras: times emailed counts sent and kept emails only;
// a failed or expired link's time is its status entry's, not a later
// change's, else its last change; other links have none.
func TestStreamExportExtras(t *testing.T) {
	ctx := context.Background()
	st := OpenTestStore(t)
	u := testUser(t, st)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	clock := t0
	st.Now = func() time.Time { return clock }
	emailed := testLink(t, st, u, 1, nil)
	expired := testLink(t, st, u, 2, nil)
	failed := testLink(t, st, u, 3, nil)
	open := testLink(t, st, u, 4, nil)

	for i, finish := range []string{EmailSent, EmailSent, EmailKept, EmailFailed, EmailQueued} {
		if _, _, err := st.QueueEmail(ctx, NewEmail{LinkID: emailed.ID, FromAddr: "a@example.com", ToAddr: "c@example.com",
			Subject: "s", Text: "t", HTML: "h", MessageIDDomain: "example.com", CreatedBy: u}, AuditEntry{Action: "t"}); err != nil {
			t.Fatal(err)
		}
		if finish == EmailQueued {
			continue
		}
		e, err := st.ClaimEmail(ctx, time.Minute, 5)
		if err != nil {
			t.Fatal(i, err)
		}
		switch finish {
		case EmailSent:
			err = st.MarkEmailSent(ctx, e, "250 ok")
		case EmailKept:
			err = st.KeepEmail(ctx, e, []byte("raw"))
		case EmailFailed:
			err = st.FailEmail(ctx, e, "550 no")
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	// expired: by the sweeper at t0+1h, then changed again at t0+2h (a
	// late identifier, say), which must not move its expired time.
	if _, err := st.write.ExecContext(ctx, "UPDATE links SET status = 'open', expires_at = ? WHERE id IN (?, ?)",
		ms(t0), expired.ID, open.ID); err != nil {
		t.Fatal(err)
	}
	clock = t0.Add(time.Hour)
	if _, err := st.write.ExecContext(ctx, "UPDATE links SET expires_at = ? WHERE id = ?", ms(t0.Add(48*time.Hour)), open.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := st.ExpireLinks(ctx, clock, 10); err != nil || n != 1 {
		t.Fatalf("expired %d, %v", n, err)
	}
	// failed with no timeline entry (as seeded links are): its last change.
	if _, err := st.write.ExecContext(ctx, "UPDATE links SET updated_at = ? WHERE id = ?", ms(t0.Add(2*time.Hour)), expired.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.write.ExecContext(ctx, "UPDATE links SET status = 'failed', updated_at = ? WHERE id = ?", ms(t0.Add(3*time.Hour)), failed.ID); err != nil {
		t.Fatal(err)
	}

	got := map[int64]ExportLink{}
	if err := st.StreamExport(ctx, LinkQuery{}, func(l ExportLink) error { got[l.ID] = l; return nil }); err != nil {
		t.Fatal(err)
	}
	if n := got[emailed.ID].Emailed; n != 3 {
		t.Errorf("emailed %d times, want 3 (2 sent, 1 kept)", n)
	}
	if n := got[open.ID].Emailed; n != 0 {
		t.Errorf("never emailed, counted %d", n)
	}
	if at := got[expired.ID].FinishedAt; !at.Equal(t0.Add(time.Hour)) {
		t.Errorf("expired at %v, want the sweep's %v", at, t0.Add(time.Hour))
	}
	if at := got[failed.ID].FinishedAt; !at.Equal(t0.Add(3 * time.Hour)) {
		t.Errorf("failed at %v, want its last change %v", at, t0.Add(3*time.Hour))
	}
	if at := got[open.ID].FinishedAt; !at.IsZero() {
		t.Errorf("an open link has a finished time %v", at)
	}
}

// TestStreamExportReadsWhatTheExportWrites: an export reads its own
// columns (exportCols), not the whole row; every field it writes is the
// link's as LinkByID reads it, for links that set each of them, and with
// a term and the order the list shows (the other path through fetch).
func TestStreamExportReadsWhatTheExportWrites(t *testing.T) {
	ctx := context.Background()
	st := OpenTestStore(t)
	u := testUser(t, st)
	plain := testLink(t, st, u, 1, nil)
	full := testLink(t, st, u, 2, func(nl *NewLink) {
		nl.Note = "March invoice, \"net 30\""
		nl.CustomFields = map[string]string{"po": "PO-7", "region": "north"}
		nl.KYC = map[string]string{"firstName": "Ada"}
		nl.Currency, nl.AmountMinor, nl.AmountText = "GBP", 123456, "1234.56"
	})
	at := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	if _, err := st.write.ExecContext(ctx, `UPDATE links SET status = 'paid', sm_reference = 'SM-2', checkout_url = 'https://pay/2',
		expires_at = ?, sm_session_id = 'sess-2', deposit_reference = 'DEP-2', paid_after_expiry = 1, needs_review = 1,
		cancelled_at = ?, cancel_reason = 'Paid by bank transfer', paid_after_cancel = 1, paid_at = ?, settled_at = ?,
		last_error = 'x', attempts = 3 WHERE id = ?`, ms(at), ms(at.Add(time.Hour)), ms(at.Add(2*time.Hour)), ms(at.Add(3*time.Hour)), full.ID); err != nil {
		t.Fatal(err)
	}
	for _, q := range []LinkQuery{{}, {Term: "c@example.com"}, {Sort: SortAmount}} {
		got := map[int64]Link{}
		if err := st.StreamExport(ctx, q, func(l ExportLink) error { got[l.ID] = l.Link; return nil }); err != nil {
			t.Fatal(err)
		}
		for _, id := range []int64{plain.ID, full.ID} {
			want, err := st.LinkByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			// What no export column shows is not read.
			want.IdempotencyKey, want.FormToken, want.LastError, want.Attempts = "", "", "", 0
			want.SuccessURL, want.SupportURL, want.ExitURL, want.ErrorURL = "", "", "", ""
			want.ReissueOf, want.ReissuedAs, want.HeldCheckoutURL, want.HeldCheckoutHost, want.CancelledByName = 0, 0, "", "", ""
			if !reflect.DeepEqual(got[id], want) {
				t.Errorf("%+v: link %d exported as\n%+v\nwant\n%+v", q, id, got[id], want)
			}
		}
	}
}
