package api

import (
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// LinkOf is the one JSON form of a link: the API answers with it, and
// outbound webhooks carry it as their payload's data. The amount is a
// decimal string in the currency's own decimal places, never a number.
func LinkOf(l db.Link) Link {
	out := Link{
		Id: l.ID, Status: LinkStatus(l.Status), Amount: AmountString(l.AmountMinor, l.Currency), Currency: l.Currency,
		Customer:         Customer{Id: l.CustomerID, Email: l.CustomerEmail, Country: l.Country},
		WebsiteReference: l.WebsiteReference,
		CustomFields:     map[string]string{},
		Flags:            LinkFlags{PaidAfterExpiry: l.PaidAfterExpiry, PaidAfterCancel: l.PaidAfterCancel, NeedsReview: l.NeedsReview},
		CreatedAt:        l.CreatedAt.UTC(), UpdatedAt: timeOf(l.UpdatedAt),
		CreatedBy: l.CreatedByName, CreatorId: l.CreatedBy,
		Note: stringOf(l.Note), StablemintReference: stringOf(l.SMReference), LastError: stringOf(l.LastError),
		ExpiresAt: timeOf(l.ExpiresAt), CancelledAt: timeOf(l.CancelledAt), CancelReason: stringOf(l.CancelReason),
		PaidAt: timeOf(l.PaidAt), SettledAt: timeOf(l.SettledAt),
		ReissueOf: idOf(l.ReissueOf), ReissuedAs: idOf(l.ReissuedAs),
	}
	for k, v := range l.CustomFields {
		out.CustomFields[k] = v
	}
	// The checkout URL is offered only while the link can be paid, as the
	// link page offers it.
	if l.Status == paylink.StatusOpen && l.CheckoutURL != "" {
		out.CheckoutUrl = &l.CheckoutURL
	}
	return out
}

// AmountString writes minor units of currency as the API writes amounts:
// "1250.00" for EUR, "1250" for JPY.
func AmountString(minor int64, currency string) string {
	a, err := stablemint.NewAmount(minor, currency)
	if err != nil {
		return ""
	}
	return a.String()
}

func stringOf(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func timeOf(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func idOf(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}
