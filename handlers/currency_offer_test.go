package handlers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// The new-link form offers the default currency and the most used ones
// first, then every other currency customers pay in, each once; fund
// codes and units of account are not offered.
func TestNewLinkFormOffersUsedCurrenciesFirstAndNoFundCodes(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	for i, cur := range []string{"USD", "GBP", "USD", "JPY", "USD", "GBP"} {
		_, _, err := e.store.CreateLink(context.Background(), db.NewLink{
			IdempotencyKey: "k-cur-" + itoa(i), CustomerID: "C", CustomerEmail: "c@example.com", Country: "DE",
			AmountMinor: 500, AmountText: "5", Currency: cur, WebsiteReference: "CUR-" + itoa(i),
			SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r",
			CreatedBy: u.ID, AllowDuplicate: true,
		}, db.AuditEntry{Action: "test"})
		if err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser()
	b.login("fin@example.com")
	p := b.get("/links/new")
	sel := p.find("select#currency")
	if first := sel.Find("option").First(); first.AttrOr("value", "x") != "" {
		t.Errorf("the required select's first option is %q, want the empty Choose…", first.Text())
	}
	var top []string
	sel.Find(`optgroup[label="Most used"] option`).Each(func(_ int, o *goquerySelection) { top = append(top, o.AttrOr("value", "")) })
	if got, want := strings.Join(top, " "), "EUR USD GBP JPY"; got != want {
		t.Errorf("most used: %q, want %q (the default first, then by use)", got, want)
	}
	seen := map[string]int{}
	sel.Find("option").Each(func(_ int, o *goquerySelection) { seen[o.AttrOr("value", "")]++ })
	for _, code := range []string{"CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW", "BOV", "XAD"} {
		if seen[code] != 0 {
			t.Errorf("%s is offered", code)
		}
	}
	payable := 0
	for _, c := range stablemint.Currencies() {
		if c.Payable() {
			payable++
			if seen[c.Code] != 1 {
				t.Errorf("%s offered %d times, want once", c.Code, seen[c.Code])
			}
		}
	}
	if n := sel.Find("option").Length(); n != payable+1 {
		t.Errorf("%d options, want %d currencies and Choose…", n, payable)
	}
	if sel.Find(`option[selected]`).AttrOr("value", "") != "EUR" {
		t.Errorf("selected: %q, want the default EUR", sel.Find(`option[selected]`).AttrOr("value", ""))
	}
}
