package stablemint

import "testing"

func TestPayableLeavesOutFundCodesButTheClientStillAcceptsThem(t *testing.T) {
	payable := map[string]bool{}
	for _, c := range Currencies() {
		payable[c.Code] = c.Payable()
	}
	for _, code := range []string{"BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW", "XAD"} {
		if !ValidCurrency(code) {
			t.Errorf("%s is no longer accepted: the client's list must not shrink", code)
		}
		if payable[code] {
			t.Errorf("%s is offered for payment", code)
		}
	}
	for _, code := range []string{"XBA", "XBB", "XBC", "XBD", "XTS", "XXX", "XAU", "XAG", "XPD", "XPT", "XDR", "XSU", "XUA"} {
		if _, ok := payable[code]; ok {
			t.Errorf("%s is in the currency table", code)
		}
	}
	for _, code := range []string{"EUR", "USD", "CHF", "CLP", "MXN", "UYU", "JPY", "KWD", "XOF", "XAF", "XCD", "XCG", "XPF"} {
		if !payable[code] {
			t.Errorf("%s is not offered", code)
		}
	}
}
